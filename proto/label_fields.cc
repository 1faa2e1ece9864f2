#include "proto/label_fields.h"

#include "proto/varint.h"
#include "proto/write_request.h"

namespace kad::proto {
namespace {

constexpr char kLabelTag = 0x0a;  // TimeSeries.labels and Label.name: field 1, bytes
constexpr char kValueTag = 0x12;  // Label.value: field 2, bytes

size_t StringFieldSize(std::string_view s) {
  return s.empty() ? 0 : 1 + VarintSize(s.size()) + s.size();
}

size_t LabelMessageSize(std::string_view name, std::string_view value) {
  return StringFieldSize(name) + StringFieldSize(value);
}

void AppendStringField(char tag, std::string_view s, std::string* out) {
  if (s.empty()) return;
  out->push_back(tag);
  AppendVarint(s.size(), out);
  out->append(s);
}

}  // namespace

size_t LabelFieldSize(std::string_view name, std::string_view value) {
  const size_t message = LabelMessageSize(name, value);
  return 1 + VarintSize(message) + message;
}

void AppendLabelField(std::string_view name, std::string_view value, std::string* out) {
  out->push_back(kLabelTag);
  AppendVarint(LabelMessageSize(name, value), out);
  AppendStringField(kLabelTag, name, out);
  AppendStringField(kValueTag, value, out);
}

bool NextLabelField(std::string_view* fields, std::string_view* name, std::string_view* value) {
  std::string_view message;
  if (fields->empty() || (*fields)[0] != kLabelTag) return false;
  fields->remove_prefix(1);
  if (!ReadLengthPrefixed(fields, &message)) return false;
  *name = {};
  *value = {};
  if (!message.empty() && message[0] == kLabelTag) {
    message.remove_prefix(1);
    if (!ReadLengthPrefixed(&message, name)) return false;
  }
  if (!message.empty() && message[0] == kValueTag) {
    message.remove_prefix(1);
    if (!ReadLengthPrefixed(&message, value)) return false;
  }
  return message.empty();
}

void EncodeMissingLabelFields(WriteRequestView* view) {
  // Sized first: the views into label_field_bytes must not move.
  size_t bytes = 0;
  for (const SeriesView& s : view->series) {
    if (s.label_fields.data() != nullptr) continue;
    for (const LabelView& l : view->LabelsOf(s)) bytes += LabelFieldSize(l.name, l.value);
  }
  std::string& out = view->label_field_bytes;
  out.clear();
  out.reserve(bytes);
  for (SeriesView& s : view->series) {
    if (s.label_fields.data() != nullptr) continue;
    const size_t begin = out.size();
    for (const LabelView& l : view->LabelsOf(s)) AppendLabelField(l.name, l.value, &out);
    s.label_fields = std::string_view(out).substr(begin);
    s.label_hash = HashLabelFields(s.label_fields);
  }
}

}  // namespace kad::proto
