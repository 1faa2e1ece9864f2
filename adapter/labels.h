// Series labels: a sorted label set, its storage encoding and its validation.
//
//   Labels l = {{"__name__", "up"}, {"job", "node"}};   // sorted by name
//   GetLabel(l, "job") == "node";  GetLabel(l, "missing") == "";
//   std::string key = EncodeLabels(l);                    // RocksDB key part
//
// Plain values and free functions; thread-compatible like any std::vector.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kad::adapter {

struct Label {
  std::string name;
  std::string value;
  friend bool operator==(const Label&, const Label&) = default;
};

// Sorted by name, names unique.
using Labels = std::vector<Label>;

// The value of `name`, or "" when the label is missing (Prometheus semantics:
// a missing label and an empty one are the same thing). Binary search, so
// `labels` must be sorted.
std::string_view GetLabel(const Labels& labels, std::string_view name);

void SortLabels(Labels* labels);

// Compact binary encoding for storage: for each label in order,
// varint(name size) name varint(value size) value. Decoding gives back the
// same labels in the same order. DecodeLabels rejects truncated or
// malformed bytes with InvalidArgument.
std::string EncodeLabels(const Labels& labels);
absl::StatusOr<Labels> DecodeLabels(std::string_view bytes);

// EncodeLabels' bytes read in place, without a string per name and value:
// how a forecast series keeps its labels (a third of the memory of Labels).
//
//   const LabelsView view(series.encoded_labels);
//   for (const LabelView l : view) use(l.name, l.value);
//   view.Get("job");                  // GetLabel() on the bytes
//
// Made only of well-formed bytes (EncodeLabels' own, or checked by Valid());
// it holds a view, so the bytes must outlive it.
struct LabelView {
  std::string_view name;
  std::string_view value;
};
class LabelsView {
 public:
  class Iterator {
   public:
    explicit Iterator(std::string_view rest) : rest_(rest) { Next(); }
    const LabelView& operator*() const { return label_; }
    const LabelView* operator->() const { return &label_; }
    Iterator& operator++() {
      Next();
      return *this;
    }
    // Iterators are equal only at the end: all a range-for asks.
    bool operator==(const Iterator& other) const { return done_ && other.done_; }

   private:
    void Next();

    std::string_view rest_;
    LabelView label_;
    bool done_ = false;
  };

  explicit LabelsView(std::string_view encoded) : encoded_(encoded) {}
  // Whether `encoded` is whole labels, as DecodeLabels would accept it.
  static bool Valid(std::string_view encoded);

  Iterator begin() const { return Iterator(encoded_); }
  Iterator end() const { return Iterator({}); }
  std::string_view Get(std::string_view name) const;
  Labels ToLabels() const;

 private:
  std::string_view encoded_;
};

// The labels as a remote-write request's label fields (proto/label_fields.h,
// a little longer than EncodeLabels): how a shard finds an input series
// with one comparison of a request's bytes. LabelsOfFields gives back the
// same labels in the same order, and InvalidArgument for malformed bytes.
std::string LabelFields(const Labels& labels);
absl::StatusOr<Labels> LabelsOfFields(std::string_view fields);
// GetLabel() on label fields, without decoding them.
std::string_view GetLabelField(std::string_view fields, std::string_view name);

// What Prometheus requires of a series it is given: names match
// [a-zA-Z_][a-zA-Z0-9_]*, values are non-empty valid UTF-8, names are unique
// and sorted. InvalidArgument naming the first offending label otherwise.
absl::Status ValidateLabels(const Labels& labels);

}  // namespace kad::adapter
