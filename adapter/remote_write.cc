#include "adapter/remote_write.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "adapter/absl_view.h"
#include "proto/snappy_codec.h"

namespace kad::adapter {
namespace {

namespace http = boost::beast::http;

constexpr absl::string_view kV1Message = "prometheus.WriteRequest";

absl::Status Unsupported(absl::string_view what) {
  return absl::UnimplementedError(
      absl::StrCat(what, ": this endpoint accepts remote write 1.0 (", kV1Message,
                   ", snappy); set protobuf_message: prometheus.WriteRequest in "
                   "remote_write"));
}

// Content-Type must be application/x-protobuf, with proto= (if any) naming
// the 1.0 message. Prometheus 2.42 sends no proto= parameter.
absl::Status CheckContentType(absl::string_view content_type) {
  if (content_type.empty()) return absl::OkStatus();
  std::vector<absl::string_view> parts = absl::StrSplit(content_type, ';');
  if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(parts[0]), "application/x-protobuf")) {
    return Unsupported(absl::StrCat("unsupported Content-Type \"", content_type, "\""));
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    absl::string_view param = absl::StripAsciiWhitespace(parts[i]);
    if (!absl::StartsWithIgnoreCase(param, "proto=")) continue;
    absl::string_view message = absl::StripPrefix(param.substr(6), "\"");
    message = absl::StripSuffix(message, "\"");
    if (message != kV1Message) {
      return Unsupported(absl::StrCat("unsupported remote-write message \"", message, "\""));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status DecodeRemoteWrite(HttpRequest& request, size_t max_uncompressed, WriteJob* job) {
  if (absl::Status s = CheckContentType(AbslView(request[http::field::content_type])); !s.ok())
    return s;
  const absl::string_view encoding = AbslView(request[http::field::content_encoding]);
  if (!encoding.empty() && !absl::EqualsIgnoreCase(encoding, "snappy")) {
    return Unsupported(absl::StrCat("unsupported Content-Encoding \"", encoding, "\""));
  }
  const absl::string_view version = AbslView(request["X-Prometheus-Remote-Write-Version"]);
  if (!version.empty() && !absl::StartsWith(version, "0.")) {
    return Unsupported(absl::StrCat("unsupported remote-write version \"", version, "\""));
  }
  if (absl::Status s = proto::SnappyUncompress(request.body(), max_uncompressed, &job->body);
      !s.ok()) {
    return s;
  }
  return proto::DecodeWriteRequest(job->body, &job->request);
}

}  // namespace kad::adapter
