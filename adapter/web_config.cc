#include "adapter/web_config.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/types/span.h"
#include "adapter/absl_view.h"
#include "boost/asio/ssl/context.hpp"
#include "yaml-cpp/yaml.h"

namespace kad::adapter {
namespace {

namespace ssl = boost::asio::ssl;

constexpr std::string_view kTopKeys[] = {"tls_server_config", "http_server_config",
                                         "basic_auth_users", "bearer_tokens_file"};
constexpr std::string_view kTlsKeys[] = {"cert",
                                         "key",
                                         "client_ca",
                                         "cert_file",
                                         "key_file",
                                         "client_ca_file",
                                         "client_auth_type",
                                         "min_version",
                                         "max_version",
                                         "prefer_server_cipher_suites"};
constexpr std::string_view kHttpKeys[] = {"http2", "headers"};
// The headers exporter-toolkit lets the file set.
constexpr std::string_view kHeaders[] = {"Content-Security-Policy", "X-Frame-Options",
                                         "X-Content-Type-Options", "X-XSS-Protection",
                                         "Strict-Transport-Security"};
// exporter-toolkit settings this server does not implement: refused rather
// than ignored, so nobody believes they are in force.
constexpr std::string_view kUnsupportedKeys[] = {"rate_limit", "cipher_suites", "curve_preferences",
                                                 "client_allowed_sans"};

constexpr std::pair<std::string_view, ClientAuthType> kClientAuthTypes[] = {
    {"NoClientCert", ClientAuthType::kNoClientCert},
    {"RequestClientCert", ClientAuthType::kRequestClientCert},
    {"RequireAnyClientCert", ClientAuthType::kRequireAnyClientCert},
    {"VerifyClientCertIfGiven", ClientAuthType::kVerifyClientCertIfGiven},
    {"RequireAndVerifyClientCert", ClientAuthType::kRequireAndVerifyClientCert},
};
constexpr std::pair<std::string_view, int> kTlsVersions[] = {
    {"TLS10", TLS1_VERSION},
    {"TLS11", TLS1_1_VERSION},
    {"TLS12", TLS1_2_VERSION},
    {"TLS13", TLS1_3_VERSION},
};

// Any bcrypt hash of cost 10: checked against for unknown users so that a
// wrong user name takes as long as a wrong password.
constexpr char kUnknownUserHash[] = "$2b$10$EHAuV.sLUvVAsRbvEnYTvOYmF5nAIYRAzQf9Tbige3Bha6Rstys.q";

absl::Status Error(std::string_view path, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(AbslView(path), ": ", message));
}

bool Contains(absl::Span<const std::string_view> list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

absl::Status CheckKeys(const YAML::Node& map, std::string_view path,
                       absl::Span<const std::string_view> valid) {
  if (!map.IsMap()) return Error(path, "expected a map of keys");
  for (const auto& kv : map) {
    const std::string& key = kv.first.Scalar();
    if (Contains(valid, key)) continue;
    if (Contains(kUnsupportedKeys, key)) {
      return Error(path, absl::StrCat(key, " is not supported by k8s-anomaly-detector"));
    }
    std::vector<absl::string_view> names;
    for (std::string_view v : valid) names.push_back(AbslView(v));
    return Error(
        path, absl::StrCat("unknown key ", key, "; valid keys here: ", absl::StrJoin(names, ", ")));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Scalar(const YAML::Node& node, std::string_view path) {
  if (!node.IsScalar()) return Error(path, "expected a single value");
  return node.Scalar();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Resolve(const std::string& base_dir, const std::string& file) {
  if (file.empty() || file.front() == '/' || base_dir.empty()) return file;
  return absl::StrCat(base_dir, "/", file);
}

// PEM text given inline under `inline_key` or in a file under `file_key`.
absl::StatusOr<std::string> Pem(const YAML::Node& tls, const char* inline_key, const char* file_key,
                                const std::string& base_dir) {
  const YAML::Node text = tls[inline_key];
  const YAML::Node file = tls[file_key];
  const std::string path = absl::StrCat("tls_server_config.", file_key);
  if (text.IsDefined() && file.IsDefined()) {
    return Error(path, absl::StrCat("give either ", inline_key, " or ", file_key, ", not both"));
  }
  if (text.IsDefined()) return Scalar(text, absl::StrCat("tls_server_config.", inline_key));
  if (!file.IsDefined()) return std::string();
  absl::StatusOr<std::string> name = Scalar(file, path);
  if (!name.ok()) return name.status();
  absl::StatusOr<std::string> pem = ReadFile(Resolve(base_dir, *name));
  if (!pem.ok()) return Error(path, pem.status().message());
  return pem;
}

absl::StatusOr<int> TlsVersion(const YAML::Node& node, std::string_view path, int fallback) {
  if (!node.IsDefined()) return fallback;
  absl::StatusOr<std::string> name = Scalar(node, path);
  if (!name.ok()) return name.status();
  for (const auto& [text, version] : kTlsVersions) {
    if (text == *name) return version;
  }
  return Error(path, absl::StrCat("unknown TLS version ", *name, "; one of TLS10 to TLS13"));
}

absl::StatusOr<std::unique_ptr<TlsServerConfig>> ParseTls(const YAML::Node& node,
                                                          const std::string& base_dir) {
  constexpr std::string_view kPath = "tls_server_config";
  // An empty section means plain HTTP, as in exporter-toolkit.
  if (node.IsNull() || (node.IsMap() && node.size() == 0)) return nullptr;
  if (absl::Status s = CheckKeys(node, kPath, kTlsKeys); !s.ok()) return s;
  auto tls = std::make_unique<TlsServerConfig>();
  absl::StatusOr<std::string> cert = Pem(node, "cert", "cert_file", base_dir);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = Pem(node, "key", "key_file", base_dir);
  if (!key.ok()) return key.status();
  absl::StatusOr<std::string> ca = Pem(node, "client_ca", "client_ca_file", base_dir);
  if (!ca.ok()) return ca.status();
  if (cert->empty() || key->empty()) {
    return Error(kPath, "needs cert_file (or cert) and key_file (or key)");
  }
  tls->cert_pem = *std::move(cert);
  tls->key_pem = *std::move(key);
  tls->client_ca_pem = *std::move(ca);

  if (const YAML::Node type = node["client_auth_type"]; type.IsDefined()) {
    absl::StatusOr<std::string> name = Scalar(type, "tls_server_config.client_auth_type");
    if (!name.ok()) return name.status();
    auto it = std::find_if(std::begin(kClientAuthTypes), std::end(kClientAuthTypes),
                           [&](const auto& entry) { return entry.first == *name; });
    if (it == std::end(kClientAuthTypes)) {
      return Error("tls_server_config.client_auth_type",
                   absl::StrCat("unknown type ", *name,
                                "; one of NoClientCert, RequestClientCert, RequireAnyClientCert, "
                                "VerifyClientCertIfGiven, RequireAndVerifyClientCert"));
    }
    tls->client_auth_type = it->second;
  }
  const bool verifies = tls->client_auth_type == ClientAuthType::kVerifyClientCertIfGiven ||
                        tls->client_auth_type == ClientAuthType::kRequireAndVerifyClientCert;
  if (verifies && tls->client_ca_pem.empty()) {
    return Error(kPath, "client_auth_type verifies client certificates: it needs client_ca_file");
  }
  if (!tls->client_ca_pem.empty() && tls->client_auth_type == ClientAuthType::kNoClientCert) {
    return Error(kPath,
                 "client_ca_file is set but client_auth_type is NoClientCert; use "
                 "RequireAndVerifyClientCert");
  }

  absl::StatusOr<int> min =
      TlsVersion(node["min_version"], "tls_server_config.min_version", tls->min_version);
  if (!min.ok()) return min.status();
  absl::StatusOr<int> max =
      TlsVersion(node["max_version"], "tls_server_config.max_version", tls->max_version);
  if (!max.ok()) return max.status();
  if (*min > *max) return Error(kPath, "min_version is above max_version");
  tls->min_version = *min;
  tls->max_version = *max;

  if (const YAML::Node prefer = node["prefer_server_cipher_suites"]; prefer.IsDefined()) {
    absl::StatusOr<std::string> value =
        Scalar(prefer, "tls_server_config.prefer_server_cipher_suites");
    if (!value.ok()) return value.status();
    if (*value != "true" && *value != "false") {
      return Error("tls_server_config.prefer_server_cipher_suites", "expects true or false");
    }
    tls->prefer_server_cipher_suites = *value == "true";
  }
  return tls;
}

absl::Status ParseHttp(const YAML::Node& node, WebConfig* config) {
  if (node.IsNull()) return absl::OkStatus();
  if (absl::Status s = CheckKeys(node, "http_server_config", kHttpKeys); !s.ok()) return s;
  // http2 is accepted for files shared with Prometheus; this server speaks HTTP/1.1.
  if (const YAML::Node http2 = node["http2"]; http2.IsDefined()) {
    absl::StatusOr<std::string> value = Scalar(http2, "http_server_config.http2");
    if (!value.ok()) return value.status();
    if (*value != "true" && *value != "false") {
      return Error("http_server_config.http2", "expects true or false");
    }
  }
  const YAML::Node headers = node["headers"];
  if (!headers.IsDefined() || headers.IsNull()) return absl::OkStatus();
  if (absl::Status s = CheckKeys(headers, "http_server_config.headers", kHeaders); !s.ok()) {
    return s;
  }
  for (const auto& kv : headers) {
    const std::string name = kv.first.Scalar();
    absl::StatusOr<std::string> value =
        Scalar(kv.second, absl::StrCat("http_server_config.headers.", name));
    if (!value.ok()) return value.status();
    if (!value->empty()) config->headers.emplace_back(name, *std::move(value));
  }
  return absl::OkStatus();
}

absl::Status ParseUsers(const YAML::Node& node, WebConfig* config) {
  if (node.IsNull()) return absl::OkStatus();
  if (!node.IsMap()) return Error("basic_auth_users", "expected a map of user: bcrypt hash");
  for (const auto& kv : node) {
    const std::string user = kv.first.Scalar();
    const std::string path = absl::StrCat("basic_auth_users.", user);
    absl::StatusOr<std::string> hash = Scalar(kv.second, path);
    if (!hash.ok()) return hash.status();
    const bool bcrypt =
        hash->size() == 60 && (absl::StartsWith(*hash, "$2a$") || absl::StartsWith(*hash, "$2b$") ||
                               absl::StartsWith(*hash, "$2y$"));
    if (!bcrypt) {
      return Error(path,
                   "expected a bcrypt hash ($2y$10$ and 53 more characters), e.g. from "
                   "htpasswd -nBC 10 \"\" | tr -d ':\\n'");
    }
    if (user.empty() || user.find(':') != std::string::npos) {
      return Error(path, "a user name must be non-empty and hold no ':'");
    }
    config->basic_auth_users.emplace(user, *std::move(hash));
  }
  return absl::OkStatus();
}

absl::Status ParseTokensFile(const YAML::Node& node, const std::string& base_dir,
                             WebConfig* config) {
  constexpr std::string_view kPath = "bearer_tokens_file";
  absl::StatusOr<std::string> name = Scalar(node, kPath);
  if (!name.ok()) return name.status();
  absl::StatusOr<std::string> text = ReadFile(Resolve(base_dir, *name));
  if (!text.ok()) return Error(kPath, text.status().message());
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    config->bearer_tokens.emplace_back(line);
  }
  if (config->bearer_tokens.empty()) {
    return Error(kPath, absl::StrCat(*name, " holds no token (one a line; # starts a comment)"));
  }
  return absl::OkStatus();
}

std::array<uint8_t, 32> Sha256(std::string_view a, std::string_view b = {}) {
  std::array<uint8_t, 32> digest{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, a.data(), a.size());
  EVP_DigestUpdate(ctx, b.data(), b.size());
  EVP_DigestFinal_ex(ctx, digest.data(), nullptr);
  EVP_MD_CTX_free(ctx);
  return digest;
}

bool EqualInConstantTime(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool BcryptMatches(const std::string& password, const std::string& hash) {
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_rn(password.c_str(), hash.c_str(), data.get(), sizeof(crypt_data));
  return out != nullptr && EqualInConstantTime(out, hash);
}

AuthResult Allowed(std::string detail = {}) { return {AuthVerdict::kAllowed, std::move(detail)}; }
AuthResult Denied(std::string reason) { return {AuthVerdict::kDenied, std::move(reason)}; }

}  // namespace

absl::StatusOr<WebConfig> ParseWebConfig(std::string_view yaml, const std::string& base_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("line ", e.mark.line + 1, ": ", e.msg));
  }
  WebConfig config;
  if (root.IsNull()) return config;
  if (absl::Status s = CheckKeys(root, "web config", kTopKeys); !s.ok()) return s;
  if (const YAML::Node tls = root["tls_server_config"]; tls.IsDefined()) {
    absl::StatusOr<std::unique_ptr<TlsServerConfig>> parsed = ParseTls(tls, base_dir);
    if (!parsed.ok()) return parsed.status();
    config.tls = *std::move(parsed);
  }
  if (const YAML::Node http = root["http_server_config"]; http.IsDefined()) {
    if (absl::Status s = ParseHttp(http, &config); !s.ok()) return s;
  }
  if (const YAML::Node users = root["basic_auth_users"]; users.IsDefined()) {
    if (absl::Status s = ParseUsers(users, &config); !s.ok()) return s;
  }
  if (const YAML::Node tokens = root["bearer_tokens_file"]; tokens.IsDefined()) {
    if (absl::Status s = ParseTokensFile(tokens, base_dir, &config); !s.ok()) return s;
  }
  return config;
}

absl::StatusOr<WebConfig> LoadWebConfig(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  const size_t slash = path.rfind('/');
  absl::StatusOr<WebConfig> config =
      ParseWebConfig(*text, slash == std::string::npos ? "" : path.substr(0, slash));
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

absl::StatusOr<std::shared_ptr<ssl::context>> MakeServerTlsContext(const TlsServerConfig& tls) {
  std::shared_ptr<ssl::context> ctx;
  try {
    ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  } catch (const boost::system::system_error& e) {
    return absl::InternalError(absl::StrCat("cannot create a TLS context: ", e.what()));
  }
  boost::system::error_code ec;
  auto options = ssl::context::default_workarounds | ssl::context::no_sslv2 |
                 ssl::context::no_sslv3 | ssl::context::single_dh_use;
  if (tls.prefer_server_cipher_suites) options |= SSL_OP_CIPHER_SERVER_PREFERENCE;
  ctx->set_options(options, ec);
  if (ec) return absl::InternalError(absl::StrCat("TLS options: ", ec.message()));
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, tls.min_version);
  SSL_CTX_set_max_proto_version(native, tls.max_version);

  ctx->use_certificate_chain(boost::asio::buffer(tls.cert_pem), ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("TLS certificate: ", ec.message()));
  ctx->use_private_key(boost::asio::buffer(tls.key_pem), ssl::context::pem, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("TLS key: ", ec.message()));
  if (SSL_CTX_check_private_key(native) != 1) {
    return absl::InvalidArgumentError("TLS key does not match the certificate");
  }
  if (!tls.client_ca_pem.empty()) {
    ctx->add_certificate_authority(boost::asio::buffer(tls.client_ca_pem), ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("TLS client CA: ", ec.message()));
  }

  ssl::verify_mode mode = ssl::verify_none;
  bool check_chain = true;
  switch (tls.client_auth_type) {
    case ClientAuthType::kNoClientCert:
      break;
    case ClientAuthType::kRequestClientCert:
      mode = ssl::verify_peer;
      check_chain = false;
      break;
    case ClientAuthType::kRequireAnyClientCert:
      mode = ssl::verify_peer | ssl::verify_fail_if_no_peer_cert;
      check_chain = false;
      break;
    case ClientAuthType::kVerifyClientCertIfGiven:
      mode = ssl::verify_peer;
      break;
    case ClientAuthType::kRequireAndVerifyClientCert:
      mode = ssl::verify_peer | ssl::verify_fail_if_no_peer_cert;
      break;
  }
  ctx->set_verify_mode(mode, ec);
  // Request*/RequireAny* take any certificate, as Go does.
  if (!ec && !check_chain) {
    ctx->set_verify_callback([](bool, ssl::verify_context&) { return true; }, ec);
  }
  if (ec) return absl::InternalError(absl::StrCat("TLS client verification: ", ec.message()));
  return ctx;
}

Authenticator::Authenticator(const WebConfig& config) : users_(config.basic_auth_users) {
  for (const std::string& token : config.bearer_tokens) token_digests_.push_back(Sha256(token));
}

AuthResult Authenticator::CheckWithoutHashing(std::string_view authorization) const {
  return Decide(authorization, /*may_hash=*/false);
}

AuthResult Authenticator::Check(std::string_view authorization) const {
  return Decide(authorization, /*may_hash=*/true);
}

AuthResult Authenticator::Decide(std::string_view authorization, bool may_hash) const {
  if (!required()) return Allowed();
  if (authorization.empty()) return Denied("authentication required");
  const size_t space = authorization.find(' ');
  const absl::string_view scheme = AbslView(authorization.substr(0, space));
  const std::string_view credentials =
      space == std::string_view::npos ? std::string_view() : authorization.substr(space + 1);

  if (absl::EqualsIgnoreCase(scheme, "Bearer") && accepts_bearer()) {
    const Digest presented = Sha256(credentials);
    bool match = false;  // no early exit: every token is compared
    for (const Digest& digest : token_digests_) {
      match |= CRYPTO_memcmp(digest.data(), presented.data(), digest.size()) == 0;
    }
    return match ? Allowed() : Denied("invalid bearer token");
  }
  if (!absl::EqualsIgnoreCase(scheme, "Basic") || !accepts_basic()) {
    const char* schemes = !accepts_bearer()  ? "Basic"
                          : !accepts_basic() ? "Bearer"
                                             : "Basic or Bearer";
    return Denied(absl::StrCat("unsupported authorization scheme; use ", schemes));
  }
  std::string decoded;
  if (!absl::Base64Unescape(AbslView(credentials), &decoded)) {
    return Denied("malformed basic credentials");
  }
  const size_t colon = decoded.find(':');
  if (colon == std::string::npos) return Denied("malformed basic credentials");
  const std::string user = decoded.substr(0, colon);
  const std::string password = decoded.substr(colon + 1);
  if (password.find('\0') != std::string::npos) return Denied("malformed basic credentials");

  const Digest digest = Sha256(user, absl::StrCat(":", password));
  {
    absl::MutexLock lock(&mu_);
    auto it = verified_.find(user);
    if (it != verified_.end() &&
        CRYPTO_memcmp(it->second.data(), digest.data(), digest.size()) == 0) {
      return Allowed(user);
    }
  }
  if (!may_hash) return {AuthVerdict::kNeedsHashing, {}};
  auto it = users_.find(user);
  if (!BcryptMatches(password, it == users_.end() ? kUnknownUserHash : it->second) ||
      it == users_.end()) {
    return Denied("wrong user name or password");
  }
  absl::MutexLock lock(&mu_);
  verified_[user] = digest;
  return Allowed(user);
}

}  // namespace kad::adapter
