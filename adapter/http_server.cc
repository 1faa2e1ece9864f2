#include "adapter/http_server.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <type_traits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "adapter/absl_view.h"
#include "adapter/thread_name.h"
#include "adapter/web_config.h"
#include "boost/asio/ip/v6_only.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/asio/strand.hpp"
#include "boost/asio/thread_pool.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/ssl.hpp"

namespace kad::adapter {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

}  // namespace

struct WebSecurity {
  explicit WebSecurity(const WebConfig& config) : auth(config), headers(config.headers) {}

  Authenticator auth;
  std::vector<std::pair<std::string, std::string>> headers;
  // Null for plain HTTP.
  std::shared_ptr<asio::ssl::context> tls;
};

// bcrypt takes ~100 ms by design: it runs on one thread of its own, never on
// a network thread, and the checks waiting are bounded, so a flood of guesses
// gets 503s instead of growing memory.
class PasswordCheckQueue {
 public:
  explicit PasswordCheckQueue(int max_queued) : max_queued_(max_queued) {
    NamePoolThreads(pool_, 1, "kad-password");
  }

  // False when max_queued checks already wait.
  template <class Check>
  bool TryPost(Check check) {
    if (queued_.fetch_add(1) >= max_queued_) {
      queued_.fetch_sub(1);
      return false;
    }
    asio::post(pool_, [this, check = std::move(check)]() mutable {
      queued_.fetch_sub(1);
      check();
    });
    return true;
  }

  void Stop() {
    pool_.stop();
    pool_.join();
  }

 private:
  const int max_queued_;
  std::atomic<int> queued_{0};
  asio::thread_pool pool_{1};
};

namespace {

// One connection, plain (beast::tcp_stream) or TLS (beast::ssl_stream). Lives
// as long as an async operation, a password check or a pending Respond holds
// a shared_ptr to it.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  Session(tcp::socket socket, const HttpServerOptions& options, const HttpHandler& handler,
          std::shared_ptr<const WebSecurity> security, PasswordCheckQueue* password_checks)
      : options_(options),
        handler_(handler),
        security_(std::move(security)),
        password_checks_(password_checks),
        stream_(MakeStream(std::move(socket), *security_)) {}

  void Run() {
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) {
        self->Handshake();
      } else {
        self->Read();
      }
    });
  }

 private:
  static Stream MakeStream(tcp::socket socket, const WebSecurity& security) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *security.tls);
    } else {
      return Stream(std::move(socket));
    }
  }

  void Handshake() {
    beast::get_lowest_layer(stream_).expires_after(options_.io_timeout);
    stream_.async_handshake(asio::ssl::stream_base::server,
                            [self = this->shared_from_this()](beast::error_code ec) {
                              // A client that cannot agree on TLS gets no HTTP answer.
                              if (ec) return self->CloseSocket();
                              self->Read();
                            });
  }

  void Read() {
    parser_.emplace();
    parser_->body_limit(options_.max_body_bytes);
    parser_->header_limit(options_.max_header_bytes);
    beast::get_lowest_layer(stream_).expires_after(options_.io_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->ReadBody(ec); });
  }

  // beast reads as much as buffer_ has room for, 512 bytes at the least:
  // with the room a header leaves, a 60 KB remote-write body took 120 reads,
  // each with a wait for the socket and a re-armed timer (three system
  // calls), and the network thread was the ingest bottleneck. Room for the
  // body, up to what beast reads at once, is made once per connection that
  // sends one, and kept for its next request.
  void ReadBody(beast::error_code ec) {
    if (ec || parser_->is_done()) return OnRead(ec);
    // Chunked bodies do not say their size.
    buffer_.reserve(static_cast<size_t>(
        std::min(parser_->content_length_remaining().value_or(kMaxReadBytes), kMaxReadBytes)));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
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
        ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
      return Close();
    }
    if (ec) return Write(TextResponse(400, ec.message()), /*close=*/true);

    request_ = parser_->release();
    // Nothing is read while the request is checked and handled; the timeout
    // restarts at Write.
    beast::get_lowest_layer(stream_).expires_never();
    const std::string_view authorization = request_[http::field::authorization];
    AuthResult auth = security_->auth.CheckWithoutHashing(authorization);
    if (auth.verdict != AuthVerdict::kNeedsHashing) return Dispatch(std::move(auth));
    const bool queued = password_checks_->TryPost([self = this->shared_from_this()] {
      AuthResult result = self->security_->auth.Check(self->request_[http::field::authorization]);
      asio::post(self->stream_.get_executor(), [self, result = std::move(result)]() mutable {
        self->Dispatch(std::move(result));
      });
    });
    if (!queued) {
      Write(TextResponse(503, "too many password checks in progress; retry later"),
            !request_.keep_alive());
    }
  }

  void Dispatch(AuthResult auth) {
    const bool close = !request_.keep_alive();
    if (auth.verdict != AuthVerdict::kAllowed) return Write(Unauthorized(auth.detail), close);
    handler_(std::move(request_), [self = this->shared_from_this(), close](HttpResponse response) {
      asio::post(self->stream_.get_executor(),
                 [self, close, response = std::move(response)]() mutable {
                   self->Write(std::move(response), close);
                 });
    });
  }

  HttpResponse Unauthorized(std::string_view reason) const {
    HttpResponse response = TextResponse(401, reason);
    if (security_->auth.accepts_basic()) {
      response.insert(http::field::www_authenticate, R"(Basic realm="k8s-anomaly-detector")");
    }
    if (security_->auth.accepts_bearer()) {
      response.insert(http::field::www_authenticate, R"(Bearer realm="k8s-anomaly-detector")");
    }
    return response;
  }

  void Write(HttpResponse response, bool close) {
    response_ = std::make_unique<HttpResponse>(std::move(response));
    for (const auto& [name, value] : security_->headers) response_->set(name, value);
    response_->keep_alive(!close);
    response_->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(options_.io_timeout);
    http::async_write(stream_, *response_,
                      [self = this->shared_from_this(), close](beast::error_code ec, size_t) {
                        self->response_.reset();
                        if (ec || close) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(options_.io_timeout);
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->CloseSocket(); });
    } else {
      CloseSocket();
    }
  }

  void CloseSocket() {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ignored);
    beast::get_lowest_layer(stream_).close();
  }

  const HttpServerOptions& options_;
  const HttpHandler& handler_;
  // Before stream_: a TLS stream uses the context it holds.
  const std::shared_ptr<const WebSecurity> security_;
  PasswordCheckQueue* password_checks_;
  Stream stream_;
  beast::flat_buffer buffer_;
  // beast reads at most this much at a time.
  static constexpr uint64_t kMaxReadBytes = 65536;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpRequest request_;
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
    : options_(options),
      handler_(std::move(handler)),
      log_(log),
      password_checks_(std::make_unique<PasswordCheckQueue>(options_.max_queued_password_checks)),
      acceptor_(io_),
      accept_retry_(io_) {}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<std::shared_ptr<const WebSecurity>> HttpServer::LoadSecurity() const {
  if (options_.web_config_file.empty()) return std::make_shared<const WebSecurity>(WebConfig());
  absl::StatusOr<WebConfig> config = LoadWebConfig(options_.web_config_file);
  if (!config.ok()) return config.status();
  auto security = std::make_shared<WebSecurity>(*config);
  if (config->tls != nullptr) {
    absl::StatusOr<std::shared_ptr<asio::ssl::context>> tls = MakeServerTlsContext(*config->tls);
    if (!tls.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(options_.web_config_file, ": ", tls.status().message()));
    }
    security->tls = *std::move(tls);
  }
  return security;
}

std::shared_ptr<const WebSecurity> HttpServer::security() const {
  absl::MutexLock lock(&mu_);
  return security_;
}

absl::Status HttpServer::ReloadWebConfig() {
  absl::StatusOr<std::shared_ptr<const WebSecurity>> loaded = LoadSecurity();
  if (!loaded.ok()) return loaded.status();
  absl::MutexLock lock(&mu_);
  if (security_ != nullptr && ((*loaded)->tls == nullptr) != (security_->tls == nullptr)) {
    return absl::FailedPreconditionError(absl::StrCat(
        options_.web_config_file, ": turning TLS on or off takes a restart; kept the old config"));
  }
  security_ = *std::move(loaded);
  return absl::OkStatus();
}

absl::Status HttpServer::Start() {
  if (absl::Status s = ReloadWebConfig(); !s.ok()) return s;
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
  for (int i = 0; i < options_.threads; ++i) {
    threads_.emplace_back([this, i] {
      NameThisThread(absl::StrCat("kad-http-", i));
      io_.run();
    });
  }
  return absl::OkStatus();
}

void HttpServer::Accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
      std::shared_ptr<const WebSecurity> current = security();
      if (current->tls != nullptr) {
        std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
            std::move(socket), options_, handler_, std::move(current), password_checks_.get())
            ->Run();
      } else {
        std::make_shared<Session<beast::tcp_stream>>(std::move(socket), options_, handler_,
                                                     std::move(current), password_checks_.get())
            ->Run();
      }
    } else {
      // Out of file descriptors, every accept fails at once: wait before
      // the next one, longer each time (as Go's net/http does), instead of
      // spinning a network thread. Waiting connections stay in the backlog.
      accept_backoff_ = std::clamp(2 * accept_backoff_, std::chrono::milliseconds(5),
                                   std::chrono::milliseconds(1000));
      log_->Warn("accept failed; retrying",
                 {{"err", ec.message()}, {"in_ms", absl::StrCat(accept_backoff_.count())}});
      accept_retry_.expires_after(accept_backoff_);
      accept_retry_.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec) Accept();
      });
      return;
    }
    accept_backoff_ = std::chrono::milliseconds(0);
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
  password_checks_->Stop();
}

}  // namespace kad::adapter
