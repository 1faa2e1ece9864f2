// Ingest throughput (samples/s) of Engine::Ingest with and without a storm
// of activity dispatches, on a RocksDB in a temporary folder, no HTTP:
//
//   NoActivities  the activity engine has no activities configured;
//   Storm         every series breaks its band in every iteration, so each
//                 request dispatches 1,000 runs of a trivial script (most
//                 are dropped once the 1,000-deep queue is full).
//
// Each iteration ingests one request shaped like Prometheus 2.42's: 2,000
// TimeSeries entries of one sample each, for 1,000 series never seen before
// (a calm sample, then a spike). Shards work on their own threads, so the
// rate is over wall time. The issue's promise is that ingest never waits
// for a script: the two rates should differ only by the CPU the scripts
// take from the shards.
//
//   activity_storm_bench --benchmark_repetitions=3
#include <stdlib.h>  // mkdtemp

#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "adapter/activity_engine.h"
#include "adapter/clock.h"
#include "adapter/config.h"
#include "adapter/engine.h"
#include "adapter/log.h"
#include "adapter/self_metrics.h"
#include "benchmark/benchmark.h"
#include "prometheus/remote.pb.h"
#include "proto/write_request.h"
#include "storage/store.h"

namespace kad::adapter {
namespace {

constexpr int kSeriesPerRequest = 1000;
constexpr int64_t kStepMs = 15'000;

// One sample is enough to arm the band, so the second sample -- the spike --
// breaks it.
constexpr char kEnvironment[] = R"(version: "v1alpha"
prometheus_metric_list:
  - metric_query: "node_load1{job='node'}"
    predicted_metric_name: predicted_node_load
    models:
      - kind: holt_winters
        args: {season: none, min_n_samples_seen: 1}
)";

constexpr char kActivities[] = R"(version: "v1alpha"
activities:
  - name: predicted_node_load_holt_winters
    command:
      shell_file: noop.sh
      args: ["{{ labels.instance }}"]
)";

// The adapter as main() wires it, minus HTTP, over a temporary folder that
// it removes at the end (after the activity engine waited for its scripts).
class Harness {
 public:
  explicit Harness(bool with_activities) : log_(LogLevel::kError) {
    char dir_template[] = "/tmp/kad_activity_storm_bench_XXXXXX";
    if (mkdtemp(dir_template) == nullptr) {
      error_ = "cannot create a temporary folder";
      return;
    }
    dir_ = dir_template;
    const std::string script = dir_ + "/noop.sh";
    std::ofstream(script) << "#!/bin/sh\nexit 0\n";
    std::filesystem::permissions(script, std::filesystem::perms::owner_all);

    absl::StatusOr<Config> config = ParseConfig(kEnvironment, with_activities ? kActivities : "");
    if (!config.ok()) {
      error_ = config.status().ToString();
      return;
    }
    config_ = *std::move(config);
    storage::StoreOptions store_options;
    store_options.path = dir_ + "/data";
    absl::StatusOr<std::unique_ptr<storage::Store>> store = storage::Store::Open(store_options);
    if (!store.ok()) {
      error_ = store.status().ToString();
      return;
    }
    store_ = *std::move(store);
    ActivityOptions activity_options;
    activity_options.scripts_dir = dir_;
    absl::StatusOr<std::unique_ptr<ActivityEngine>> activities =
        ActivityEngine::Create(config_, activity_options, store_.get(), &log_);
    if (!activities.ok()) {
      error_ = activities.status().ToString();
      return;
    }
    activities_ = *std::move(activities);
    engine_ = std::make_unique<Engine>(config_, EngineOptions(), store_.get(), &clock_, &metrics_,
                                       activities_.get(), &log_);
    if (absl::Status loaded = engine_->Load(); !loaded.ok()) {
      error_ = loaded.ToString();
      return;
    }
    engine_->Start();
    t0_ms_ = clock_.NowMs() - 3'600'000;
  }

  // main()'s shutdown order.
  ~Harness() {
    if (engine_ != nullptr) engine_->Stop();
    engine_.reset();
    activities_.reset();  // waits for running scripts
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // "" when the harness is ready, else why not.
  const std::string& error() const { return error_; }

  // Request `n`: 1,000 series of their own, a calm sample each, then a
  // spike each, one sample per TimeSeries entry.
  std::shared_ptr<WriteJob> MakeJob(int64_t n) const {
    prometheus::WriteRequest request;
    for (int i = 0; i < 2; ++i) {
      for (int k = 0; k < kSeriesPerRequest; ++k) {
        prometheus::TimeSeries* ts = request.add_timeseries();
        const std::pair<const char*, std::string> labels[] = {
            {"__name__", "node_load1"},
            {"instance", absl::StrCat("10.0.", n, ".", k, ":9100")},
            {"job", "node"},
        };
        for (const auto& [name, value] : labels) {
          prometheus::Label* l = ts->add_labels();
          l->set_name(name);
          l->set_value(value);
        }
        prometheus::Sample* s = ts->add_samples();
        s->set_timestamp(t0_ms_ + i * kStepMs);
        s->set_value(i == 0 ? 1.0 : 1e6);
      }
    }
    auto job = std::make_shared<WriteJob>();
    job->body = request.SerializeAsString();
    if (!proto::DecodeWriteRequest(job->body, &job->request).ok()) return nullptr;
    return job;
  }

  absl::Status Ingest(std::shared_ptr<WriteJob> job) {
    std::promise<absl::Status> done;
    std::future<absl::Status> result = done.get_future();
    engine_->Ingest(std::move(job), [&done](absl::Status s) { done.set_value(std::move(s)); });
    return result.get();
  }

  // The value of kad_activity_runs_total{...,outcome="<outcome>"}; 0 before
  // the first such run.
  double Runs(const char* outcome) const {
    std::string text;
    activities_->RenderMetrics(&text);
    const std::string suffix = absl::StrCat("outcome=\"", outcome, "\"} ");
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      const size_t at = line.find(suffix);
      double value = 0;
      if (absl::StartsWith(line, "kad_activity_runs_total{") && at != absl::string_view::npos &&
          absl::SimpleAtod(line.substr(at + suffix.size()), &value)) {
        return value;
      }
    }
    return 0;
  }
  size_t Locks() const { return activities_->Locks().size(); }

 private:
  Logger log_;
  std::string error_;
  std::string dir_;
  Config config_;
  SystemClock clock_;
  SelfMetrics metrics_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<ActivityEngine> activities_;
  std::unique_ptr<Engine> engine_;
  int64_t t0_ms_ = 0;
};

void RunIngest(benchmark::State& state, bool with_activities) {
  Harness harness(with_activities);
  if (!harness.error().empty()) {
    state.SkipWithError(harness.error().c_str());
    return;
  }
  int64_t n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::shared_ptr<WriteJob> job = harness.MakeJob(n++);
    state.ResumeTiming();
    if (job == nullptr) {
      state.SkipWithError("the request did not decode");
      break;
    }
    if (absl::Status s = harness.Ingest(std::move(job)); !s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * 2 * kSeriesPerRequest);
  if (with_activities) {
    // Every series broke its band once: each break was either queued (its
    // lock is held) or dropped.
    const double breaks = static_cast<double>(state.iterations()) * kSeriesPerRequest;
    const double queued = static_cast<double>(harness.Locks());
    const double dropped = harness.Runs("dropped");
    state.counters["band_breaks"] = breaks;
    state.counters["runs_queued"] = queued;
    state.counters["runs_dropped"] = dropped;
    if (queued + dropped != breaks) {
      state.SkipWithError("not every series broke its band: the storm did not happen");
    }
  }
}

void BM_IngestNoActivities(benchmark::State& state) { RunIngest(state, false); }
BENCHMARK(BM_IngestNoActivities)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_IngestStorm(benchmark::State& state) { RunIngest(state, true); }
BENCHMARK(BM_IngestStorm)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kad::adapter
