// Remote read (POST /api/v1/read): request decoding and the two response
// encodings, SAMPLES (snappy ReadResponse, what Prometheus 2.42 asks for)
// and STREAMED_XOR_CHUNKS (framed ChunkedReadResponse, 2.55+).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "adapter/engine.h"
#include "adapter/http_server.h"
#include "adapter/read_answer.h"

namespace kad::adapter {

struct RemoteReadRequest {
  std::vector<ReadQuery> queries;
  bool streamed = false;  // STREAMED_XOR_CHUNKS came before SAMPLES
};

// InvalidArgument (400) for a body that is not a snappy ReadRequest or has
// an invalid matcher; ResourceExhausted (413) beyond `max_uncompressed`.
absl::StatusOr<RemoteReadRequest> DecodeRemoteRead(const HttpRequest& request,
                                                   size_t max_uncompressed);

// A complete SAMPLES response: one QueryResult per query, in order (from
// answers in the SAMPLES format).
HttpResponse SamplesResponse(const std::vector<QueryAnswer>& answers);

// A complete STREAMED_XOR_CHUNKS response: per query, per series, its
// frames (from answers in the streamed format).
HttpResponse ChunkedResponse(const std::vector<QueryAnswer>& answers);

}  // namespace kad::adapter
