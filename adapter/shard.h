// A Shard owns the forecast series whose input series hash to it, and one
// thread that does all work on them: model updates, checkpoints, retraining,
// and the shard's part of every read. Nothing else touches a shard's series,
// so there are no locks per sample.
//
// Thread-safety: Post() from any thread; everything else only from tasks
// posted to the shard (or before Start()).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "adapter/activity_engine.h"
#include "adapter/clock.h"
#include "adapter/config.h"
#include "adapter/counter_rate.h"
#include "adapter/forecast_series.h"
#include "adapter/label_index.h"
#include "adapter/label_matcher.h"
#include "adapter/labels.h"
#include "adapter/log.h"
#include "adapter/self_metrics.h"
#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/steady_timer.hpp"
#include "proto/write_request.h"
#include "storage/store.h"

namespace kad::adapter {

// One forecast series matched by a read, with what the shard knows of it.
// `series` stays valid on the shard's thread while its removals() is what
// it was at the match.
struct ReadMatch {
  const ForecastSeries* series;
  uint8_t value_types = 0;  // bit i: kValueTypes[i] is selected
  int64_t last_ts = kNoTimestamp;
  std::vector<std::pair<int64_t, models::Forecast>> future;  // t > last_ts
};

// The forecast series all shards hold, and how many they may hold: a series
// that would go beyond is not modelled (--storage.max-series).
struct SeriesBudget {
  std::atomic<int64_t> used{0};
  int64_t max = std::numeric_limits<int64_t>::max();
};

struct ShardOptions {
  // Default: 60 s. How often changed models are checkpointed, and series
  // past the config's series_ttl removed; a restart replays at most this
  // much of the stored points.
  int64_t checkpoint_interval_ms = 60'000;
  // Default: 480 s (retrain_scheduling_seconds). The periodic onRetrain event.
  int64_t retrain_interval_ms = 480'000;
};

// Unmodelled inputs are cached (so their samples are dropped without a
// selector match each) for at most this long without a sample.
inline constexpr int64_t kUnmodelledInputTtlMs = 10 * 60'000;

// What a reload does to the forecast series named P_k (predicted_metric_name
// + "_" + kind) of the new config; names missing from the plan were removed.
enum class ReloadChange {
  kKept,       // same metric_query, kind and args: the model carries on
  kRestarted,  // same name, another metric_query or other args: a new model
  kAdded,      // not in the old config: its stored series, if any, are restored
};
struct ReloadTarget {
  const MetricConfig* metric;  // in the new config
  const ModelConfig* model;
  ReloadChange change;
};
using ReloadPlan = absl::flat_hash_map<std::string, ReloadTarget>;

// A stored series restored from its checkpoint, not yet owned by a shard.
struct RestoredSeries {
  // LabelFields(input) and their hash, the label_hash the remote-write
  // decoders give the same labels: routes the series to its shard.
  std::string label_fields;
  uint64_t hash;
  std::unique_ptr<ForecastSeries> series;
};

struct ReadSpec {
  std::vector<LabelMatcher> matchers;
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  bool want_future = true;
};

class Shard {
 public:
  // `activities` may be null (no activities configured). The series point
  // into `config`, which the shard keeps alive until a reload replaces it.
  // `counters` (shared by all shards) says which inputs are counters;
  // `budget` (shared too) counts their series. `clock` tells series_ttl.
  // `log` says why a checkpoint, an expiry or a retrain on the timers (or
  // the checkpoint at Stop) failed.
  Shard(std::shared_ptr<const Config> config, const ShardOptions& options, storage::Store* store,
        SelfMetrics* metrics, ActivityEngine* activities, std::atomic<uint64_t>* next_id,
        const CounterFamilies* counters, SeriesBudget* budget, const Clock* clock,
        const Logger* log);
  ~Shard();

  // Before Start() (or in Reload): takes a series loaded from storage.
  void Adopt(RestoredSeries restored);
  // Starts the shard's thread, named `thread_name` (ps -T, top -H).
  void Start(std::string thread_name);
  // Checkpoints every changed series, then stops the thread.
  void Stop();
  void Post(std::function<void()> task);

  // --- shard thread only ---
  // Models the samples of req.series[i] for each i in `series` (all of which
  // hash to this shard) and writes their points in one batch. `now_ms` is
  // when the request arrived (what series_ttl counts from).
  absl::Status Apply(const proto::WriteRequestView& req, std::span<const uint32_t> series,
                     int64_t now_ms);
  // Writes the state of every changed series (all of them when `all`).
  absl::Status Checkpoint(bool all);
  // Removes the series whose input sent nothing since now_ms minus the
  // config's series_ttl (by arrival time, so late or backfilled samples count
  // as seen, and a restart after a long stop starts every stored series'
  // time anew), from memory and storage; forgets the unmodelled
  // inputs (not selected, invalid, over the series budget) not seen for
  // kUnmodelledInputTtlMs or series_ttl, whichever is shorter. Then gives
  // inputs over the budget the series there is room for again.
  absl::Status Expire(int64_t now_ms);
  // The onRetrain event for every series whose input labels match all of
  // `matchers` (every series when empty): retrains them, clears their
  // activity locks, and checkpoints them, so a restart replays from the
  // retrained state. Returns how many were retrained.
  absl::StatusOr<size_t> Retrain(const std::vector<LabelMatcher>& matchers);
  // Switches to `config` as `plan` says: kept series carry on (pointing into
  // `config`), restarted ones get a new model, removed ones are saved and
  // dropped, `restored` series join, and inputs already seen get the series
  // of entries that newly select them. Then checkpoints what changed.
  absl::Status Reload(std::shared_ptr<const Config> config, const ReloadPlan& plan,
                      std::vector<RestoredSeries> restored);
  // Models the series of inputs in the counter `families` (just learned) as
  // their rate (see ModelAsCounterRate), and checkpoints the ones that
  // switched. Adds to `(*switched)[input metric name]` per switched series.
  absl::Status LearnCounters(const absl::flat_hash_set<std::string>& families,
                             absl::flat_hash_map<std::string, size_t>* switched);
  void Match(const ReadSpec& spec, std::vector<ReadMatch>* out) const;
  // Any thread: when the timer's last complete checkpoint started, by the
  // clock (0 before the first): every model change before it is saved.
  int64_t checkpointed_ms() const { return checkpointed_ms_.load(std::memory_order_relaxed); }
  // Counts the series removals: a read's matches point at series that
  // are still there as long as it has not changed.
  uint64_t removals() const { return removals_; }
  // Appends the latest forecast of every live series, keyed by metric name.
  void RenderGauges(std::map<std::string, std::string>* families) const;

 private:
  // An input series as it arrives, and the forecast series it feeds (none
  // when no metric_query selects it: a cached drop). Most feed one, held
  // inline: every sample reads it, and a pointer less is a cache miss less.
  struct InputSeries {
    // Its labels as label fields (LabelFields): compared with a request's
    // own bytes, and a third of the memory of Labels.
    std::string label_fields;
    Labels labels() const { return *LabelsOfFields(label_fields); }
    absl::InlinedVector<ForecastSeries*, 1> outputs;
    // Labels Prometheus would never send (see ValidateLabels): not modelled,
    // since remote read must only return valid series.
    bool invalid = false;
    // Its metric family is a counter: its series are modelled as rates.
    bool counter = false;
    // Selected, but some of its series were not made: the budget was spent.
    bool over_budget = false;
    // When it last sent a sample (modelled or not), by the clock; when it
    // was restored for a stored series.
    int64_t last_seen_ms = std::numeric_limits<int64_t>::min();
  };

  InputSeries* Find(uint64_t hash, std::string_view label_fields);
  // A new input for `series` of a request; `labels` are its labels.
  InputSeries* Create(uint64_t hash, std::string_view label_fields,
                      std::span<const proto::LabelView> labels);
  // Adds to `in` a new series for each model of each entry selecting it
  // that it does not feed yet, as far as the budget allows; `labels` are
  // in's, decoded.
  void AddOutputs(InputSeries* in);
  void AddOutputs(InputSeries* in, const Labels& labels);
  // Adds to series_ and index_, and counts it.
  void AddSeries(std::unique_ptr<ForecastSeries> series);
  // Removes `gone` from series_ and index_, and uncounts them.
  void RemoveSeries(const absl::flat_hash_set<const ForecastSeries*>& gone);
  // Takes a place in the shared budget for a series about to be added;
  // false when none is left.
  bool ReserveSeries();
  // Brings the shared budget's count up to date with series_ (a reserved
  // place counts already).
  void CountSeries();

  // Writes the labels (if not yet stored) and the checkpoint of each, in
  // batches; marks each batch written clean.
  absl::Status SaveStates(std::span<ForecastSeries* const> series);
  void ScheduleCheckpoint();
  // The timer's checkpoint: saves the next kCheckpointBatch changed series
  // from series_[from] on, then posts the rest as a new task, so samples
  // queued meanwhile are modelled between two batches instead of waiting
  // for the whole checkpoint; schedules the next one when done. `removals`
  // is removals_ when `from` was found.
  void CheckpointFrom(size_t from, uint64_t removals);
  void ScheduleRetrain();
  // Logs `what` with the status' message, unless it is OK.
  void LogFailure(absl::string_view what, const absl::Status& status) const;

  std::shared_ptr<const Config> config_;
  const ShardOptions options_;
  storage::Store* store_;
  SelfMetrics* metrics_;
  ActivityEngine* activities_;
  std::atomic<uint64_t>* next_id_;
  const CounterFamilies* counters_;
  SeriesBudget* budget_;
  const Clock* clock_;
  const Logger* log_;
  std::string name_;  // the thread's, in log lines
  // Whether the last checkpoint on the timer failed (logged once it works again).
  bool checkpoint_failed_ = false;
  // The inputs by the hash of their label fields; a hash almost always has one, held in the
  // table's slot, so a lookup reaches the input without another hop.
  using InputChain = absl::InlinedVector<std::unique_ptr<InputSeries>, 1>;
  absl::flat_hash_map<uint64_t, InputChain> inputs_;
  std::vector<std::unique_ptr<ForecastSeries>> series_;
  LabelIndex index_;     // of series_
  int64_t counted_ = 0;  // series_.size() as last added to budget_->used
  uint64_t removals_ = 0;
  // Set by Stop: a checkpoint in progress stops, as Stop saves it all.
  bool stopping_ = false;
  // When the timer's checkpoint in progress started; the last complete one's.
  int64_t checkpoint_started_ms_ = 0;
  std::atomic<int64_t> checkpointed_ms_{0};
  // Apply's inputs of the request's series and its write (empty between
  // calls: Store::Write clears it), kept to reuse the memory.
  std::vector<InputSeries*> found_;
  storage::WriteBatch batch_;

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<boost::asio::steady_timer> checkpoint_timer_;
  std::unique_ptr<boost::asio::steady_timer> retrain_timer_;
  std::thread thread_;
};

}  // namespace kad::adapter
