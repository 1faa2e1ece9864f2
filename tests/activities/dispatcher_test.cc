#include "activities/dispatcher.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/activities/script_dir.h"

namespace kad::activities {
namespace {

using ::kad::activities::testing::Exists;
using ::kad::activities::testing::PollUntil;
using ::kad::activities::testing::ReadFile;
using ::kad::activities::testing::ScriptDir;
using ::testing::ElementsAre;

constexpr auto kWaitLimit = std::chrono::seconds(15);

// Logs the script's start and end (ns since the epoch) to $LOG; appends of
// one short line are atomic, so concurrent runs can share the file.
constexpr const char* kLogStart = "echo \"start $(date +%s%N)\" >> \"$LOG\"\n";
constexpr const char* kLogEnd = "echo \"end $(date +%s%N)\" >> \"$LOG\"\n";
// Waits (bounded) until the test creates $RELEASE.
constexpr const char* kWaitRelease =
    "i=0\nwhile [ ! -e \"$RELEASE\" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done\n";

// What the hooks saw: runs started and finished, and the most runs that
// were between on_start and on_finish at once, overall and per activity.
class HookRecorder {
 public:
  DispatcherHooks Hooks() {
    return DispatcherHooks{
        .on_start =
            [this](const Job& job) {
              std::lock_guard<std::mutex> lock(mu_);
              ++started_[job.activity->name];
              max_total_ = std::max(max_total_, ++running_total_);
              int& running = running_[job.activity->name];
              max_[job.activity->name] = std::max(max_[job.activity->name], ++running);
            },
        .on_finish =
            [this](const Job& job, const RunResult& result) {
              std::lock_guard<std::mutex> lock(mu_);
              --running_total_;
              --running_[job.activity->name];
              ++finished_[job.activity->name];
              results_.push_back(result);
              finished_cv_.notify_all();
            },
    };
  }

  // Waits until `n` runs of `activity` (any activity if "") have finished.
  bool WaitFinished(int n, const std::string& activity = "") {
    std::unique_lock<std::mutex> lock(mu_);
    return finished_cv_.wait_for(lock, kWaitLimit, [&] { return Count(finished_, activity) >= n; });
  }
  int Started(const std::string& activity = "") const {
    std::lock_guard<std::mutex> lock(mu_);
    return Count(started_, activity);
  }
  int Finished() const {
    std::lock_guard<std::mutex> lock(mu_);
    return Count(finished_, "");
  }
  int MaxRunning() const {
    std::lock_guard<std::mutex> lock(mu_);
    return max_total_;
  }
  int MaxRunning(const std::string& activity) const {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = max_.find(activity);
    return it == max_.end() ? 0 : it->second;
  }
  std::vector<RunResult> Results() const {
    std::lock_guard<std::mutex> lock(mu_);
    return results_;
  }

 private:
  static int Count(const std::map<std::string, int>& counts, const std::string& activity) {
    if (!activity.empty()) {
      const auto it = counts.find(activity);
      return it == counts.end() ? 0 : it->second;
    }
    int total = 0;
    for (const auto& [name, n] : counts) total += n;
    return total;
  }

  mutable std::mutex mu_;
  std::condition_variable finished_cv_;
  std::map<std::string, int> started_, finished_, running_, max_;
  int running_total_ = 0;
  int max_total_ = 0;
  std::vector<RunResult> results_;
};

ActivitySpec Spec(const std::string& name, const std::string& script, int max_concurrent,
                  std::vector<std::pair<std::string, std::string>> env) {
  ActivitySpec spec;
  spec.name = name;
  spec.script_path = script;
  spec.max_concurrent = max_concurrent;
  spec.timeout_ms = 10'000;
  spec.kill_grace_ms = 200;
  spec.env = std::move(env);
  return spec;
}

Job JobFor(const ActivitySpec& spec) {
  Job job;
  job.activity = &spec;
  job.context.metric = "node_load1";
  job.lock_key = spec.name + "/series";
  return job;
}

struct LogSummary {
  int starts = 0;
  int max_overlap = 0;
};

// Most processes that were between their "start" and "end" lines at once.
LogSummary Summarize(const std::string& log) {
  std::vector<std::pair<int64_t, int>> events;  // (time, +1 start / -1 end)
  std::istringstream in(log);
  std::string kind;
  int64_t ns;
  LogSummary summary;
  while (in >> kind >> ns) {
    events.emplace_back(ns, kind == "start" ? 1 : -1);
    if (kind == "start") ++summary.starts;
  }
  // At equal times, ends first: never overstate the overlap.
  std::sort(events.begin(), events.end());
  int running = 0;
  for (const auto& [time, delta] : events) {
    running += delta;
    summary.max_overlap = std::max(summary.max_overlap, running);
  }
  return summary;
}

TEST(Dispatcher, NeverExceedsGlobalCap) {
  ScriptDir dir;
  const std::string log = dir.Path("runs.log");
  const ActivitySpec spec =
      Spec("wide", dir.Write("run.sh", std::string(kLogStart) + "sleep 0.05\n" + kLogEnd), 50,
           {{"LOG", log}});
  HookRecorder recorder;
  Dispatcher dispatcher({.max_concurrent = 3, .queue_size = 1000}, recorder.Hooks());

  for (int i = 0; i < 50; ++i) ASSERT_TRUE(dispatcher.Submit(JobFor(spec)));
  EXPECT_LE(dispatcher.Stats().running, 3u);
  ASSERT_TRUE(recorder.WaitFinished(50));

  const LogSummary summary = Summarize(ReadFile(log));
  EXPECT_EQ(summary.starts, 50);
  EXPECT_LE(summary.max_overlap, 3);
  EXPECT_LE(recorder.MaxRunning(), 3);
  // The cap is also reached, so the runs really did overlap.
  EXPECT_EQ(recorder.MaxRunning(), 3);
  for (const RunResult& result : recorder.Results()) {
    EXPECT_EQ(result.outcome, RunOutcome::kSuccess) << result.output;
  }
  EXPECT_EQ(dispatcher.Stats().dropped, 0u);
}

TEST(Dispatcher, PerActivityCapHoldsWhileOtherActivitiesRunPastIt) {
  ScriptDir dir;
  const std::string release = dir.Path("release");
  const std::string log_a = dir.Path("a.log");
  const ActivitySpec a =
      Spec("a", dir.Write("a.sh", std::string(kLogStart) + kWaitRelease + kLogEnd), 1,
           {{"LOG", log_a}, {"RELEASE", release}});
  const ActivitySpec b = Spec("b", dir.Write("b.sh", "exit 0\n"), 4, {});
  HookRecorder recorder;
  Dispatcher dispatcher({.max_concurrent = 4}, recorder.Hooks());

  for (const ActivitySpec* spec : {&a, &a, &a, &b, &b})
    ASSERT_TRUE(dispatcher.Submit(JobFor(*spec)));
  // Both b runs finish while the first a blocks the other two.
  ASSERT_TRUE(recorder.WaitFinished(2, "b"));
  EXPECT_EQ(recorder.Started("a"), 1);
  // on_finish runs before the dispatcher counts the run as ended.
  EXPECT_TRUE(PollUntil([&] { return dispatcher.Running().size() == 1; }, kWaitLimit));
  EXPECT_THAT(dispatcher.Running(), ElementsAre("a"));
  EXPECT_EQ(dispatcher.Stats().queued, 2u);

  std::ofstream(release).put('\n');
  ASSERT_TRUE(recorder.WaitFinished(3, "a"));
  EXPECT_EQ(recorder.MaxRunning("a"), 1);
  const LogSummary summary = Summarize(ReadFile(log_a));
  EXPECT_EQ(summary.starts, 3);
  EXPECT_EQ(summary.max_overlap, 1);
}

TEST(Dispatcher, FullQueueDropsAndCounts) {
  ScriptDir dir;
  const std::string release = dir.Path("release");
  const ActivitySpec spec =
      Spec("slow", dir.Write("slow.sh", kWaitRelease), 1, {{"RELEASE", release}});
  HookRecorder recorder;
  Dispatcher dispatcher({.max_concurrent = 1, .queue_size = 2}, recorder.Hooks());

  ASSERT_TRUE(dispatcher.Submit(JobFor(spec)));
  ASSERT_TRUE(PollUntil([&] { return recorder.Started() == 1; }, kWaitLimit));
  EXPECT_TRUE(dispatcher.Submit(JobFor(spec)));
  EXPECT_TRUE(dispatcher.Submit(JobFor(spec)));
  EXPECT_FALSE(dispatcher.Submit(JobFor(spec)));
  EXPECT_FALSE(dispatcher.Submit(JobFor(spec)));
  const DispatcherStats stats = dispatcher.Stats();
  EXPECT_EQ(stats.queued, 2u);
  EXPECT_EQ(stats.running, 1u);
  EXPECT_EQ(stats.dropped, 2u);

  std::ofstream(release).put('\n');
  ASSERT_TRUE(recorder.WaitFinished(3));
  EXPECT_EQ(recorder.Started(), 3);
  EXPECT_EQ(dispatcher.Stats().dropped, 2u);
}

TEST(Dispatcher, DryRunStartsNoProcess) {
  ScriptDir dir;
  const std::string touched = dir.Path("touched");
  const ActivitySpec spec =
      Spec("dry", dir.Write("touch.sh", "touch \"$OUT\"\n"), 1, {{"OUT", touched}});
  HookRecorder recorder;
  Dispatcher dispatcher({.max_concurrent = 2, .dry_run = true}, recorder.Hooks());

  for (int i = 0; i < 3; ++i) ASSERT_TRUE(dispatcher.Submit(JobFor(spec)));
  ASSERT_TRUE(recorder.WaitFinished(3));

  EXPECT_EQ(recorder.Started(), 3);
  for (const RunResult& result : recorder.Results()) {
    EXPECT_EQ(result.outcome, RunOutcome::kSuccess);
    EXPECT_EQ(result.exit_code, 0);
    EXPECT_EQ(result.output, "dry run");
  }
  EXPECT_FALSE(Exists(touched));
}

TEST(Dispatcher, DestructorDropsQueuedJobsAndWaitsForRunningOnes) {
  ScriptDir dir;
  const std::string done = dir.Path("done");
  const ActivitySpec spec =
      Spec("once", dir.Write("run.sh", "sleep 0.2\ntouch \"$OUT\"\n"), 1, {{"OUT", done}});
  HookRecorder recorder;
  {
    Dispatcher dispatcher({.max_concurrent = 1}, recorder.Hooks());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(dispatcher.Submit(JobFor(spec)));
    ASSERT_TRUE(PollUntil([&] { return recorder.Started() == 1; }, kWaitLimit));
  }
  EXPECT_TRUE(Exists(done));
  EXPECT_EQ(recorder.Started(), 1);
  EXPECT_EQ(recorder.Finished(), 1);
  EXPECT_EQ(recorder.Results().at(0).outcome, RunOutcome::kSuccess);
}

TEST(Dispatcher, PassesJobToHooksUnchanged) {
  ScriptDir dir;
  const ActivitySpec spec = Spec("hooked", dir.Write("run.sh", "exit 4\n"), 1, {});
  std::mutex mu;
  std::vector<std::string> seen;
  int exit_code = 0;
  DispatcherHooks hooks{
      .on_start =
          [&](const Job& job) {
            std::lock_guard<std::mutex> lock(mu);
            seen.push_back("start " + job.lock_key + " " + job.context.metric);
          },
      .on_finish =
          [&](const Job& job, const RunResult& result) {
            std::lock_guard<std::mutex> lock(mu);
            seen.push_back("finish " + job.lock_key);
            exit_code = result.exit_code;
          },
  };
  {
    Dispatcher dispatcher({.max_concurrent = 1}, hooks);
    ASSERT_TRUE(dispatcher.Submit(JobFor(spec)));
    ASSERT_TRUE(PollUntil(
        [&] {
          std::lock_guard<std::mutex> lock(mu);
          return seen.size() == 2;
        },
        kWaitLimit));
  }
  EXPECT_THAT(seen, ElementsAre("start hooked/series node_load1", "finish hooked/series"));
  EXPECT_EQ(exit_code, 4);
}

}  // namespace
}  // namespace kad::activities
