#include "tests/support/remote_client.h"

#include <algorithm>
#include <bit>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "proto/chunked_read.h"
#include "proto/snappy_codec.h"
#include "tests/support/xor_decoder.h"

namespace kad::testing {
namespace {

constexpr size_t kMaxResponseBytes = size_t{1} << 30;
constexpr std::string_view kStreamedType =
    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";

LabelPairs LabelsOf(const google::protobuf::RepeatedPtrField<prometheus::Label>& labels) {
  LabelPairs out;
  out.reserve(labels.size());
  for (const prometheus::Label& l : labels) out.emplace_back(l.name(), l.value());
  return out;
}

std::string Describe(const HttpResult& r) {
  return absl::StrCat("HTTP ", r.status, ": ", r.body.substr(0, 300));
}

}  // namespace

void WriteRequestBuilder::Add(LabelPairs labels, int64_t t_ms, double value) {
  std::sort(labels.begin(), labels.end());
  prometheus::TimeSeries* ts = request_.add_timeseries();
  for (auto& [name, v] : labels) {
    prometheus::Label* label = ts->add_labels();
    label->set_name(std::move(name));
    label->set_value(std::move(v));
  }
  prometheus::Sample* sample = ts->add_samples();
  sample->set_timestamp(t_ms);
  sample->set_value(value);
}

WriteRequestV2Builder::WriteRequestV2Builder() { Symbol(""); }

uint32_t WriteRequestV2Builder::Symbol(const std::string& s) {
  const auto [it, added] = refs_.try_emplace(s, request_.symbols_size());
  if (added) request_.add_symbols(s);
  return it->second;
}

WriteRequestV2Builder::TimeSeries* WriteRequestV2Builder::AddSeries(LabelPairs labels) {
  std::sort(labels.begin(), labels.end());
  TimeSeries* ts = request_.add_timeseries();
  for (const auto& [name, value] : labels) {
    ts->add_labels_refs(Symbol(name));
    ts->add_labels_refs(Symbol(value));
  }
  return ts;
}

WriteRequestV2Builder::TimeSeries* WriteRequestV2Builder::Add(LabelPairs labels, int64_t t_ms,
                                                              double value) {
  TimeSeries* ts = AddSeries(std::move(labels));
  io::prometheus::write::v2::Sample* sample = ts->add_samples();
  sample->set_timestamp(t_ms);
  sample->set_value(value);
  return ts;
}

void WriteRequestV2Builder::AddAll(const prometheus::WriteRequest& request) {
  for (const prometheus::TimeSeries& v1 : request.timeseries()) {
    TimeSeries* ts = AddSeries(LabelsOf(v1.labels()));
    for (const prometheus::Sample& s : v1.samples()) {
      io::prometheus::write::v2::Sample* sample = ts->add_samples();
      sample->set_timestamp(s.timestamp());
      sample->set_value(s.value());
    }
  }
}

HttpHeaders RemoteWriteHeaders() {
  return {{"Content-Encoding", "snappy"},
          {"Content-Type", "application/x-protobuf"},
          {"X-Prometheus-Remote-Write-Version", "0.1.0"}};
}

std::string SnappyBody(const google::protobuf::MessageLite& message) {
  std::string body;
  proto::SnappyCompress(message.SerializeAsString(), &body);
  return body;
}

HttpHeaders RemoteWriteV2Headers() {
  return {{"Content-Encoding", "snappy"},
          {"Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request"},
          {"X-Prometheus-Remote-Write-Version", "2.0.0"}};
}

absl::StatusOr<HttpResult> RemoteWrite(uint16_t port, const prometheus::WriteRequest& request) {
  return HttpCall(port, "POST", "/api/v1/write", SnappyBody(request), RemoteWriteHeaders());
}

absl::StatusOr<HttpResult> RemoteWriteV2(uint16_t port,
                                         const io::prometheus::write::v2::Request& request) {
  return HttpCall(port, "POST", "/api/v1/write", SnappyBody(request), RemoteWriteV2Headers());
}

prometheus::LabelMatcher Matcher(prometheus::LabelMatcher::Type type, std::string name,
                                 std::string value) {
  prometheus::LabelMatcher m;
  m.set_type(type);
  m.set_name(std::move(name));
  m.set_value(std::move(value));
  return m;
}

prometheus::Query MakeQuery(int64_t start_ms, int64_t end_ms,
                            std::vector<prometheus::LabelMatcher> matchers) {
  prometheus::Query q;
  q.set_start_timestamp_ms(start_ms);
  q.set_end_timestamp_ms(end_ms);
  for (auto& m : matchers) *q.add_matchers() = std::move(m);
  return q;
}

absl::StatusOr<HttpResult> PostRead(uint16_t port, const prometheus::ReadRequest& request) {
  return HttpCall(port, "POST", "/api/v1/read", SnappyBody(request),
                  {{"Content-Encoding", "snappy"},
                   {"Accept-Encoding", "snappy"},
                   {"Content-Type", "application/x-protobuf"},
                   {"X-Prometheus-Remote-Read-Version", "0.1.0"}});
}

absl::StatusOr<prometheus::ReadResponse> ReadSamples(uint16_t port,
                                                     const prometheus::Query& query) {
  prometheus::ReadRequest request;
  *request.add_queries() = query;
  absl::StatusOr<HttpResult> r = PostRead(port, request);
  if (!r.ok()) return r.status();
  if (r->status != 200) {
    return absl::FailedPreconditionError(absl::StrCat("remote read failed: ", Describe(*r)));
  }
  if (r->Header("content-encoding") != "snappy") {
    return absl::FailedPreconditionError("SAMPLES response without Content-Encoding: snappy");
  }
  std::string raw;
  if (absl::Status s = proto::SnappyUncompress(r->body, kMaxResponseBytes, &raw); !s.ok()) {
    return s;
  }
  prometheus::ReadResponse response;
  if (!response.ParseFromString(raw)) {
    return absl::InvalidArgumentError("response is not a ReadResponse");
  }
  if (response.results_size() != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("one query got ", response.results_size(), " results"));
  }
  return response;
}

std::vector<SeriesData> SeriesOf(const prometheus::QueryResult& result) {
  std::vector<SeriesData> out;
  for (const prometheus::TimeSeries& ts : result.timeseries()) {
    SeriesData& s = out.emplace_back();
    s.labels = LabelsOf(ts.labels());
    for (const prometheus::Sample& sample : ts.samples())
      s.samples.emplace_back(sample.timestamp(), sample.value());
  }
  return out;
}

absl::StatusOr<std::vector<std::vector<SeriesData>>> DecodeChunkedBody(std::string_view body) {
  std::vector<std::vector<SeriesData>> out;
  int64_t last_query = -1;
  for (size_t frame = 0; !body.empty(); ++frame) {
    uint64_t length = 0;
    size_t i = 0;
    for (int shift = 0;; shift += 7) {
      if (i >= body.size() || shift > 63) {
        return absl::InvalidArgumentError(absl::StrCat("frame ", frame, ": truncated length"));
      }
      const auto byte = static_cast<uint8_t>(body[i++]);
      length |= uint64_t{byte & 0x7fu} << shift;
      if (byte < 0x80) break;
    }
    if (body.size() - i < 4 || body.size() - i - 4 < length) {
      return absl::InvalidArgumentError(absl::StrCat(
          "frame ", frame, ": ", length, " bytes announced, ", body.size() - i, " left"));
    }
    uint32_t crc = 0;
    for (int k = 0; k < 4; ++k) crc = (crc << 8) | static_cast<uint8_t>(body[i + k]);
    const std::string_view message = body.substr(i + 4, length);
    body.remove_prefix(i + 4 + length);
    if (crc != proto::Crc32c(message)) {
      return absl::InvalidArgumentError(absl::StrCat("frame ", frame, ": CRC-32C mismatch"));
    }
    prometheus::ChunkedReadResponse response;
    if (!response.ParseFromArray(message.data(), static_cast<int>(message.size()))) {
      return absl::InvalidArgumentError(
          absl::StrCat("frame ", frame, " is not a ChunkedReadResponse"));
    }
    const int64_t q = response.query_index();
    if (q < last_query) {
      return absl::InvalidArgumentError(absl::StrCat("frame ", frame, " goes back to query ", q));
    }
    last_query = q;
    if (out.size() <= static_cast<size_t>(q)) out.resize(q + 1);
    std::vector<SeriesData>& series = out[q];
    for (const prometheus::ChunkedSeries& cs : response.chunked_series()) {
      LabelPairs labels = LabelsOf(cs.labels());
      // A series continued from the previous frame has the same labels.
      if (series.empty() || series.back().labels != labels) {
        series.push_back({std::move(labels), {}});
      }
      SeriesData& s = series.back();
      for (const prometheus::Chunk& chunk : cs.chunks()) {
        if (chunk.type() != prometheus::Chunk::XOR) {
          return absl::InvalidArgumentError(
              absl::StrCat("frame ", frame, ": chunk type ", chunk.type()));
        }
        absl::StatusOr<DecodedChunk> decoded = DecodeXorChunk(chunk.data());
        if (!decoded.ok()) return decoded.status();
        if (decoded->t.empty() || decoded->t.front() != chunk.min_time_ms() ||
            decoded->t.back() != chunk.max_time_ms()) {
          return absl::InvalidArgumentError(
              absl::StrCat("frame ", frame, ": chunk min/max time ", chunk.min_time_ms(), "/",
                           chunk.max_time_ms(), " disagree with its samples"));
        }
        for (size_t k = 0; k < decoded->t.size(); ++k)
          s.samples.emplace_back(decoded->t[k], decoded->value(k));
      }
    }
  }
  return out;
}

absl::StatusOr<std::vector<SeriesData>> ReadChunked(uint16_t port, const prometheus::Query& query) {
  prometheus::ReadRequest request;
  *request.add_queries() = query;
  request.add_accepted_response_types(prometheus::ReadRequest::STREAMED_XOR_CHUNKS);
  request.add_accepted_response_types(prometheus::ReadRequest::SAMPLES);
  absl::StatusOr<HttpResult> r = PostRead(port, request);
  if (!r.ok()) return r.status();
  if (r->status != 200) {
    return absl::FailedPreconditionError(
        absl::StrCat("streamed remote read failed: ", Describe(*r)));
  }
  if (r->Header("content-type") != kStreamedType) {
    return absl::FailedPreconditionError(absl::StrCat(
        "streamed remote read answered Content-Type \"", r->Header("content-type"), "\""));
  }
  absl::StatusOr<std::vector<std::vector<SeriesData>>> decoded = DecodeChunkedBody(r->body);
  if (!decoded.ok()) return decoded.status();
  if (decoded->size() > 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("one query got frames for ", decoded->size(), " queries"));
  }
  return decoded->empty() ? std::vector<SeriesData>{} : std::move(decoded->front());
}

std::string DiffSeries(const std::vector<SeriesData>& got, const std::vector<SeriesData>& want) {
  auto name = [](const SeriesData& s) {
    std::string out = "{";
    for (const auto& [n, v] : s.labels) absl::StrAppend(&out, n, "=\"", v, "\",");
    out.back() = '}';
    return out;
  };
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    if (got[i].labels != want[i].labels) {
      return absl::StrCat("series ", i, " is ", name(got[i]), ", want ", name(want[i]));
    }
    const auto& g = got[i].samples;
    const auto& w = want[i].samples;
    for (size_t k = 0; k < std::min(g.size(), w.size()); ++k) {
      if (g[k].first != w[k].first ||
          std::bit_cast<uint64_t>(g[k].second) != std::bit_cast<uint64_t>(w[k].second)) {
        return absl::StrFormat("%s sample %d is (%d, %.17g), want (%d, %.17g)", name(got[i]), k,
                               g[k].first, g[k].second, w[k].first, w[k].second);
      }
    }
    if (g.size() != w.size()) {
      return absl::StrCat(name(got[i]), " has ", g.size(), " samples, want ", w.size());
    }
  }
  if (got.size() != want.size()) {
    return absl::StrCat(got.size(), " series, want ", want.size());
  }
  return "";
}

std::optional<double> FindMetric(std::string_view exposition, std::string_view series) {
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(exposition.data(), exposition.size()), '\n')) {
    if (line.size() <= series.size() + 1 ||
        !absl::StartsWith(line, absl::string_view(series.data(), series.size())) ||
        line[series.size()] != ' ') {
      continue;
    }
    const std::string value(line.substr(series.size() + 1));
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    if (end != value.c_str()) return v;
  }
  return std::nullopt;
}

absl::StatusOr<double> ScrapeMetric(uint16_t port, std::string_view series) {
  absl::StatusOr<HttpResult> r = HttpCall(port, "GET", "/metrics");
  if (!r.ok()) return r.status();
  if (r->status != 200) {
    return absl::FailedPreconditionError(absl::StrCat("GET /metrics: ", Describe(*r)));
  }
  std::optional<double> v = FindMetric(r->body, series);
  if (!v.has_value()) {
    return absl::NotFoundError(absl::StrCat("/metrics has no sample ", std::string(series)));
  }
  return *v;
}

}  // namespace kad::testing
