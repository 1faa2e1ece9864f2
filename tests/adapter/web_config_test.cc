// Tests of the web config (--web.config.file): parsing as exporter-toolkit
// reads it, credential checks with real bcrypt hashes, and the HttpServer
// refusing anonymous and wrong callers over TCP. TLS runs end to end in
// tests/integration/auth_test.py (certificates made by the openssl CLI).
#include "adapter/web_config.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "adapter/http_server.h"
#include "adapter/log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/http_client.h"

namespace kad::adapter {
namespace {

using ::kad::testing::HttpCall;
using ::kad::testing::HttpResult;
using ::testing::HasSubstr;

// Made with libxcrypt's crypt_gensalt_rn/crypt_rn; $2y$ is what htpasswd
// writes, $2a$ what Go's bcrypt writes.
constexpr char kPromHash[] = "$2y$10$agv4CFhnn59Pvmq/WmQASuwHTI/4UdOCHP3SdYUbcPfE6K/hzOZJu";
constexpr char kPromPassword[] = "remote-write-pass";
constexpr char kAdminHash[] = "$2a$04$UEBeqLvYKIpl5aMt0F6uGeQW59ZKfmtcuY6nCfHEGa3k176uvQlJi";
constexpr char kAdminPassword[] = "old-style";

std::string Basic(const std::string& user, const std::string& password) {
  return absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(user, ":", password)));
}

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "kad-web-config-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& text) const {
    const std::string path = path_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

 private:
  std::string path_;
};

std::string UsersYaml() {
  return absl::StrCat("basic_auth_users:\n  prometheus: ", kPromHash, "\n  admin: ", kAdminHash,
                      "\n");
}

TEST(WebConfig, EmptyFileMeansNoTlsAndNoAuth) {
  absl::StatusOr<WebConfig> config = ParseWebConfig("", "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->tls, nullptr);
  EXPECT_FALSE(Authenticator(*config).required());
}

TEST(WebConfig, ReadsUsersHeadersAndTokensFileRelativeToItsFolder) {
  TempDir dir;
  dir.Write("tokens", "# one a line\n\n  token-one  \ntoken-two\n");
  const std::string path =
      dir.Write("web.yml", absl::StrCat(UsersYaml(),
                                        "bearer_tokens_file: tokens\n"
                                        "http_server_config:\n  http2: false\n  headers:\n"
                                        "    X-Frame-Options: deny\n"));
  absl::StatusOr<WebConfig> config = LoadWebConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->basic_auth_users.at("prometheus"), kPromHash);
  EXPECT_EQ(config->basic_auth_users.size(), 2u);
  EXPECT_THAT(config->bearer_tokens, ::testing::ElementsAre("token-one", "token-two"));
  ASSERT_EQ(config->headers.size(), 1u);
  EXPECT_EQ(config->headers[0].first, "X-Frame-Options");
  EXPECT_TRUE(Authenticator(*config).required());
}

TEST(WebConfig, ErrorsNameTheKeyAndRefuseWhatIsNotImplemented) {
  struct Case {
    std::string yaml;
    std::string message;
  };
  const Case cases[] = {
      {"basic_auth_user: {}\n", "unknown key basic_auth_user"},
      {"rate_limit: {interval: 1s, burst: 2}\n", "rate_limit is not supported"},
      {"basic_auth_users:\n  bob: plain-text\n", "basic_auth_users.bob: expected a bcrypt hash"},
      {"tls_server_config:\n  key: b\n", "needs cert_file"},
      {"tls_server_config:\n  cert: a\n  key: b\n  client_auth_type: RequireAndVerifyClientCert\n",
       "it needs client_ca_file"},
      {"tls_server_config:\n  cert: a\n  key: b\n  client_ca: c\n",
       "client_auth_type is NoClientCert"},
      {"tls_server_config:\n  cert: a\n  key: b\n  min_version: TLS14\n", "unknown TLS version"},
      {"tls_server_config:\n  cert: a\n  key: b\n  cipher_suites: [X]\n",
       "cipher_suites is not supported"},
      {"tls_server_config:\n  cert_file: /nonexistent/cert\n  key: b\n", "cannot read"},
      {"bearer_tokens_file: /nonexistent/tokens\n", "bearer_tokens_file: cannot read"},
      {"http_server_config:\n  headers:\n    Set-Cookie: a\n", "unknown key Set-Cookie"},
      {"basic_auth_users: [\n", "line"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<WebConfig> config = ParseWebConfig(c.yaml, "");
    ASSERT_FALSE(config.ok()) << c.yaml;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_THAT(config.status().message(), HasSubstr(c.message)) << c.yaml;
  }
}

TEST(WebConfig, TlsSectionReadsInlinePemAndVersions) {
  absl::StatusOr<WebConfig> config = ParseWebConfig(
      "tls_server_config:\n  cert: CERT\n  key: KEY\n  client_ca: CA\n"
      "  client_auth_type: VerifyClientCertIfGiven\n  min_version: TLS13\n",
      "");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_NE(config->tls, nullptr);
  EXPECT_EQ(config->tls->cert_pem, "CERT");
  EXPECT_EQ(config->tls->client_ca_pem, "CA");
  EXPECT_EQ(config->tls->client_auth_type, ClientAuthType::kVerifyClientCertIfGiven);
  EXPECT_EQ(config->tls->min_version, 0x0304);
}

TEST(WebConfig, TlsContextRefusesPemThatDoesNotLoad) {
  TlsServerConfig tls;
  tls.cert_pem = "not a certificate";
  tls.key_pem = "not a key";
  absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> ctx = MakeServerTlsContext(tls);
  ASSERT_FALSE(ctx.ok());
  EXPECT_THAT(ctx.status().message(), HasSubstr("TLS certificate"));
}

WebConfig UsersAndToken() {
  WebConfig config;
  config.basic_auth_users = {{"prometheus", kPromHash}, {"admin", kAdminHash}};
  config.bearer_tokens = {"token-one"};
  return config;
}

TEST(Authenticator, LetsEveryoneInWithoutCredentialsConfigured) {
  Authenticator auth{WebConfig()};
  EXPECT_FALSE(auth.required());
  EXPECT_EQ(auth.CheckWithoutHashing("").verdict, AuthVerdict::kAllowed);
}

TEST(Authenticator, RefusesMissingAndMalformedCredentialsWithoutHashing) {
  Authenticator auth(UsersAndToken());
  const std::pair<std::string, std::string> cases[] = {
      {"", "authentication required"},
      {"Basic !!!notbase64", "malformed basic credentials"},
      {absl::StrCat("Basic ", absl::Base64Escape("no-colon")), "malformed basic credentials"},
      {"Digest abc", "unsupported authorization scheme; use Basic or Bearer"},
      {"Bearer token-two", "invalid bearer token"},
  };
  for (const auto& [header, reason] : cases) {
    AuthResult r = auth.CheckWithoutHashing(header);
    EXPECT_EQ(r.verdict, AuthVerdict::kDenied) << header;
    EXPECT_EQ(r.detail, reason) << header;
  }
  EXPECT_EQ(auth.CheckWithoutHashing("Bearer token-one").verdict, AuthVerdict::kAllowed);
  EXPECT_EQ(auth.CheckWithoutHashing("bearer token-one").verdict, AuthVerdict::kAllowed);
}

TEST(Authenticator, ChecksBcryptOnceThenRemembersThePassword) {
  Authenticator auth(UsersAndToken());
  const std::string right = Basic("prometheus", kPromPassword);
  EXPECT_EQ(auth.CheckWithoutHashing(right).verdict, AuthVerdict::kNeedsHashing);
  AuthResult r = auth.Check(right);
  EXPECT_EQ(r.verdict, AuthVerdict::kAllowed);
  EXPECT_EQ(r.detail, "prometheus");
  EXPECT_EQ(auth.CheckWithoutHashing(right).verdict, AuthVerdict::kAllowed);
  // A $2a$ hash (Go's bcrypt) verifies too.
  EXPECT_EQ(auth.Check(Basic("admin", kAdminPassword)).verdict, AuthVerdict::kAllowed);

  // Another password for a remembered user is hashed again, and refused.
  const std::string wrong = Basic("prometheus", "remote-write-pas");
  EXPECT_EQ(auth.CheckWithoutHashing(wrong).verdict, AuthVerdict::kNeedsHashing);
  EXPECT_EQ(auth.Check(wrong).detail, "wrong user name or password");
  EXPECT_EQ(auth.Check(Basic("admin", kPromPassword)).verdict, AuthVerdict::kDenied);
  EXPECT_EQ(auth.Check(Basic("nobody", kPromPassword)).verdict, AuthVerdict::kDenied);
  // The NUL would end the C string bcrypt sees.
  EXPECT_EQ(auth.Check(Basic("prometheus", std::string(kPromPassword) + std::string(1, '\0') + "x"))
                .verdict,
            AuthVerdict::kDenied);
  // The right password is still remembered.
  EXPECT_EQ(auth.CheckWithoutHashing(right).verdict, AuthVerdict::kAllowed);
}

// An HttpServer with a web config and a handler that counts what gets through.
class AuthServer {
 public:
  explicit AuthServer(const std::string& web_config_file) : log_(LogLevel::kError) {
    HttpServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.web_config_file = web_config_file;
    server_ = std::make_unique<HttpServer>(
        options,
        [this](HttpRequest&& request, Respond respond) {
          ++handled_;
          respond(TextResponse(200, request.target()));
        },
        &log_);
  }
  HttpServer& server() { return *server_; }
  int handled() const { return handled_; }

 private:
  const Logger log_;
  std::atomic<int> handled_{0};
  std::unique_ptr<HttpServer> server_;
};

TEST(HttpServerAuth, AnonymousCallersGet401OnEveryEndpointMutatingOnesIncluded) {
  TempDir dir;
  AuthServer s(dir.Write("web.yml", UsersYaml()));
  ASSERT_TRUE(s.server().Start().ok());
  const std::pair<const char*, const char*> endpoints[] = {
      {"DELETE", "/api/v1/locks"}, {"POST", "/api/v1/retrain"}, {"POST", "/-/reload"},
      {"POST", "/api/v1/write"},   {"GET", "/metrics"},         {"GET", "/-/healthy"},
  };
  for (const auto& [method, target] : endpoints) {
    absl::StatusOr<HttpResult> r = HttpCall(s.server().port(), method, target);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 401) << method << " " << target;
    EXPECT_EQ(r->body, "authentication required\n");
    EXPECT_EQ(r->Header("www-authenticate"), R"(Basic realm="k8s-anomaly-detector")");
  }
  EXPECT_EQ(s.handled(), 0);
}

TEST(HttpServerAuth, RightPasswordPassesWrongOneGets401) {
  TempDir dir;
  AuthServer s(dir.Write("web.yml", UsersYaml()));
  ASSERT_TRUE(s.server().Start().ok());
  for (int i = 0; i < 3; ++i) {  // the first is hashed, the others remembered
    absl::StatusOr<HttpResult> ok =
        HttpCall(s.server().port(), "POST", "/api/v1/retrain", "",
                 {{"Authorization", Basic("prometheus", kPromPassword)}});
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_EQ(ok->status, 200);
    EXPECT_EQ(ok->body, "/api/v1/retrain\n");
  }
  absl::StatusOr<HttpResult> wrong = HttpCall(s.server().port(), "DELETE", "/api/v1/locks", "",
                                              {{"Authorization", Basic("prometheus", "guess")}});
  ASSERT_TRUE(wrong.ok()) << wrong.status();
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(wrong->body, "wrong user name or password\n");
  EXPECT_EQ(s.handled(), 3);
}

TEST(HttpServerAuth, BearerTokensAndConfiguredHeaders) {
  TempDir dir;
  dir.Write("tokens", "token-one\n");
  AuthServer s(dir.Write("web.yml",
                         "bearer_tokens_file: tokens\n"
                         "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"));
  ASSERT_TRUE(s.server().Start().ok());
  absl::StatusOr<HttpResult> ok =
      HttpCall(s.server().port(), "GET", "/metrics", "", {{"Authorization", "Bearer token-one"}});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->Header("x-content-type-options"), "nosniff");
  absl::StatusOr<HttpResult> wrong =
      HttpCall(s.server().port(), "GET", "/metrics", "", {{"Authorization", "Bearer token-two"}});
  ASSERT_TRUE(wrong.ok()) << wrong.status();
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(wrong->Header("www-authenticate"), R"(Bearer realm="k8s-anomaly-detector")");
  EXPECT_EQ(wrong->Header("x-content-type-options"), "nosniff");
  EXPECT_EQ(s.handled(), 1);
}

TEST(HttpServerAuth, ReloadTakesNewCredentialsAndKeepsOldOnesOnError) {
  TempDir dir;
  dir.Write("tokens", "token-one\n");
  const std::string path = dir.Write("web.yml", "bearer_tokens_file: tokens\n");
  AuthServer s(path);
  ASSERT_TRUE(s.server().Start().ok());
  auto status = [&](const std::string& token) {
    absl::StatusOr<HttpResult> r =
        HttpCall(s.server().port(), "GET", "/metrics", "", {{"Authorization", "Bearer " + token}});
    return r.ok() ? r->status : 0;
  };
  EXPECT_EQ(status("token-one"), 200);
  dir.Write("tokens", "token-two\n");
  ASSERT_TRUE(s.server().ReloadWebConfig().ok());
  EXPECT_EQ(status("token-one"), 401);
  EXPECT_EQ(status("token-two"), 200);

  dir.Write("web.yml", "bearer_tokens_file: missing\n");
  EXPECT_FALSE(s.server().ReloadWebConfig().ok());
  dir.Write("web.yml", "tls_server_config:\n  cert: a\n  key: b\n");
  EXPECT_FALSE(s.server().ReloadWebConfig().ok());
  EXPECT_EQ(status("token-two"), 200);
}

TEST(HttpServerAuth, StartFailsOnABadWebConfig) {
  TempDir dir;
  AuthServer s(dir.Write("web.yml", "basic_auth_users:\n  bob: plain\n"));
  absl::Status started = s.server().Start();
  EXPECT_EQ(started.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(started.message(), HasSubstr("web.yml: basic_auth_users.bob"));
}

}  // namespace
}  // namespace kad::adapter
