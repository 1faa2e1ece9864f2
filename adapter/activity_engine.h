// The activity engine as the adapter sees it: which forecast runs which
// script, the locks that keep an activity from running twice for one
// incident, the events that clear them, the run history, and the
// activity metrics. Scripts run on the dispatcher's threads; shard threads
// only look up a lock and enqueue.
//
// A lock is keyed by (activity, input series) -- or by the activity alone
// with lock_scope: activity -- and is set when the run starts, in memory
// and in RocksDB, so neither another anomalous sample nor a restart reruns
// it. onRetrain clears the locks of retrained series; onAnomalyChangeStatus
// clears them when the series' anomaly goes from 1 back to 0.
//
// A reload replaces the bindings; a binding the reload leaves unchanged stays
// the same object. Replaced ones live as long as the engine, since queued
// and running jobs point at them (a few hundred bytes per changed activity).
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "activities/activity.h"
#include "activities/dispatcher.h"
#include "adapter/config.h"
#include "adapter/label_matcher.h"
#include "adapter/labels.h"
#include "adapter/log.h"
#include "storage/store.h"

namespace kad::adapter {

struct ActivityOptions {
  // Default: "scripts". Scripts resolve inside this folder only.
  std::string scripts_dir = "scripts";
  // Default: false. Log what would run instead of running it.
  bool dry_run = false;
  // Default: 4. Runs at once, all activities together.
  int max_concurrent = 4;
  // Default: 1000. Runs waiting to start; more are dropped and counted.
  size_t queue_size = 1000;
  // Default: 1000. Runs kept in the history.
  size_t history_size = 1000;
};

// What a forecast series needs to know about its activity.
struct ActivityBinding {
  activities::ActivitySpec spec;
  bool lock_per_activity = false;
  bool clear_on_retrain = false;
  bool clear_on_recovery = false;
};

struct LockInfo {
  std::string activity;
  Labels series;  // empty with lock_scope: activity
  int64_t since_ms = 0;
};

class ActivityEngine {
 public:
  // Resolves every activity's script; InvalidArgument (naming the activity)
  // for a script outside the scripts folder. Loads the stored locks.
  static absl::StatusOr<std::unique_ptr<ActivityEngine>> Create(const Config& config,
                                                                const ActivityOptions& options,
                                                                storage::Store* store,
                                                                const Logger* log);
  ~ActivityEngine();  // waits for running scripts

  // The binding for forecast series named `forecast_name` (P_k), or null.
  // The pointer stays valid for the engine's lifetime.
  const ActivityBinding* Find(std::string_view forecast_name) const;
  // Takes the activities of `config` (resolved as Create does); on an error
  // the old ones stay. Locks are kept, also those of removed activities.
  absl::Status Reload(const Config& config);

  // A new sample of `input` was scored (`point`); `was_anomaly` is the
  // previous sample's verdict. Called on the series' shard thread.
  void OnVerdict(const ActivityBinding& binding, const Labels& input,
                 const storage::ForecastPoint& point, bool was_anomaly);
  // The series was retrained (onRetrain).
  void OnRetrained(const ActivityBinding& binding, const Labels& input);

  std::vector<LockInfo> Locks() const;
  // Removes the locks of `activity` (all if "") whose series match every
  // matcher; returns how many.
  size_t DeleteLocks(std::string_view activity, const std::vector<LabelMatcher>& matchers);

  // JSON for GET /api/v1/activities: configured activities, running runs,
  // and the stored history (newest last).
  std::string ActivitiesJson() const;
  std::string LocksJson() const;
  // Appends the activity metrics in the text exposition format.
  void RenderMetrics(std::string* out) const;

 private:
  ActivityEngine(const ActivityOptions& options, storage::Store* store, const Logger* log);
  std::string LockKey(const ActivityBinding& binding, const Labels& input) const;
  void ClearLock(const std::string& key);
  void Started(const activities::Job& job);
  void Finished(const activities::Job& job, const activities::RunResult& result);

  const ActivityOptions options_;
  storage::Store* store_;
  const Logger* log_;
  using Bindings = std::map<std::string, std::shared_ptr<const ActivityBinding>, std::less<>>;
  // By activity name.
  static absl::StatusOr<Bindings> MakeBindings(const Config& config,
                                               const ActivityOptions& options);

  mutable absl::Mutex mu_;
  Bindings bindings_ ABSL_GUARDED_BY(mu_);
  // Bindings a reload replaced, kept for the jobs that point at them.
  std::vector<std::shared_ptr<const ActivityBinding>> retired_ ABSL_GUARDED_BY(mu_);
  // Claimed when enqueued, stored when the run starts, gone when cleared.
  absl::flat_hash_map<std::string, LockInfo> locks_ ABSL_GUARDED_BY(mu_);
  // runs by (activity, outcome); durations by activity.
  std::map<std::pair<std::string, std::string>, uint64_t> runs_ ABSL_GUARDED_BY(mu_);
  struct Durations {
    std::vector<uint64_t> buckets;  // non-cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  std::map<std::string, Durations> durations_ ABSL_GUARDED_BY(mu_);

  std::unique_ptr<activities::Dispatcher> dispatcher_;  // last: stopped first
};

}  // namespace kad::adapter
