// Zero-copy decoder for prometheus.WriteRequest (remote write 1.0), and
// WriteRequestView, the decoded request of either remote-write version
// (proto/write_request_v2.h fills it from a 2.0 body).
//
// A hand-written field switch over the decompressed body: label names and
// values are string_views into that body, and every vector is reused across
// requests, so the steady state allocates nothing. The generated parser in
// prometheus/remote.pb.h stays the test oracle and the benchmark baseline.
//
//   WriteRequestView req;                       // one per connection / thread
//   absl::Status s = DecodeWriteRequest(body, &req);
//   for (const SeriesView& s : req.series)
//     for (const SampleView& x : req.SamplesOf(s)) ...
//
// Not thread-safe; the views die with `body` and with the next decode.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace kad::proto {

struct LabelView {
  std::string_view name;
  std::string_view value;
};

struct SampleView {
  double value;
  int64_t timestamp_ms;
};

// MetricMetadata.type, as numbered on the wire.
enum class MetricType : uint8_t {
  kUnknown = 0,
  kCounter = 1,
  kGauge = 2,
  kHistogram = 3,
  kGaugeHistogram = 4,
  kSummary = 5,
  kInfo = 6,
  kStateset = 7,
};

struct MetadataView {
  MetricType type;
  std::string_view family_name;
};

// Remote write 2.0 sends metadata with every series (1.0 sends it per metric
// family, in requests of their own: MetadataView).
struct SeriesMetadataView {
  MetricType type = MetricType::kUnknown;
  std::string_view help;
  std::string_view unit;
  int64_t created_timestamp_ms = 0;  // when the counter started; 0 = unset
};

// One TimeSeries entry: ranges into the flat arrays of WriteRequestView.
struct SeriesView {
  uint32_t label_begin, label_end;
  uint32_t sample_begin, sample_end;
  // The labels as protobuf encodes them (proto/label_fields.h): the body's
  // own bytes when it sent them so, else WriteRequestView::label_field_bytes.
  std::string_view label_fields;
  // HashLabelFields(label_fields): equal labels hash equal, however they
  // were encoded.
  uint64_t label_hash = 0;
};

struct WriteRequestView {
  std::vector<SeriesView> series;
  std::vector<LabelView> labels;
  std::vector<SampleView> samples;
  std::vector<MetadataView> metadata;
  // 2.0 only: one per series, parallel to `series`; empty for a 1.0 body.
  std::vector<SeriesMetadataView> series_metadata;
  // 2.0 only: the interned strings that labels and metadata point at.
  std::vector<std::string_view> symbols;
  // The label fields of the series whose body had them some other way.
  std::string label_field_bytes;
  size_t histogram_count = 0;  // native histograms: counted, not decoded
  size_t exemplar_count = 0;   // counted, not decoded

  void Clear();
  std::span<const LabelView> LabelsOf(const SeriesView& s) const {
    return {labels.data() + s.label_begin, s.label_end - s.label_begin};
  }
  std::span<const SampleView> SamplesOf(const SeriesView& s) const {
    return {samples.data() + s.sample_begin, s.sample_end - s.sample_begin};
  }
};

// Clears `out` and decodes `body` into it. Packed and unpacked encodings and
// unknown fields are accepted, as protobuf does. Errors:
//  - InvalidArgument: not a valid WriteRequest (the message says what and at
//    which byte offset);
//  - Unimplemented: the body carries remote-write 2.0 top-level fields
//    (symbols = 4, timeseries = 5), which a 1.0 decoder would read as empty.
absl::Status DecodeWriteRequest(std::string_view body, WriteRequestView* out);

}  // namespace kad::proto
