// A small HTTP/1.1 server on Boost.Beast: keep-alive, one request at a time
// per connection, a body limit enforced before the body is read (413), a
// header limit, and a timeout on every read and write. With a web config
// file (adapter/web_config.h) it serves TLS and lets in only requests with
// valid credentials (401 otherwise); bcrypt runs on a thread of its own.
//
// Handlers get the request and a Respond callback they may call later from
// any thread (exactly once); the response is written on the connection's
// strand, so a handler never blocks a network thread.
//
// Thread-safe: Start/Stop from the owning thread; handlers run on network
// threads and must hand blocking work to other threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "adapter/log.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/beast/http.hpp"

namespace kad::adapter {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;
using Respond = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(HttpRequest&&, Respond)>;

// A response with a one-line plain-text body (errors) or none (204).
HttpResponse TextResponse(int code, std::string_view body);

struct HttpServerOptions {
  // Default: ":9201". host:port; an empty host listens on every address.
  std::string listen_address = ":9201";
  // Default: 1. Network threads.
  int threads = 1;
  // Default: 32 MiB. Larger bodies get 413 before they are read.
  size_t max_body_bytes = size_t{32} << 20;
  // Default: 64 KiB. Larger request headers get 431.
  uint32_t max_header_bytes = 64 << 10;
  // Default: 60 s (--web.read-timeout). Each read (headers plus body) and
  // write must finish in time; an idle kept-alive connection is closed then.
  std::chrono::milliseconds io_timeout{60'000};
  // Default: none (plain HTTP, no authentication). Prometheus' web config
  // format: TLS, basic_auth_users, bearer_tokens_file.
  std::string web_config_file;
  // Default: 256. Password checks waiting for bcrypt; more get 503.
  int max_queued_password_checks = 256;
};

// The TLS context, credentials and headers of one web config (http_server.cc).
struct WebSecurity;
// The thread password checks run on (http_server.cc).
class PasswordCheckQueue;

class HttpServer {
 public:
  HttpServer(const HttpServerOptions& options, HttpHandler handler, const Logger* log);
  ~HttpServer();

  // Loads the web config, binds and starts the network threads. Unavailable
  // if the address cannot be bound; InvalidArgument if it or the web config
  // cannot be parsed.
  absl::Status Start();
  // Re-reads the web config file (certificates, users, tokens) for new
  // connections; on error the old one stays. Turning TLS on or off needs a
  // restart. Thread-safe.
  absl::Status ReloadWebConfig();
  // Stops accepting, closes connections, joins the threads.
  void Stop();
  // The bound port (useful with port 0).
  uint16_t port() const { return port_; }

 private:
  void Accept();
  absl::StatusOr<std::shared_ptr<const WebSecurity>> LoadSecurity() const;
  std::shared_ptr<const WebSecurity> security() const;

  const HttpServerOptions options_;
  HttpHandler handler_;
  const Logger* log_;
  boost::asio::io_context io_;
  // After io_: destroyed first, so no check outlives the sessions' executor.
  std::unique_ptr<PasswordCheckQueue> password_checks_;
  boost::asio::ip::tcp::acceptor acceptor_;
  // Paces accepts after a failure (out of file descriptors fails every one).
  boost::asio::steady_timer accept_retry_;
  std::chrono::milliseconds accept_backoff_{0};
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  mutable absl::Mutex mu_;
  std::shared_ptr<const WebSecurity> security_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kad::adapter
