// Remote write and remote read as Prometheus speaks them, for tests that
// drive the adapter over real HTTP.
//
//   WriteRequestBuilder b;
//   b.Add({{"__name__", "node_load1"}, {"job", "node"}}, t_ms, 0.5);
//   absl::StatusOr<HttpResult> r = RemoteWrite(port, b.request());  // 204
//   WriteRequestV2Builder b2;                                     // 2.0
//   b2.AddAll(b.request());
//   r = RemoteWriteV2(port, b2.request());                        // 204
//   absl::StatusOr<std::vector<SeriesData>> got =
//       ReadChunked(port, MakeQuery(start, end, {EqMatcher("__name__", "p")}));
//
// Plain functions over their arguments; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/remote.pb.h"
#include "prometheus/write_v2.pb.h"
#include "tests/support/http_client.h"

namespace kad::testing {

using LabelPairs = std::vector<std::pair<std::string, std::string>>;

// One series with its samples; values compared by bits (NaN payloads).
struct SeriesData {
  LabelPairs labels;
  std::vector<std::pair<int64_t, double>> samples;
};

// Builds a WriteRequest the way Prometheus 2.42 does: one sample per
// TimeSeries entry, labels sorted by name.
class WriteRequestBuilder {
 public:
  void Add(LabelPairs labels, int64_t t_ms, double value);
  size_t size() const { return request_.timeseries_size(); }
  const prometheus::WriteRequest& request() const { return request_; }

 private:
  prometheus::WriteRequest request_;
};

// Builds an io.prometheus.write.v2.Request (remote write 2.0), interning
// every string in the symbols table the way Prometheus 2.54+ does:
// symbols[0] is "", each distinct string appears once.
//
//   WriteRequestV2Builder b;
//   b.AddAll(v1_builder.request());        // the same series and samples
//   b.Add(labels, t_ms, 0.5)->mutable_metadata()->set_type(...);
class WriteRequestV2Builder {
 public:
  using Request = io::prometheus::write::v2::Request;
  using TimeSeries = io::prometheus::write::v2::TimeSeries;

  WriteRequestV2Builder();
  // The ref of `s`, adding it to the symbols table if new.
  uint32_t Symbol(const std::string& s);
  // A series with `labels` (sorted here) and no samples.
  TimeSeries* AddSeries(LabelPairs labels);
  // A series with `labels` and one sample.
  TimeSeries* Add(LabelPairs labels, int64_t t_ms, double value);
  // Every TimeSeries entry of a 1.0 request (labels and samples), in order.
  void AddAll(const prometheus::WriteRequest& request);
  const Request& request() const { return request_; }

 private:
  Request request_;
  std::map<std::string, uint32_t> refs_;
};

// The headers Prometheus 2.42 sends with remote write 1.0.
HttpHeaders RemoteWriteHeaders();

// The headers Prometheus 2.54+ sends with remote write 2.0.
HttpHeaders RemoteWriteV2Headers();

// The snappy-compressed serialization of `message` (a remote-write or
// remote-read body).
std::string SnappyBody(const google::protobuf::MessageLite& message);

// POSTs `request` to /api/v1/write with RemoteWriteHeaders().
absl::StatusOr<HttpResult> RemoteWrite(uint16_t port, const prometheus::WriteRequest& request);

// POSTs `request` to /api/v1/write with RemoteWriteV2Headers().
absl::StatusOr<HttpResult> RemoteWriteV2(uint16_t port,
                                         const io::prometheus::write::v2::Request& request);

prometheus::LabelMatcher Matcher(prometheus::LabelMatcher::Type type, std::string name,
                                 std::string value);
prometheus::Query MakeQuery(int64_t start_ms, int64_t end_ms,
                            std::vector<prometheus::LabelMatcher> matchers);

// POSTs a remote-read request the way Prometheus does (snappy body,
// X-Prometheus-Remote-Read-Version 0.1.0); the raw answer.
absl::StatusOr<HttpResult> PostRead(uint16_t port, const prometheus::ReadRequest& request);

// One query answered as SAMPLES (Prometheus 2.42). An error unless the
// answer is 200 with a snappy ReadResponse holding one result.
absl::StatusOr<prometheus::ReadResponse> ReadSamples(uint16_t port, const prometheus::Query& query);

// The series of one SAMPLES query result.
std::vector<SeriesData> SeriesOf(const prometheus::QueryResult& result);

// Parses a STREAMED_XOR_CHUNKS body: frames of uvarint length, big-endian
// CRC-32C, ChunkedReadResponse. Returns the series per query index, in
// frame order, a series continued over frames joined into one. Errors for a
// bad length or CRC, an undecodable message or chunk, a chunk whose
// min/max time disagrees with its samples, or a series split across queries.
absl::StatusOr<std::vector<std::vector<SeriesData>>> DecodeChunkedBody(std::string_view body);

// One query answered as STREAMED_XOR_CHUNKS (accepted_response_types
// [STREAMED_XOR_CHUNKS, SAMPLES], as Prometheus 2.55+ asks). An error unless
// the answer is 200 with the streamed Content-Type and decodes.
absl::StatusOr<std::vector<SeriesData>> ReadChunked(uint16_t port, const prometheus::Query& query);

// "" when `got` and `want` hold the same series (labels, in order) with the
// same timestamps and bit-identical values; else the first difference.
std::string DiffSeries(const std::vector<SeriesData>& got, const std::vector<SeriesData>& want);

// The value of the sample `series` (e.g.
// `kad_samples_rejected_total{reason="duplicate"}`, written as exposed) in a
// text-format exposition; nullopt when it is not there.
std::optional<double> FindMetric(std::string_view exposition, std::string_view series);

// GET /metrics and FindMetric; NotFound when the sample is missing.
absl::StatusOr<double> ScrapeMetric(uint16_t port, std::string_view series);

}  // namespace kad::testing
