// Runs activities off the ingest path: Submit() never blocks; a bounded
// queue feeds a few worker threads; at most `max_concurrent` runs at once
// overall and ActivitySpec::max_concurrent per activity. What does not fit
// in the queue is dropped and counted.
//
//   Dispatcher d(options, hooks);
//   d.Submit({.activity = &spec, .context = ctx, .lock_key = key});
//
// Hooks run on worker threads: on_start just before the process starts
// (the adapter sets the lock there), on_finish after it ended.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "activities/activity.h"
#include "activities/runner.h"

namespace kad::activities {

struct DispatcherOptions {
  // Default: 4. Runs at once, all activities together (worker threads).
  int max_concurrent = 4;
  // Default: 1000. Runs waiting to start; more are dropped.
  size_t queue_size = 1000;
  // Default: false. Log what would run (on_start/on_finish still run,
  // with a success result and no process) instead of running it.
  bool dry_run = false;
};

struct Job {
  const ActivitySpec* activity = nullptr;  // outlives the dispatcher
  AnomalyContext context;
  std::string lock_key;  // opaque to the dispatcher; passed to the hooks
};

struct DispatcherHooks {
  std::function<void(const Job&)> on_start;
  std::function<void(const Job&, const RunResult&)> on_finish;
};

struct DispatcherStats {
  size_t queued = 0;
  size_t running = 0;
  uint64_t dropped = 0;
};

class Dispatcher {
 public:
  Dispatcher(const DispatcherOptions& options, DispatcherHooks hooks);
  ~Dispatcher();  // stops taking jobs, waits for running ones

  // False (and counted as dropped) when the queue is full or stopping.
  bool Submit(Job job);
  DispatcherStats Stats() const;
  // Names of activities running now, one entry per run.
  std::vector<std::string> Running() const;

 private:
  void Work();
  // Index in queue_ of the oldest job whose activity is below its own cap,
  // or queue_.size() if none. Requires mu_.
  size_t NextRunnable() const;

  const DispatcherOptions options_;
  const DispatcherHooks hooks_;
  mutable std::mutex mu_;
  std::condition_variable wake_;                // a job was queued, a run ended, or stopping
  std::deque<Job> queue_;                       // guarded by mu_
  std::map<const ActivitySpec*, int> running_;  // guarded by mu_; runs > 0 only
  size_t running_total_ = 0;                    // guarded by mu_
  uint64_t dropped_ = 0;                        // guarded by mu_
  bool stopping_ = false;                       // guarded by mu_
  std::vector<std::thread> workers_;            // last: started after everything above
};

}  // namespace kad::activities
