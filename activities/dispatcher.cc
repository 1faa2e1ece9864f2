#include "activities/dispatcher.h"

#include <pthread.h>

#include <algorithm>
#include <cstdio>
#include <utility>

namespace kad::activities {
namespace {

int ActivityCap(const ActivitySpec& spec) { return std::max(1, spec.max_concurrent); }

// As `ps -T` and `top -H` show the worker (the kernel keeps 15 bytes).
void NameWorker(int i) {
  char name[16];
  std::snprintf(name, sizeof(name), "kad-activity-%d", i);
  pthread_setname_np(pthread_self(), name);
}

}  // namespace

Dispatcher::Dispatcher(const DispatcherOptions& options, DispatcherHooks hooks)
    : options_(options), hooks_(std::move(hooks)) {
  // One worker per allowed run: the global cap holds by construction.
  const int workers = std::max(1, options_.max_concurrent);
  workers_.reserve(workers);
  for (int i = 0; i < workers; ++i) {
    workers_.emplace_back([this, i] {
      NameWorker(i);
      Work();
    });
  }
}

Dispatcher::~Dispatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    // Never started, so not runs: no hooks, not counted as dropped.
    queue_.clear();
  }
  wake_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

bool Dispatcher::Submit(Job job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queue_.size() >= options_.queue_size) {
      ++dropped_;
      return false;
    }
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
  return true;
}

DispatcherStats Dispatcher::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return DispatcherStats{.queued = queue_.size(), .running = running_total_, .dropped = dropped_};
}

std::vector<std::string> Dispatcher::Running() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& [activity, runs] : running_) names.insert(names.end(), runs, activity->name);
  return names;
}

size_t Dispatcher::NextRunnable() const {
  for (size_t i = 0; i < queue_.size(); ++i) {
    const ActivitySpec* activity = queue_[i].activity;
    const auto it = running_.find(activity);
    if (it == running_.end() || it->second < ActivityCap(*activity)) return i;
  }
  return queue_.size();
}

void Dispatcher::Work() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    size_t next = 0;
    wake_.wait(lock, [&] { return stopping_ || (next = NextRunnable()) < queue_.size(); });
    if (stopping_) return;
    Job job = std::move(queue_[next]);
    queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(next));
    ++running_[job.activity];
    ++running_total_;
    lock.unlock();

    if (hooks_.on_start) hooks_.on_start(job);
    RunResult result;
    if (options_.dry_run) {
      result.outcome = RunOutcome::kSuccess;
      result.exit_code = 0;
      result.output = "dry run";
    } else {
      result = RunActivity(*job.activity, job.context);
    }
    if (hooks_.on_finish) hooks_.on_finish(job, result);

    lock.lock();
    if (--running_[job.activity] == 0) running_.erase(job.activity);
    --running_total_;
    // A job held back by its activity's cap may be runnable now, and other
    // workers may be the idle ones.
    wake_.notify_all();
  }
}

}  // namespace kad::activities
