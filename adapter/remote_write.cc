#include "adapter/remote_write.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "adapter/absl_view.h"
#include "proto/snappy_codec.h"
#include "proto/write_request_v2.h"

namespace kad::adapter {
namespace {

namespace http = boost::beast::http;

constexpr absl::string_view kV1Message = "prometheus.WriteRequest";
constexpr absl::string_view kV2Message = "io.prometheus.write.v2.Request";

absl::Status Unsupported(absl::string_view what) {
  return absl::UnimplementedError(absl::StrCat(
      what, ": this endpoint accepts snappy-compressed application/x-protobuf with proto=",
      kV1Message, " (remote write 1.0, the default) or proto=", kV2Message, " (remote write 2.0)"));
}

// Content-Type must be application/x-protobuf; its proto= parameter (if
// any) names the message. Prometheus 2.42 sends no proto= parameter.
absl::Status ParseContentType(absl::string_view content_type, RemoteWriteMessage* message) {
  *message = RemoteWriteMessage::kV1;
  if (content_type.empty()) return absl::OkStatus();
  std::vector<absl::string_view> parts = absl::StrSplit(content_type, ';');
  if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(parts[0]), "application/x-protobuf")) {
    return Unsupported(absl::StrCat("unsupported Content-Type \"", content_type, "\""));
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    absl::string_view param = absl::StripAsciiWhitespace(parts[i]);
    if (!absl::StartsWithIgnoreCase(param, "proto=")) continue;
    absl::string_view name = absl::StripPrefix(param.substr(6), "\"");
    name = absl::StripSuffix(name, "\"");
    if (name == kV2Message) {
      *message = RemoteWriteMessage::kV2;
    } else if (name != kV1Message) {
      return Unsupported(absl::StrCat("unsupported remote-write message \"", name, "\""));
    }
  }
  return absl::OkStatus();
}

// The Content-Type picks the schema; a version header that disagrees with
// it (2.x with the 1.0 message, 0.x with the 2.0 one) is a sender this
// endpoint cannot trust to have encoded what it named. Senders send 0.1.0
// with prometheus.WriteRequest and 2.0.0 with io.prometheus.write.v2.Request.
absl::Status CheckVersion(absl::string_view version, RemoteWriteMessage message) {
  if (version.empty()) return absl::OkStatus();
  const bool v2 = message == RemoteWriteMessage::kV2;
  if (absl::StartsWith(version, v2 ? "2." : "0.")) return absl::OkStatus();
  return Unsupported(absl::StrCat("remote-write version \"", version,
                                  "\" does not match the Content-Type's message ",
                                  v2 ? kV2Message : kV1Message));
}

}  // namespace

absl::Status DecodeRemoteWrite(HttpRequest& request, size_t max_uncompressed, WriteJob* job,
                               RemoteWriteMessage* message) {
  if (absl::Status s = ParseContentType(AbslView(request[http::field::content_type]), message);
      !s.ok()) {
    return s;
  }
  const absl::string_view encoding = AbslView(request[http::field::content_encoding]);
  if (!encoding.empty() && !absl::EqualsIgnoreCase(encoding, "snappy")) {
    return Unsupported(absl::StrCat("unsupported Content-Encoding \"", encoding, "\""));
  }
  if (absl::Status s =
          CheckVersion(AbslView(request["X-Prometheus-Remote-Write-Version"]), *message);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = proto::SnappyUncompress(request.body(), max_uncompressed, &job->body);
      !s.ok()) {
    return s;
  }
  return *message == RemoteWriteMessage::kV2 ? proto::DecodeWriteRequestV2(job->body, &job->request)
                                             : proto::DecodeWriteRequest(job->body, &job->request);
}

void AddWrittenHeaders(const WrittenCounts& counts, HttpResponse* response) {
  response->set("X-Prometheus-Remote-Write-Samples-Written", std::to_string(counts.samples));
  response->set("X-Prometheus-Remote-Write-Histograms-Written", std::to_string(counts.histograms));
  response->set("X-Prometheus-Remote-Write-Exemplars-Written", std::to_string(counts.exemplars));
}

}  // namespace kad::adapter
