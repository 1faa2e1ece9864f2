// Label fields: the labels of a prometheus.TimeSeries exactly as protobuf
// encodes them, and so as Prometheus sends them. Per label, field 1 (tag
// 0x0a, the length) holding a Label message: the name as field 1, the
// value as field 2, each omitted when empty. Equal label lists have equal
// label fields, so a series is found by one hash and one comparison of
// these bytes, which for Prometheus' requests are the body's own.
//
// The label hash (SeriesView::label_hash, the adapter's shard table) is
// HashLabelFields of them; a cache key only, different in every process.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace kad::proto {

struct WriteRequestView;

// The bytes AppendLabelField appends.
size_t LabelFieldSize(std::string_view name, std::string_view value);
void AppendLabelField(std::string_view name, std::string_view value, std::string* out);
// Reads the label at the front of `*fields` and drops it; false if `*fields`
// does not start with a label field as AppendLabelField writes it.
bool NextLabelField(std::string_view* fields, std::string_view* name, std::string_view* value);

// Debian 12's abseil has its own absl::string_view: a std::string_view
// given to absl::HashOf as it is would fall back to the slower std::hash.
inline uint64_t HashLabelFields(std::string_view fields) {
  return absl::HashOf(absl::string_view(fields.data(), fields.size()));
}

// For the decoders: gives the series of `view` that have no label_fields
// yet (labels encoded some other way, or as remote-write 2.0 refs) theirs,
// encoded into view->label_field_bytes, and their label_hash.
void EncodeMissingLabelFields(WriteRequestView* view);

}  // namespace kad::proto
