#include "bench/loadgen/keepalive_client.h"

#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/http/span_body.hpp"

namespace kad::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

const HeaderList& RemoteWriteHeaders() {
  static const HeaderList headers = {{"Content-Encoding", "snappy"},
                                     {"Content-Type", "application/x-protobuf"},
                                     {"User-Agent", "kad-loadgen"},
                                     {"X-Prometheus-Remote-Write-Version", "0.1.0"}};
  return headers;
}

const HeaderList& RemoteReadHeaders() {
  static const HeaderList headers = {{"Content-Encoding", "snappy"},
                                     {"Accept-Encoding", "snappy"},
                                     {"Content-Type", "application/x-protobuf"},
                                     {"User-Agent", "kad-loadgen"},
                                     {"X-Prometheus-Remote-Read-Version", "0.1.0"}};
  return headers;
}

struct KeepAliveClient::Connection {
  asio::io_context io;
  tcp::socket socket{io};
  beast::flat_buffer buffer;
};

KeepAliveClient::KeepAliveClient(std::string host, uint16_t port)
    : host_(std::move(host)), port_(port) {}

KeepAliveClient::~KeepAliveClient() = default;

absl::StatusOr<HttpReply> KeepAliveClient::Post(std::string_view target, const HeaderList& headers,
                                                std::string_view body, uint64_t max_reply_bytes) {
  beast::error_code ec;
  auto fail = [&](const char* what) {
    connection_.reset();
    return absl::UnavailableError(absl::StrCat(what, " ", host_, ":", port_, ": ", ec.message()));
  };
  if (connection_ == nullptr) {
    connection_ = std::make_unique<Connection>();
    const tcp::endpoint endpoint(asio::ip::make_address(host_, ec), port_);
    if (ec) return fail("bad address");
    connection_->socket.connect(endpoint, ec);
    if (ec) return fail("cannot connect to");
    connection_->socket.set_option(tcp::no_delay(true), ec);
    // beast reads as much as the buffer has room for (512 bytes at the
    // least, 64 KiB at the most): a remote-read answer of megabytes took
    // thousands of reads, timed as part of every peer's latency.
    connection_->buffer.reserve(size_t{1} << 16);
  }

  http::request<http::span_body<const char>> request{
      http::verb::post, beast::string_view(target.data(), target.size()), 11};
  request.set(http::field::host, absl::StrCat(host_, ":", port_));
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = beast::span<const char>(body.data(), body.size());
  request.prepare_payload();
  http::write(connection_->socket, request, ec);
  if (ec) return fail("cannot send to");

  http::response_parser<http::string_body> parser;
  parser.body_limit(max_reply_bytes);
  http::read(connection_->socket, connection_->buffer, parser, ec);
  if (ec) return fail("no reply from");
  http::response<http::string_body> response = parser.release();
  HttpReply reply;
  reply.status = static_cast<int>(response.result_int());
  reply.content_type = std::string(response[http::field::content_type]);
  reply.body = std::move(response.body());
  if (!response.keep_alive()) connection_.reset();
  return reply;
}

}  // namespace kad::bench
