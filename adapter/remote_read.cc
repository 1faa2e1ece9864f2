#include "adapter/remote_read.h"

#include "absl/strings/str_cat.h"
#include "prometheus/remote.pb.h"
#include "proto/read_response.h"
#include "proto/snappy_codec.h"

namespace kad::adapter {
namespace {

namespace http = boost::beast::http;

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

HttpResponse SamplesResponse(const std::vector<QueryAnswer>& answers) {
  // The ReadResponse is each answer's QueryResult header, then its series
  // where the shards wrote them: snappy reads them there.
  std::vector<std::string> headers(answers.size());
  std::vector<std::string_view> message;
  for (size_t q = 0; q < answers.size(); ++q) {
    proto::AppendQueryResultHeader(answers[q].bytes, &headers[q]);
    message.push_back(headers[q]);
    for (const QueryAnswer::Piece& p : answers[q].order) message.push_back(answers[q].bytes_of(p));
  }
  HttpResponse http_response(http::status::ok, 11);
  http_response.set(http::field::content_type, "application/x-protobuf");
  http_response.set(http::field::content_encoding, "snappy");
  proto::SnappyCompress(message, &http_response.body());
  return http_response;
}

HttpResponse ChunkedResponse(const std::vector<QueryAnswer>& answers) {
  HttpResponse http_response(http::status::ok, 11);
  http_response.set(http::field::content_type,
                    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse");
  std::string& body = http_response.body();
  size_t size = 0;
  for (const QueryAnswer& a : answers) size += a.bytes;
  body.reserve(size);
  for (const QueryAnswer& a : answers) {
    for (const QueryAnswer::Piece& p : a.order) body.append(a.bytes_of(p));
  }
  return http_response;
}

}  // namespace kad::adapter
