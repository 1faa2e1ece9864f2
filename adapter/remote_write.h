// Remote write request checks and decoding (POST /api/v1/write), for both
// protocol versions: 1.0 (prometheus.WriteRequest) and 2.0
// (io.prometheus.write.v2.Request), chosen by the Content-Type's proto=.
// Both decode into the same WriteJob, so the engine sees one kind of request.
//
//   RemoteWriteMessage message;
//   absl::Status s = DecodeRemoteWrite(request, max_bytes, &job, &message);
//   const WrittenCounts counts = WrittenCounts::Of(job.request);
//   ... ingest, then on the response:
//   if (message == RemoteWriteMessage::kV2) AddWrittenHeaders(s.ok() ? counts : {}, &response);
//
// Stateless functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "adapter/engine.h"
#include "adapter/http_server.h"
#include "proto/write_request.h"

namespace kad::adapter {

// The protobuf message a request's Content-Type names.
enum class RemoteWriteMessage {
  kV1,  // application/x-protobuf, with no proto= or proto=prometheus.WriteRequest
  kV2,  // application/x-protobuf;proto=io.prometheus.write.v2.Request
};

// What a remote-write 2.0 response reports as written. Everything a
// successful request carries is written (accepted): float samples, native
// histograms and exemplars, although only float samples reach a forecaster.
struct WrittenCounts {
  uint64_t samples = 0;
  uint64_t histograms = 0;
  uint64_t exemplars = 0;

  static WrittenCounts Of(const proto::WriteRequestView& request) {
    return {request.samples.size(), request.histogram_count, request.exemplar_count};
  }
};

// Checks the request's content headers, then uncompresses and decodes its
// body into `job`. `*message` is set as soon as the Content-Type is known,
// so a failed 2.0 request can still be answered with its headers. Errors
// map to HTTP through HttpCodeFor:
//  - Unimplemented (415): a content type, proto= message or encoding this
//    endpoint does not speak, an X-Prometheus-Remote-Write-Version that
//    disagrees with the message, or a body of the other version than the
//    Content-Type says (never accepted as empty);
//  - ResourceExhausted (413): uncompressed size over `max_uncompressed`;
//  - InvalidArgument (400): not snappy, not a valid message, or (2.0) a
//    ref outside the symbols table or an odd number of label refs.
absl::Status DecodeRemoteWrite(HttpRequest& request, size_t max_uncompressed, WriteJob* job,
                               RemoteWriteMessage* message);

// Sets the X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written
// headers remote write 2.0 requires on every response. 1.0 responses carry
// none: 1.0 senders do not read them.
void AddWrittenHeaders(const WrittenCounts& counts, HttpResponse* response);

}  // namespace kad::adapter
