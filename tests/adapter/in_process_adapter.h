// The adapter as main() wires it -- HttpServer, Api, Engine, ActivityEngine
// over a RocksDB in a temporary folder -- for in-process tests that speak to
// it over TCP on 127.0.0.1.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "adapter/activity_engine.h"
#include "adapter/api.h"
#include "adapter/clock.h"
#include "adapter/config.h"
#include "adapter/engine.h"
#include "adapter/http_server.h"
#include "adapter/log.h"
#include "adapter/self_metrics.h"
#include "gtest/gtest.h"
#include "storage/store.h"
#include "tests/support/remote_client.h"

namespace kad::adapter::testing {

constexpr int64_t kT0 = 1767225600000;  // 2026-01-01T00:00:00Z
constexpr int64_t kStep = 15'000;
constexpr int64_t kHour = 3'600'000;

inline constexpr char kConfig[] = R"(version: "v1alpha"
prometheus_metric_list:
  - metric_query: "node_load1{job='node'}"
    predicted_metric_name: predicted_node_load
    models:
      - kind: holt_winters
    forecast_horizon: 1h
)";

// "Now" a day after the samples, well inside the retention, unless a test
// moves it (series_ttl tests).
class FixedClock final : public Clock {
 public:
  int64_t NowMs() const override { return now_ms_.load(); }
  void Set(int64_t now_ms) { now_ms_.store(now_ms); }

 private:
  std::atomic<int64_t> now_ms_{kT0 + 24 * kHour};
};

struct TestOptions {
  std::string config = kConfig;
  std::string activities;   // activities.yaml text
  std::string scripts_dir;  // "" = the test folder
  // Scripts (name, text) written executable into the test folder first.
  std::vector<std::pair<std::string, std::string>> scripts;
  bool dry_run = false;
  size_t max_body_bytes = size_t{32} << 20;
  size_t max_uncompressed_bytes = size_t{64} << 20;
  size_t read_sample_limit = 10'000'000;
  // ApiOptions::max_bytes_in_frame (streamed remote read).
  size_t max_bytes_in_frame = size_t{1} << 20;
  bool ready = true;
  // The server's read/write timeout (HttpServerOptions::io_timeout).
  std::chrono::seconds io_timeout{60};
  // "" = a "data" folder in the test folder.
  std::string storage_path;
  // EngineOptions' limits, and how often series past series_ttl go.
  size_t max_queued_bytes = size_t{256} << 20;
  int64_t max_series = 2'000'000;
  int64_t checkpoint_interval_ms = 60'000;
};

// The adapter as main() wires it, on 127.0.0.1 with a free port.
class InProcessAdapter {
 public:
  explicit InProcessAdapter(const TestOptions& options = {})
      : options_(options), log_(LogLevel::kError) {
    char dir_template[] = "/tmp/kad_server_test_XXXXXX";
    const char* made = mkdtemp(dir_template);
    EXPECT_NE(made, nullptr);
    dir_ = made == nullptr ? "" : made;
    WriteConfig(options_.config, options_.activities);
    for (const auto& [name, text] : options_.scripts) {
      const std::string path = dir_ + "/" + name;
      std::ofstream(path) << text;
      chmod(path.c_str(), 0755);
    }
    Open();
  }

  ~InProcessAdapter() {
    Close();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // A clean shutdown and a start on the same storage (a new port).
  void Restart() {
    Close();
    Open();
  }

  uint16_t port() const { return server_->port(); }

  // Replaces the config files that a start or POST /-/reload reads.
  void WriteConfig(std::string_view config, std::string_view activities = "") {
    std::ofstream(dir_ + "/environment.yaml") << config;
    if (activities.empty()) {
      std::filesystem::remove(dir_ + "/activities.yaml");
    } else {
      std::ofstream(dir_ + "/activities.yaml") << activities;
    }
  }

  const std::string& dir() const { return dir_; }
  FixedClock& clock() { return clock_; }
  storage::Store* store() { return store_.get(); }
  ActivityEngine* activities() { return activities_.get(); }

 private:
  void Open() {
    const std::string activities_file =
        std::filesystem::exists(dir_ + "/activities.yaml") ? dir_ + "/activities.yaml" : "";
    absl::StatusOr<Config> config = LoadConfig(dir_ + "/environment.yaml", activities_file);
    EXPECT_TRUE(config.ok()) << config.status();
    config_ = *std::move(config);
    storage::StoreOptions store_options;
    store_options.path = options_.storage_path.empty() ? dir_ + "/data" : options_.storage_path;
    absl::StatusOr<std::unique_ptr<storage::Store>> store = storage::Store::Open(store_options);
    EXPECT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);

    ActivityOptions activity_options;
    activity_options.scripts_dir = options_.scripts_dir.empty() ? dir_ : options_.scripts_dir;
    activity_options.dry_run = options_.dry_run;
    absl::StatusOr<std::unique_ptr<ActivityEngine>> activities =
        ActivityEngine::Create(config_, activity_options, store_.get(), &log_);
    EXPECT_TRUE(activities.ok()) << activities.status();
    if (activities.ok()) activities_ = *std::move(activities);

    metrics_ = std::make_unique<SelfMetrics>();
    EngineOptions engine_options;
    engine_options.read_sample_limit = options_.read_sample_limit;
    engine_options.max_queued_bytes = options_.max_queued_bytes;
    engine_options.max_series = options_.max_series;
    engine_options.shard.checkpoint_interval_ms = options_.checkpoint_interval_ms;
    engine_ = std::make_unique<Engine>(config_, engine_options, store_.get(), &clock_,
                                       metrics_.get(), activities_.get(), &log_);
    ApiOptions api_options;
    api_options.max_uncompressed_bytes = options_.max_uncompressed_bytes;
    api_options.max_bytes_in_frame = options_.max_bytes_in_frame;
    reloader_ = std::make_unique<ConfigReloader>(dir_ + "/environment.yaml", activities_file,
                                                 engine_.get(), metrics_.get(), &clock_, &log_);
    api_ = std::make_unique<Api>(api_options, engine_.get(), store_.get(), metrics_.get(),
                                 activities_.get(), &log_, reloader_.get());
    HttpServerOptions server_options;
    server_options.listen_address = "127.0.0.1:0";
    server_options.max_body_bytes = options_.max_body_bytes;
    server_options.io_timeout = options_.io_timeout;
    server_ = std::make_unique<HttpServer>(
        server_options,
        [this](HttpRequest&& r, Respond respond) {
          api_->Handle(std::move(r), std::move(respond));
        },
        &log_);
    const absl::Status started = server_->Start();
    EXPECT_TRUE(started.ok()) << started;
    if (options_.ready) {
      const absl::Status loaded = engine_->Load();
      EXPECT_TRUE(loaded.ok()) << loaded;
      engine_->Start();
      api_->SetReady();
    }
  }

  // main()'s shutdown order.
  void Close() {
    server_->Stop();
    api_.reset();
    reloader_.reset();
    engine_->Stop();
    engine_.reset();
    activities_.reset();
    server_.reset();
    store_.reset();
  }

  const TestOptions options_;
  Logger log_;
  std::string dir_;
  Config config_;
  FixedClock clock_;
  std::unique_ptr<SelfMetrics> metrics_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<ActivityEngine> activities_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<ConfigReloader> reloader_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> server_;
};

// A sample of the adapter's /metrics; a counter not created yet reads 0.
inline double Metric(uint16_t port, std::string_view series) {
  absl::StatusOr<double> v = ::kad::testing::ScrapeMetric(port, series);
  EXPECT_TRUE(v.ok() || absl::IsNotFound(v.status())) << v.status();
  return v.ok() ? *v : 0;
}

}  // namespace kad::adapter::testing
