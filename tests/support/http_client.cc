#include "tests/support/http_client.h"

#include <chrono>
#include <limits>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"

namespace kad::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

constexpr std::chrono::seconds kTimeout{10};

}  // namespace

std::string HttpResult::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

absl::StatusOr<HttpResult> HttpCall(uint16_t port, std::string_view method, std::string target,
                                    std::string body, HttpHeaders headers) {
  const http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) {
    return absl::InvalidArgumentError(absl::StrCat("unknown HTTP method ", std::string(method)));
  }
  http::request<http::string_body> request(verb, target, 11);
  request.set(http::field::host, absl::StrCat("127.0.0.1:", port));
  request.set(http::field::user_agent, "kad-test-client");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = std::move(body);
  request.keep_alive(false);
  request.prepare_payload();

  // Asynchronous operations on one io_context, so tcp_stream's deadline
  // covers connect, write and read together; blocking calls would ignore it.
  asio::io_context io;
  beast::tcp_stream stream(io);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  std::optional<beast::error_code> connect_error;
  beast::error_code write_error;
  beast::error_code read_error;
  bool read_done = false;

  auto read = [&] {
    http::async_read(stream, buffer, parser, [&](beast::error_code ec, size_t) {
      read_error = ec;
      read_done = true;
    });
  };
  stream.expires_after(kTimeout);
  stream.async_connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                       [&](beast::error_code ec) {
                         connect_error = ec;
                         if (ec) return;
                         http::async_write(stream, request, [&](beast::error_code ec, size_t) {
                           // A server may answer (413) and close before the body is sent:
                           // the answer is still worth reading.
                           write_error = ec;
                           read();
                         });
                       });
  io.run();

  if (connect_error.value_or(beast::error_code{})) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to 127.0.0.1:", port, ": ", connect_error->message()));
  }
  if (!read_done || (read_error && !parser.is_header_done())) {
    return absl::UnavailableError(
        absl::StrCat(std::string(method), " ", target, " on port ", port,
                     " got no response: ", read_error ? read_error.message() : "",
                     write_error ? absl::StrCat(" (write: ", write_error.message(), ")") : ""));
  }
  if (read_error && read_error != http::error::end_of_stream) {
    return absl::UnavailableError(absl::StrCat(std::string(method), " ", target,
                                               ": incomplete response: ", read_error.message()));
  }
  const http::response<http::string_body>& response = parser.get();
  HttpResult result;
  result.status = response.result_int();
  result.body = response.body();
  for (const auto& field : response) {
    result.headers[absl::AsciiStrToLower(std::string(field.name_string()))] =
        std::string(field.value());
  }
  beast::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  return result;
}

}  // namespace kad::testing
