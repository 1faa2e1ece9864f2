// A small HTTP/1.1 server on Boost.Beast: keep-alive, one request at a time
// per connection, a body limit enforced before the body is read (413), a
// header limit, and a timeout on every read and write.
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

#include "absl/status/status.h"
#include "adapter/log.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
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
  // Default: 60 s. Each read (headers plus body) and write must finish in time.
  std::chrono::seconds io_timeout{60};
};

class HttpServer {
 public:
  HttpServer(const HttpServerOptions& options, HttpHandler handler, const Logger* log);
  ~HttpServer();

  // Binds and starts the network threads. Unavailable if the address
  // cannot be bound; InvalidArgument if it cannot be parsed.
  absl::Status Start();
  // Stops accepting, closes connections, joins the threads.
  void Stop();
  // The bound port (useful with port 0).
  uint16_t port() const { return port_; }

 private:
  void Accept();

  const HttpServerOptions options_;
  HttpHandler handler_;
  const Logger* log_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
};

}  // namespace kad::adapter
