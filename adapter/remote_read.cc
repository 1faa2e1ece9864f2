#include "adapter/remote_read.h"

#include "absl/strings/str_cat.h"
#include "prometheus/remote.pb.h"
#include "proto/chunked_read.h"
#include "proto/read_response.h"
#include "proto/snappy_codec.h"
#include "proto/xor_chunk.h"

namespace kad::adapter {
namespace {

namespace http = boost::beast::http;

// Prometheus cuts XOR chunks at 120 samples; readers expect about that.
constexpr int kSamplesPerChunk = 120;

absl::StatusOr<MatchType> MatchTypeOf(prometheus::LabelMatcher::Type type) {
  switch (type) {
    case prometheus::LabelMatcher::EQ:
      return MatchType::kEqual;
    case prometheus::LabelMatcher::NEQ:
      return MatchType::kNotEqual;
    case prometheus::LabelMatcher::RE:
      return MatchType::kRegex;
    case prometheus::LabelMatcher::NRE:
      return MatchType::kNotRegex;
    default:
      return absl::InvalidArgumentError(absl::StrCat("unknown matcher type ", type));
  }
}

void CopyLabels(const Labels& labels, google::protobuf::RepeatedPtrField<prometheus::Label>* out) {
  out->Reserve(static_cast<int>(labels.size()));
  for (const Label& l : labels) {
    prometheus::Label* label = out->Add();
    label->set_name(l.name);
    label->set_value(l.value);
  }
}

}  // namespace

absl::StatusOr<RemoteReadRequest> DecodeRemoteRead(const HttpRequest& request,
                                                   size_t max_uncompressed) {
  std::string raw;
  if (absl::Status s = proto::SnappyUncompress(request.body(), max_uncompressed, &raw); !s.ok()) {
    return s;
  }
  prometheus::ReadRequest message;
  if (!message.ParseFromString(raw)) {
    return absl::InvalidArgumentError("body is not a prometheus.ReadRequest");
  }
  RemoteReadRequest out;
  for (int type : message.accepted_response_types()) {
    if (type == prometheus::ReadRequest::STREAMED_XOR_CHUNKS) {
      out.streamed = true;
      break;
    }
    if (type == prometheus::ReadRequest::SAMPLES) break;
  }
  for (const prometheus::Query& q : message.queries()) {
    ReadQuery& query = out.queries.emplace_back();
    query.start_ms = q.start_timestamp_ms();
    query.end_ms = q.end_timestamp_ms();
    query.series_only = q.has_hints() && q.hints().func() == "series";
    for (const prometheus::LabelMatcher& m : q.matchers()) {
      absl::StatusOr<MatchType> type = MatchTypeOf(m.type());
      if (!type.ok()) return type.status();
      absl::StatusOr<LabelMatcher> matcher = LabelMatcher::Make(*type, m.name(), m.value());
      if (!matcher.ok()) return matcher.status();
      query.matchers.push_back(*std::move(matcher));
    }
  }
  return out;
}

HttpResponse SamplesResponse(const std::vector<std::vector<ReadSeries>>& results) {
  proto::ReadResponseWriter writer;
  std::vector<proto::ReadResponseWriter::LabelPair> labels;
  for (const std::vector<ReadSeries>& series : results) {
    writer.BeginResult();
    for (const ReadSeries& s : series) {
      labels.clear();
      for (const Label& l : s.labels) labels.emplace_back(l.name, l.value);
      writer.AddSeries(labels, s.samples);
    }
  }
  HttpResponse http_response(http::status::ok, 11);
  http_response.set(http::field::content_type, "application/x-protobuf");
  http_response.set(http::field::content_encoding, "snappy");
  proto::SnappyCompress(writer.Finish(), &http_response.body());
  return http_response;
}

HttpResponse ChunkedResponse(const std::vector<std::vector<ReadSeries>>& results,
                             size_t max_frame_bytes) {
  HttpResponse http_response(http::status::ok, 11);
  http_response.set(http::field::content_type,
                    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse");
  std::string& body = http_response.body();
  prometheus::ChunkedReadResponse frame;
  size_t frame_bytes = 0;
  auto flush = [&] {
    if (frame.chunked_series_size() == 0) return;
    proto::AppendChunkedFrame(frame.SerializeAsString(), &body);
    frame.clear_chunked_series();
    frame_bytes = 0;
  };
  for (size_t q = 0; q < results.size(); ++q) {
    frame.set_query_index(static_cast<int64_t>(q));
    for (const ReadSeries& s : results[q]) {
      // One series per frame; a long series continues in further frames.
      prometheus::ChunkedSeries* series = nullptr;
      proto::XorChunkEncoder encoder;
      auto cut = [&] {
        if (encoder.num_samples() == 0) return;
        if (series == nullptr) {
          series = frame.add_chunked_series();
          CopyLabels(s.labels, series->mutable_labels());
        }
        prometheus::Chunk* chunk = series->add_chunks();
        chunk->set_min_time_ms(encoder.min_time_ms());
        chunk->set_max_time_ms(encoder.max_time_ms());
        chunk->set_type(prometheus::Chunk::XOR);
        chunk->set_data(encoder.bytes());
        frame_bytes += encoder.bytes().size();
        encoder.Reset();
        if (frame_bytes >= max_frame_bytes) {
          flush();
          series = nullptr;
        }
      };
      for (const auto& [t, v] : s.samples) {
        encoder.Append(t, v);
        if (encoder.num_samples() == kSamplesPerChunk) cut();
      }
      cut();
      if (series == nullptr && s.samples.empty()) {
        CopyLabels(s.labels, frame.add_chunked_series()->mutable_labels());
      }
      flush();
    }
    flush();
  }
  return http_response;
}

}  // namespace kad::adapter
