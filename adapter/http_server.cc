#include "adapter/http_server.h"

#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "adapter/absl_view.h"
#include "boost/asio/ip/v6_only.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/strand.hpp"
#include "boost/beast/core.hpp"

namespace kad::adapter {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// One connection. Lives as long as an async operation or a pending
// Respond holds a shared_ptr to it.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpServerOptions& options, const HttpHandler& handler)
      : stream_(std::move(socket)), options_(options), handler_(handler) {}

  void Run() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->body_limit(options_.max_body_bytes);
    parser_->header_limit(options_.max_header_bytes);
    stream_.expires_after(options_.io_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return Write(TextResponse(413, absl::StrCat("request body exceeds the limit of ",
                                                  options_.max_body_bytes, " bytes")),
                   /*close=*/true);
    }
    if (ec == http::error::header_limit) {
      return Write(TextResponse(431, "request headers exceed the limit"),
                   /*close=*/true);
    }
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == asio::error::eof) {
      return Close();
    }
    if (ec) return Write(TextResponse(400, ec.message()), /*close=*/true);

    HttpRequest request = parser_->release();
    const bool close = !request.keep_alive();
    // Nothing is read while the handler works; the timeout restarts at Write.
    stream_.expires_never();
    handler_(std::move(request), [self = shared_from_this(), close](HttpResponse response) {
      asio::post(self->stream_.get_executor(),
                 [self, close, response = std::move(response)]() mutable {
                   self->Write(std::move(response), close);
                 });
    });
  }

  void Write(HttpResponse response, bool close) {
    response_ = std::make_unique<HttpResponse>(std::move(response));
    response_->keep_alive(!close);
    response_->prepare_payload();
    stream_.expires_after(options_.io_timeout);
    http::async_write(stream_, *response_,
                      [self = shared_from_this(), close](beast::error_code ec, size_t) {
                        self->response_.reset();
                        if (ec || close) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  const HttpServerOptions& options_;
  const HttpHandler& handler_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::unique_ptr<HttpResponse> response_;
};

absl::StatusOr<tcp::endpoint> ParseListenAddress(std::string_view address) {
  const size_t colon = address.rfind(':');
  uint32_t port = 0;
  if (colon == std::string_view::npos ||
      !absl::SimpleAtoi(AbslView(address.substr(colon + 1)), &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", AbslView(address), "\" is not host:port (e.g. :9201)"));
  }
  std::string host(address.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) return tcp::endpoint(tcp::v6(), static_cast<uint16_t>(port));
  if (host == "localhost") host = "127.0.0.1";
  beast::error_code ec;
  asio::ip::address ip = asio::ip::make_address(host, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat("listen address \"", AbslView(address), "\": \"",
                                                   host, "\" is not an IP address"));
  }
  return tcp::endpoint(ip, static_cast<uint16_t>(port));
}

}  // namespace

HttpResponse TextResponse(int code, std::string_view body) {
  HttpResponse response(static_cast<http::status>(code), 11);
  response.set(http::field::server, "k8s-anomaly-detector");
  if (!body.empty()) {
    response.set(http::field::content_type, "text/plain; charset=utf-8");
    response.body() = absl::StrCat(AbslView(body), "\n");
  }
  return response;
}

HttpServer::HttpServer(const HttpServerOptions& options, HttpHandler handler, const Logger* log)
    : options_(options), handler_(std::move(handler)), log_(log), acceptor_(io_) {}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start() {
  absl::StatusOr<tcp::endpoint> endpoint = ParseListenAddress(options_.listen_address);
  if (!endpoint.ok()) return endpoint.status();
  beast::error_code ec;
  acceptor_.open(endpoint->protocol(), ec);
  if (!ec && endpoint->address().is_v6()) acceptor_.set_option(asio::ip::v6_only(false), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(*endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options_.listen_address, ": ", ec.message()));
  }
  port_ = acceptor_.local_endpoint().port();
  Accept();
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { io_.run(); });
  return absl::OkStatus();
}

void HttpServer::Accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
      std::make_shared<Session>(std::move(socket), options_, handler_)->Run();
    } else {
      log_->Warn("accept failed", {{"err", ec.message()}});
    }
    Accept();
  });
}

void HttpServer::Stop() {
  if (threads_.empty()) return;
  asio::post(io_, [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
  });
  io_.stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

}  // namespace kad::adapter
