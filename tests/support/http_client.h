// A synchronous HTTP/1.1 client for tests: one request per connection to
// 127.0.0.1, the whole exchange bounded by a 10 s timeout, so a hung server
// fails the test instead of hanging it.
//
//   absl::StatusOr<HttpResult> r = HttpCall(port, "GET", "/-/ready");
//   EXPECT_EQ(r->status, 200);
//
// Thread-safe: every call has its own connection and io_context.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace kad::testing {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpResult {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names in lower case

  // The header's value, or "" when it is missing; `name` in lower case.
  std::string Header(const std::string& name) const;
};

// Sends `method` (e.g. "POST") `target` with `body` and `headers` to
// 127.0.0.1:`port`. Unavailable when the connection fails or the 10 s
// timeout passes; any HTTP status is an OK result.
absl::StatusOr<HttpResult> HttpCall(uint16_t port, std::string_view method, std::string target,
                                    std::string body = "", HttpHeaders headers = {});

}  // namespace kad::testing
