#include "adapter/labels.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "adapter/absl_view.h"
#include "proto/label_fields.h"
#include "proto/varint.h"

namespace kad::adapter {
namespace {

bool IsValidLabelName(std::string_view name) {
  if (name.empty()) return false;
  auto is_start = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  };
  if (!is_start(name[0])) return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [&](char c) { return is_start(c) || (c >= '0' && c <= '9'); });
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past
// U+10FFFF — the same set Go's utf8.ValidString accepts.
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int extra;
    uint32_t cp;
    uint32_t min;
    if ((c & 0xe0) == 0xc0) {
      extra = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (s.size() - i <= static_cast<size_t>(extra)) return false;
    for (int k = 1; k <= extra; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

// The labels `next` reads one by one from the front of `bytes`; `what`
// (and how many labels were read) when it fails before the end.
// One label of EncodeLabels' bytes.
bool NextEncodedLabel(std::string_view* in, std::string_view* name, std::string_view* value) {
  return proto::ReadLengthPrefixed(in, name) && proto::ReadLengthPrefixed(in, value);
}

template <typename Next>
absl::StatusOr<Labels> ReadLabels(std::string_view bytes, std::string_view what, Next next) {
  Labels labels;
  std::string_view name;
  std::string_view value;
  while (!bytes.empty()) {
    if (!next(&bytes, &name, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(AbslView(what), " after ", labels.size(), " labels"));
    }
    labels.push_back({std::string(name), std::string(value)});
  }
  return labels;
}

}  // namespace

std::string_view GetLabel(const Labels& labels, std::string_view name) {
  auto it = std::lower_bound(labels.begin(), labels.end(), name,
                             [](const Label& l, std::string_view n) { return l.name < n; });
  if (it == labels.end() || it->name != name) return {};
  return it->value;
}

void SortLabels(Labels* labels) {
  std::sort(labels->begin(), labels->end(),
            [](const Label& a, const Label& b) { return a.name < b.name; });
}

std::string EncodeLabels(const Labels& labels) {
  std::string out;
  for (const Label& l : labels) {
    proto::AppendVarint(l.name.size(), &out);
    out += l.name;
    proto::AppendVarint(l.value.size(), &out);
    out += l.value;
  }
  return out;
}

absl::StatusOr<Labels> DecodeLabels(std::string_view bytes) {
  return ReadLabels(bytes, "corrupt label encoding: truncated or malformed", NextEncodedLabel);
}

void LabelsView::Iterator::Next() {
  done_ = !NextEncodedLabel(&rest_, &label_.name, &label_.value);
}

bool LabelsView::Valid(std::string_view encoded) {
  LabelView l;
  while (!encoded.empty()) {
    if (!NextEncodedLabel(&encoded, &l.name, &l.value)) return false;
  }
  return true;
}

std::string_view LabelsView::Get(std::string_view name) const {
  for (const LabelView l : *this) {
    if (l.name == name) return l.value;
  }
  return {};
}

Labels LabelsView::ToLabels() const {
  Labels labels;
  for (const LabelView l : *this) labels.push_back({std::string(l.name), std::string(l.value)});
  return labels;
}

std::string LabelFields(const Labels& labels) {
  std::string out;
  for (const Label& l : labels) proto::AppendLabelField(l.name, l.value, &out);
  return out;
}

absl::StatusOr<Labels> LabelsOfFields(std::string_view fields) {
  return ReadLabels(fields, "malformed label fields", proto::NextLabelField);
}

std::string_view GetLabelField(std::string_view fields, std::string_view name) {
  std::string_view n;
  std::string_view v;
  while (proto::NextLabelField(&fields, &n, &v)) {
    if (n == name) return v;
  }
  return {};
}

absl::Status ValidateLabels(const Labels& labels) {
  for (size_t i = 0; i < labels.size(); ++i) {
    const Label& l = labels[i];
    if (!IsValidLabelName(l.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid label name \"", l.name, "\": must match [a-zA-Z_][a-zA-Z0-9_]*"));
    }
    if (l.value.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("label ", l.name, " has an empty value"));
    }
    if (!IsValidUtf8(l.value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("label ", l.name, " has a value that is not UTF-8"));
    }
    if (i > 0 && labels[i - 1].name >= l.name) {
      return absl::InvalidArgumentError(absl::StrCat(
          "labels not sorted or not unique: ", labels[i - 1].name, " is followed by ", l.name));
    }
  }
  return absl::OkStatus();
}

}  // namespace kad::adapter
