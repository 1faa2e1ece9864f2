// A blocking HTTP/1.1 client over one kept-alive connection, for load
// generation: request bodies are sent from the caller's bytes without a
// copy, and the connection is reopened after an error.
//
//   KeepAliveClient client("127.0.0.1", 9201);
//   absl::StatusOr<HttpReply> r =
//       client.Post("/api/v1/write", RemoteWriteHeaders(), body);  // r->status == 204
//
// Not thread-safe: one client per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace kad::bench {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpReply {
  int status = 0;
  std::string content_type;
  std::string body;  // after any chunked transfer encoding is undone
};

// The headers Prometheus 2.42 sends with a remote-write 1.0 request.
const HeaderList& RemoteWriteHeaders();
// The headers Prometheus 2.42 sends with a remote-read request.
const HeaderList& RemoteReadHeaders();

class KeepAliveClient {
 public:
  KeepAliveClient(std::string host, uint16_t port);
  ~KeepAliveClient();
  KeepAliveClient(const KeepAliveClient&) = delete;
  KeepAliveClient& operator=(const KeepAliveClient&) = delete;

  // POSTs `body` to `target` and reads the whole reply (of at most
  // `max_reply_bytes`). Unavailable on a connection, send or receive error;
  // the next call reconnects.
  absl::StatusOr<HttpReply> Post(std::string_view target, const HeaderList& headers,
                                 std::string_view body, uint64_t max_reply_bytes = 1 << 20);

 private:
  struct Connection;
  std::string host_;
  uint16_t port_;
  std::unique_ptr<Connection> connection_;
};

}  // namespace kad::bench
