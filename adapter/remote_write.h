// Remote write 1.0 request checks and decoding (POST /api/v1/write).
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "adapter/engine.h"
#include "adapter/http_server.h"

namespace kad::adapter {

// Checks the request's content headers, then uncompresses and decodes its
// body into `job`. Errors map to HTTP through HttpCodeFor:
//  - Unimplemented (415): a content type, encoding or protocol version
//    other than remote write 1.0 (a 2.0 body is never accepted as empty);
//  - ResourceExhausted (413): uncompressed size over `max_uncompressed`;
//  - InvalidArgument (400): not snappy, or not a WriteRequest.
absl::Status DecodeRemoteWrite(HttpRequest& request, size_t max_uncompressed, WriteJob* job);

}  // namespace kad::adapter
