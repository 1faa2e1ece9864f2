// The Engine routes decoded remote-write requests to the shards that own
// their series, answers reads from the shards and the store, and loads the
// stored state at startup. It owns the shards; the store, config and metrics
// are borrowed and must outlive it.
//
//   Engine engine(config, options, store, clock, metrics);
//   RETURN_IF_ERROR(engine.Load());   // restores every stored series
//   engine.Start();
//   engine.Ingest(std::move(request), [](absl::Status s) { ... });
//
// Thread-safe after Start(). Read() and RenderGauges() block until the
// shards answer: call them from a worker thread, never a network thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapter/clock.h"
#include "adapter/config.h"
#include "adapter/labels.h"
#include "adapter/log.h"
#include "adapter/self_metrics.h"
#include "adapter/shard.h"
#include "proto/write_request.h"
#include "storage/store.h"

namespace kad::adapter {

struct EngineOptions {
  // Default: 2. Shard threads; each owns a disjoint part of the series.
  int shards = 2;
  ShardOptions shard;
  // Default: 10,000,000. Samples one remote-read request may return.
  size_t read_sample_limit = 10'000'000;
  // Default: 100,000. Series one remote-read query may return.
  size_t read_series_limit = 100'000;

  absl::Status Validate() const;
};

// A decoded remote-write request; the views point into `body`.
struct WriteJob {
  std::string body;
  proto::WriteRequestView request;
};

// One series of a read result: labels with value_type, samples by time.
struct ReadSeries {
  Labels labels;
  std::vector<std::pair<int64_t, double>> samples;
};

struct ReadQuery {
  std::vector<LabelMatcher> matchers;
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  bool series_only = false;  // hints.func == "series": labels, no samples
};

class Engine {
 public:
  // `activities` may be null (no activities configured).
  Engine(const Config& config, const EngineOptions& options, storage::Store* store,
         const Clock* clock, SelfMetrics* metrics, ActivityEngine* activities, const Logger* log);
  ~Engine();

  // Before Start(): restores every stored series of a configured metric and
  // replays the points written after its last checkpoint.
  absl::Status Load();
  void Start();
  // Checkpoints every shard and stops their threads.
  void Stop();

  // Models the samples of `job` on the shards; `done` runs once, on a shard
  // thread, after every point is durable (or with the first error).
  void Ingest(std::shared_ptr<WriteJob> job, std::function<void(absl::Status)> done);

  // Series (sorted by labels) matching the query, with the stored points in
  // range and the future points the live models forecast. ResourceExhausted
  // beyond the series or sample limit, counting `*samples_budget` down.
  absl::StatusOr<std::vector<ReadSeries>> Read(const ReadQuery& query, size_t* samples_budget);

  // The onRetrain event on every series whose input labels match all of
  // `matchers` (all series when empty). Returns how many were retrained.
  absl::StatusOr<size_t> Retrain(const std::vector<LabelMatcher>& matchers);

  // The latest forecast of every live series as gauges (text format).
  std::string RenderGauges();
  int64_t num_series() const;
  const EngineOptions& options() const { return options_; }

 private:
  Shard& ShardFor(uint64_t hash) { return *shards_[hash % shards_.size()]; }
  // Runs fn on every shard thread and waits for all of them.
  void OnEveryShard(const std::function<void(Shard&, size_t)>& fn);

  const Config& config_;
  const EngineOptions options_;
  storage::Store* store_;
  const Clock* clock_;
  SelfMetrics* metrics_;
  ActivityEngine* activities_;
  const Logger* log_;
  std::atomic<uint64_t> next_id_{1};
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace kad::adapter
