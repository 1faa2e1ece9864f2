// The one mapping from absl::Status to an HTTP status code, as Prometheus'
// remote-write handler answers: invalid input 400 (Prometheus drops the
// batch), unsupported media 415, too large 413, overload and storage
// failures 503 (Prometheus retries), anything else 500.
#pragma once

#include "absl/status/status.h"

namespace kad::adapter {

inline int HttpCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 204;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kUnimplemented:
      return 415;
    case absl::StatusCode::kResourceExhausted:
      return 413;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

}  // namespace kad::adapter
