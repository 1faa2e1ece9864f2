// The Engine routes decoded remote-write requests to the shards that own
// their series, answers reads from the shards and the store, and loads the
// stored state at startup, and switches to a new config on a reload. It owns
// the shards; the store and metrics are borrowed and must outlive it, and so
// must the config given to the constructor (a reload's config is shared).
//
//   Engine engine(config, options, store, clock, metrics);
//   RETURN_IF_ERROR(engine.Load());   // restores every stored series
//   engine.Start();
//   engine.Ingest(std::move(request), [](absl::Status s) { ... });
//   RETURN_IF_ERROR(engine.Reload(std::make_shared<const Config>(*new_config)));
//
// Thread-safe after Start(). Read(), Retrain(), Reload() and RenderGauges()
// block until the shards answer: call them from a worker thread, never a network thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "adapter/clock.h"
#include "adapter/config.h"
#include "adapter/labels.h"
#include "adapter/log.h"
#include "adapter/read_answer.h"
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
  // Default: 15 days (--storage.retention's default; main() passes the
  // flag). A request holding a sample older than now minus this is refused
  // (400): its point would never be read.
  int64_t max_sample_age_ms = int64_t{15} * 24 * 3600 * 1000;
  // Default: 256 MiB. Bytes of decoded remote-write requests waiting for the
  // shards; a request beyond it is answered 503 at once (Prometheus retries)
  // instead of growing memory. A request into an empty queue always waits.
  size_t max_queued_bytes = size_t{256} << 20;
  // Default: 2,000,000. Forecast series held at most; the series of new
  // inputs beyond it are not made (their samples are counted as
  // series_limit), those already held carry on.
  int64_t max_series = 2'000'000;
  // Default: 10 min. A request holding a sample further ahead of now is
  // refused (400): a wrong clock or unit (us, not ms) would otherwise end
  // its series, every later sample looking out of order.
  int64_t max_sample_lead_ms = 10 * 60 * 1000;

  absl::Status Validate() const;
};

// A decoded remote-write request; the views point into `body`.
struct WriteJob {
  std::string body;
  proto::WriteRequestView request;
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

  // After Start(): models by `config` from now on. A forecast series P_k
  // (predicted_metric_name + "_" + kind) whose entry has the same
  // metric_query and whose model has the same kind and args keeps its model;
  // its entry's other settings (forecast_horizon, events) and its activity
  // apply at once. One whose metric_query or args changed starts a new model
  // from its next sample. One no longer configured stops being modelled and
  // read (its checkpoint and points stay in the store; adding the entry back
  // restores it). A new entry models new samples, and resumes the series it
  // stored before, if any. Activities reload with it. On an error (a script
  // outside the scripts folder, a store error) nothing has changed.
  // retrain_scheduling_seconds takes effect at the next start.
  absl::Status Reload(std::shared_ptr<const Config> config);

  // Models the samples of `job` on the shards; `done` runs once, on a shard
  // thread, after every point is durable (or with the first error).
  void Ingest(std::shared_ptr<WriteJob> job, std::function<void(absl::Status)> done);

  // The series (sorted by labels) matching the query, with the stored points
  // in range and the future points the live models forecast, encoded as
  // `format` says. ResourceExhausted beyond the series or sample limit,
  // counting `*samples_budget` down.
  absl::StatusOr<QueryAnswer> Read(const ReadQuery& query, const ReadFormat& format,
                                   size_t* samples_budget);

  // The onRetrain event on every series whose input labels match all of
  // `matchers` (all series when empty). Returns how many were retrained.
  absl::StatusOr<size_t> Retrain(const std::vector<LabelMatcher>& matchers);

  // Appends the latest forecast of every live series as gauges (text
  // format) to *out, with room reserved for a few KB more after them.
  void RenderGauges(std::string* out);
  int64_t num_series() const { return budget_.used.load(std::memory_order_relaxed); }
  // The oldest of the shards' checkpointed_ms(): every model change before
  // it is saved, and a crash replays what came since.
  int64_t checkpointed_ms() const;
  size_t queued_bytes() const { return queued_bytes_.load(std::memory_order_relaxed); }
  const EngineOptions& options() const { return options_; }

 private:
  Shard& ShardFor(uint64_t hash) { return *shards_[hash % shards_.size()]; }
  // Runs fn on every shard thread and waits for all of them.
  void OnEveryShard(const std::function<void(Shard&, size_t)>& fn);
  // A series of a read's answer: its sort key (AppendSortKey) and where
  // shard part `piece.part` holds it.
  struct ReadPiece {
    std::string_view key;
    QueryAnswer::Piece piece;
    friend bool operator<(const ReadPiece& a, const ReadPiece& b) { return a.key < b.key; }
  };
  // Read()'s series of `matches` (on their shard's thread) with their
  // points, encoded into part number `part` of *answer and listed in order
  // in *pieces, whose keys are in *keys; counts the samples down from
  // *left, and leaves it below zero when they are more than it held (and
  // stops there).
  absl::Status ReadPoints(const ReadQuery& query, const ReadFormat& format,
                          std::span<const ReadMatch> matches, std::atomic<int64_t>* left,
                          size_t part, QueryAnswer* answer, std::string* keys,
                          std::vector<ReadPiece>* pieces) const;
  // The stored series of `config` whose forecast name passes `wanted`, from
  // their checkpoints and the points written after them, handed to
  // take(i, series) for shard i (hash % shards), in id order. take(i, ...)
  // is called on one thread at a time for each i, from as many threads as
  // shards, while the restore goes on. `fresh` counts the checkpoints of
  // other kinds or args (their models relearn the points), `skipped` the
  // series `config` does not place.
  struct RestoreCounts {
    size_t replayed = 0;
    size_t fresh = 0;
    size_t skipped = 0;
  };
  absl::Status Restore(
      const Config& config, const std::function<bool(std::string_view)>& wanted,
      const std::function<void(size_t shard, std::vector<RestoredSeries>* series)>& take,
      RestoreCounts* counts);
  // A series record as stored, for Restore's workers.
  struct StoredSeries {
    uint64_t id;
    std::string labels;
    std::string state;
  };
  // Restore() of one record: sets *out, its model as of the checkpoint,
  // unless it is skipped; the caller replays the points after it (many
  // series at once). Thread-safe.
  absl::Status RestoreOne(const Config& config, const std::function<bool(std::string_view)>& wanted,
                          const StoredSeries& stored, std::optional<RestoredSeries>* out,
                          RestoreCounts* counts);
  // Remembers the counter families `req`'s metadata names (1.0 entries, 2.0
  // per-series types) and has the shards model the series of new ones as
  // rates, before any task posted after this; logs each switched metric.
  void LearnCounters(const proto::WriteRequestView& req);

  absl::Mutex reload_mu_;  // one reload at a time
  std::shared_ptr<const Config> config_ ABSL_GUARDED_BY(reload_mu_);
  const EngineOptions options_;
  storage::Store* store_;
  const Clock* clock_;
  SelfMetrics* metrics_;
  ActivityEngine* activities_;
  const Logger* log_;
  CounterFamilies counters_;
  std::atomic<bool> counters_full_logged_{false};
  std::atomic<uint64_t> next_id_{1};
  SeriesBudget budget_;
  std::atomic<size_t> queued_bytes_{0};
  std::vector<std::unique_ptr<Shard>> shards_;
};

// POST /-/reload and SIGHUP: re-reads the config files and hands them to the
// engine. Each outcome is logged and kept in kad_config_last_reload_*.
//
//   ConfigReloader reloader("environment.yaml", "", &engine, &metrics, &clock, &log);
//   absl::Status s = reloader.Reload();  // on an error the running config stays
//
// Thread-safe; Reload() blocks until the shards have switched.
class ConfigReloader {
 public:
  // The files were just loaded successfully (at start).
  ConfigReloader(std::string config_file, std::string activities_file, Engine* engine,
                 SelfMetrics* metrics, const Clock* clock, const Logger* log);
  // Before the first Reload(): each reload also runs `reload` (the web
  // config file's), whose error fails the reload without undoing the rest.
  void AlsoReload(std::function<absl::Status()> reload) { also_ = std::move(reload); }
  absl::Status Reload();

 private:
  const std::string config_file_;
  const std::string activities_file_;
  Engine* engine_;
  SelfMetrics* metrics_;
  const Clock* clock_;
  const Logger* log_;
  std::function<absl::Status()> also_;
};

}  // namespace kad::adapter
