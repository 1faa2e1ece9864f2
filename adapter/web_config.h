// The web configuration file (--web.config.file), in the format of Prometheus'
// exporter-toolkit, plus one extension for bearer tokens:
//
//   tls_server_config:
//     cert_file: server.crt                 # or cert: <PEM>
//     key_file: server.key                  # or key: <PEM>
//     client_auth_type: RequireAndVerifyClientCert
//     client_ca_file: clients-ca.crt        # or client_ca: <PEM>
//     min_version: TLS12
//   http_server_config:
//     headers: {Strict-Transport-Security: max-age=31536000}
//   basic_auth_users:
//     prometheus: $2y$10$agv4CFhnn59Pvmq/WmQASuwHTI/4UdOCHP3SdYUbcPfE6K/hzOZJu
//   bearer_tokens_file: tokens              # extension: one token per line
//
// Relative file names are relative to the web config file's folder. Settings
// this server does not implement (rate_limit, cipher_suites,
// curve_preferences, client_allowed_sans) are refused, not ignored;
// http_server_config.http2 is accepted and has no effect (HTTP/1.1 only). When
// basic_auth_users or bearer tokens are given, every endpoint requires one of
// them. Authenticator checks an Authorization header against the
// configuration: bcrypt is slow on purpose (~100 ms at cost 10), so a
// password that passed once is remembered and later requests compare digests
// only. Authenticator is thread-safe.
//
//   absl::StatusOr<WebConfig> config = LoadWebConfig("web.yml");
//   Authenticator auth(*config);
//   AuthResult r = auth.CheckWithoutHashing(header);
//   if (r.verdict == AuthVerdict::kNeedsHashing) r = auth.Check(header);  // off the network thread
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace boost::asio::ssl {
class context;
}

namespace kad::adapter {

// Go's tls.ClientAuthType names, as exporter-toolkit takes them.
enum class ClientAuthType {
  kNoClientCert,
  kRequestClientCert,
  kRequireAnyClientCert,
  kVerifyClientCertIfGiven,
  kRequireAndVerifyClientCert,
};

struct TlsServerConfig {
  // PEM text, from cert_file/key_file/client_ca_file or given inline.
  std::string cert_pem;
  std::string key_pem;
  std::string client_ca_pem;
  // Default: kNoClientCert.
  ClientAuthType client_auth_type = ClientAuthType::kNoClientCert;
  // Default: TLS 1.2 to TLS 1.3 (OpenSSL's TLS1_2_VERSION, TLS1_3_VERSION).
  int min_version = 0x0303;
  int max_version = 0x0304;
  // Default: true. The server's cipher order wins.
  bool prefer_server_cipher_suites = true;
};

struct WebConfig {
  // Default: none (plain HTTP).
  std::unique_ptr<TlsServerConfig> tls;
  // Default: none. Added to every response (http_server_config.headers).
  std::vector<std::pair<std::string, std::string>> headers;
  // Default: none. User name -> bcrypt hash ($2a$, $2b$ or $2y$).
  std::map<std::string, std::string> basic_auth_users;
  // Default: none. Accepted bearer tokens, from bearer_tokens_file.
  std::vector<std::string> bearer_tokens;
};

// Reads and checks the file and every file it names. InvalidArgument naming
// the key for a bad or unknown setting; NotFound for a missing file.
absl::StatusOr<WebConfig> LoadWebConfig(const std::string& path);
// The same from text; relative file names are taken from `base_dir`.
absl::StatusOr<WebConfig> ParseWebConfig(std::string_view yaml, const std::string& base_dir);

// An OpenSSL server context for the TLS settings. InvalidArgument when the
// certificate, key or CA does not load or the key does not match.
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> MakeServerTlsContext(
    const TlsServerConfig& tls);

enum class AuthVerdict { kAllowed, kDenied, kNeedsHashing };

struct AuthResult {
  AuthVerdict verdict;
  // Why access was denied, one line; the user name when allowed by password.
  std::string detail;
};

// Thread-safe. Holds the credentials of one WebConfig.
class Authenticator {
 public:
  explicit Authenticator(const WebConfig& config);

  bool required() const { return !users_.empty() || !token_digests_.empty(); }
  bool accepts_basic() const { return !users_.empty(); }
  bool accepts_bearer() const { return !token_digests_.empty(); }

  // Decides without bcrypt when it can: no auth configured, a bearer token,
  // a malformed or missing header, or a password that passed before.
  // kNeedsHashing otherwise.
  AuthResult CheckWithoutHashing(std::string_view authorization) const;
  // Decides always, running bcrypt when needed (slow: call off the network
  // threads). Never returns kNeedsHashing.
  AuthResult Check(std::string_view authorization) const;

 private:
  using Digest = std::array<uint8_t, 32>;
  AuthResult Decide(std::string_view authorization, bool may_hash) const;

  std::map<std::string, std::string> users_;  // user -> bcrypt hash
  std::vector<Digest> token_digests_;
  mutable absl::Mutex mu_;
  // One verified password digest per user; bounded by the number of users.
  mutable absl::flat_hash_map<std::string, Digest> verified_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kad::adapter
