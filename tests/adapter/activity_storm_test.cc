// A storm of band breaks through the whole adapter: 1,000 series break their
// bands in one remote-write request, and every run of the activity is
// recorded by the script itself ("start"/"end" lines with nanosecond
// timestamps appended to a log; appends of short lines are atomic). From
// that log the test computes how many runs overlapped, so the concurrency
// caps are checked on the processes that really ran, not on the adapter's
// own bookkeeping. Whether ingest slows down is a benchmark's question
// (bench/activity_storm_bench.cc), not a timed test's.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/adapter/in_process_adapter.h"
#include "tests/support/remote_client.h"

namespace kad::adapter {
namespace {

using ::kad::testing::HttpResult;
using ::kad::testing::RemoteWrite;
using ::kad::testing::ScrapeMetric;
using ::kad::testing::WriteRequestBuilder;
using testing::InProcessAdapter;
using testing::kStep;
using testing::kT0;
using testing::Metric;
using testing::TestOptions;

constexpr int kCalmSamples = 40;  // past holt_winters' warm-up of 30
// What Prometheus 2.42 sends at most per request (max_samples_per_send).
constexpr int kEntriesPerRequest = 2000;
// The harness' ActivityOptions::max_concurrent.
constexpr int kGlobalCap = 4;
constexpr int kActivityCap = 3;
constexpr auto kMaxWait = std::chrono::seconds(60);

// One line per start and end of a run: "<start|end> <activity> <instance>
// <ns>". `date` runs inside the script, so each logged interval lies within
// the time the dispatcher counts the run as running.
constexpr char kStormScript[] = R"sh(#!/bin/sh
echo "start $KAD_ACTIVITY $1 $(date +%s%N)" >> storm.log
sleep 0.01
echo "end $KAD_ACTIVITY $1 $(date +%s%N)" >> storm.log
)sh";

// Metric k of the storm is node_load<k+1>, forecast as
// predicted_node_load<k+1> (no seasons, so warm-up is only a sample count).
std::string Environment(int metrics) {
  std::string out = "version: \"v1alpha\"\nprometheus_metric_list:\n";
  for (int m = 1; m <= metrics; ++m) {
    absl::StrAppend(&out, "  - metric_query: \"node_load", m, "{job='node'}\"\n",
                    "    predicted_metric_name: predicted_node_load", m, "\n",
                    "    models:\n      - kind: holt_winters\n        args: {season: none}\n");
  }
  return out;
}

std::string ActivityName(int m) { return absl::StrCat("predicted_node_load", m, "_holt_winters"); }

std::string Activities(int metrics) {
  std::string out = "version: \"v1alpha\"\nactivities:\n";
  for (int m = 1; m <= metrics; ++m) {
    absl::StrAppend(&out, "  - name: ", ActivityName(m), "\n",
                    "    command:\n      shell_file: storm.sh\n",
                    "      args: [\"{{ labels.instance }}\"]\n",
                    "    timeout: 10s\n    max_concurrent: ", kActivityCap, "\n");
  }
  return out;
}

// Sample i of a calm series: 10 with a little deterministic wobble; sample
// kCalmSamples is the spike.
double Value(int i) { return i == kCalmSamples ? 1000 : 10 + 0.1 * (i % 3); }

// Sends every metric's `series` series the way Prometheus does: one sample
// per TimeSeries entry, all series at one timestamp before the next, at most
// kEntriesPerRequest entries per request. The last timestamp breaks every
// band at once.
void SendStorm(uint16_t port, int metrics, int series) {
  WriteRequestBuilder b;
  auto flush = [&] {
    absl::StatusOr<HttpResult> r = RemoteWrite(port, b.request());
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 204) << r->body;
    b = WriteRequestBuilder();
  };
  for (int i = 0; i <= kCalmSamples; ++i) {
    for (int m = 1; m <= metrics; ++m) {
      for (int k = 0; k < series; ++k) {
        b.Add({{"__name__", absl::StrCat("node_load", m)},
               {"instance", absl::StrCat("i", k)},
               {"job", "node"}},
              kT0 + i * kStep, Value(i));
        if (b.size() == kEntriesPerRequest) {
          ASSERT_NO_FATAL_FAILURE(flush());
        }
      }
    }
  }
  if (b.size() > 0) {
    ASSERT_NO_FATAL_FAILURE(flush());
  }
}

double Runs(uint16_t port, const std::string& activity, const char* outcome) {
  return Metric(port, absl::StrCat("kad_activity_runs_total{activity=\"", activity, "\",outcome=\"",
                                   outcome, "\"}"));
}

// Waits (bounded) until `expected` runs of each activity have ended or been
// dropped and nothing is queued or running. Returns the highest
// kad_activity_running seen meanwhile.
double WaitForStormToPass(uint16_t port, int metrics, int expected) {
  double max_running = 0;
  const auto deadline = std::chrono::steady_clock::now() + kMaxWait;
  while (std::chrono::steady_clock::now() < deadline) {
    const double running = Metric(port, "kad_activity_running");
    max_running = std::max(max_running, running);
    bool all_ended = running == 0 && Metric(port, "kad_activity_queue_depth") == 0;
    for (int m = 1; m <= metrics && all_ended; ++m) {
      double ended = 0;
      for (const char* outcome : {"success", "failure", "timeout", "dropped"}) {
        ended += Runs(port, ActivityName(m), outcome);
      }
      all_ended = ended >= expected;
    }
    if (all_ended) return max_running;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "the storm's runs did not end within " << kMaxWait.count() << " s";
  return max_running;
}

struct RunLog {
  // Runs started and ended, by activity and instance.
  std::map<std::pair<std::string, std::string>, int> starts, ends;
  // Most runs at once, by activity, and of all activities together.
  std::map<std::string, int> max_overlap;
  int max_overlap_all = 0;
};

// Parses the script's log and sweeps its intervals. At an equal timestamp
// an end counts before a start, so runs that merely touch do not overlap.
RunLog ReadRunLog(const std::string& path) {
  struct Event {
    int64_t ns;
    int delta;  // -1 end, +1 start: ends sort first
    std::string activity;
  };
  RunLog log;
  std::vector<Event> events;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const std::vector<std::string> f = absl::StrSplit(line, ' ');
    int64_t ns = 0;
    if (f.size() != 4 || (f[0] != "start" && f[0] != "end") || !absl::SimpleAtoi(f[3], &ns)) {
      ADD_FAILURE() << "bad log line: " << line;
      continue;
    }
    const bool start = f[0] == "start";
    ++(start ? log.starts : log.ends)[{f[1], f[2]}];
    events.push_back({ns, start ? 1 : -1, f[1]});
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return a.ns != b.ns ? a.ns < b.ns : a.delta < b.delta;
  });
  std::map<std::string, int> running;
  int running_all = 0;
  for (const Event& e : events) {
    running_all += e.delta;
    log.max_overlap_all = std::max(log.max_overlap_all, running_all);
    int& r = running[e.activity];
    r += e.delta;
    log.max_overlap[e.activity] = std::max(log.max_overlap[e.activity], r);
  }
  return log;
}

// Runs the storm of `series` series per metric, one activity per metric,
// and checks that every series ran its activity exactly once.
RunLog Storm(int metrics, int series) {
  TestOptions options;
  options.config = Environment(metrics);
  options.activities = Activities(metrics);
  options.scripts = {{"storm.sh", kStormScript}};
  InProcessAdapter adapter(options);
  const uint16_t port = adapter.port();

  SendStorm(port, metrics, series);
  const double max_running = WaitForStormToPass(port, metrics, series);
  EXPECT_LE(max_running, kGlobalCap);

  for (int m = 1; m <= metrics; ++m) {
    const std::string activity = ActivityName(m);
    // The default queue (1,000) holds one whole storm of an activity;
    // anything dropped would be counted here.
    EXPECT_EQ(Runs(port, activity, "dropped"), 0) << activity;
    EXPECT_EQ(Runs(port, activity, "success") + Runs(port, activity, "dropped"), series)
        << activity;
    EXPECT_EQ(Runs(port, activity, "failure"), 0) << activity;
    EXPECT_EQ(Runs(port, activity, "timeout"), 0) << activity;
  }
  EXPECT_EQ(Metric(port, "kad_activity_locks"), metrics * series);

  RunLog log = ReadRunLog(adapter.dir() + "/storm.log");
  for (int m = 1; m <= metrics; ++m) {
    for (int k = 0; k < series; ++k) {
      const std::pair<std::string, std::string> run{ActivityName(m), absl::StrCat("i", k)};
      EXPECT_EQ(log.starts[run], 1) << run.first << " " << run.second;
      EXPECT_EQ(log.ends[run], 1) << run.first << " " << run.second;
    }
  }
  EXPECT_EQ(log.starts.size(), static_cast<size_t>(metrics * series)) << "unexpected runs";
  return log;
}

TEST(ActivityStorm, ThousandBandBreaksAtOnceRunOnceEachWithinTheActivityCap) {
  const RunLog log = Storm(/*metrics=*/1, /*series=*/1000);
  const int overlap = log.max_overlap_all;
  EXPECT_LE(overlap, kActivityCap);
  // Runs did overlap, so a cap that let more through would have shown.
  EXPECT_GT(overlap, 1);
}

TEST(ActivityStorm, TwoActivitiesTogetherStayWithinTheGlobalCap) {
  const RunLog log = Storm(/*metrics=*/2, /*series=*/150);
  for (int m = 1; m <= 2; ++m) {
    const auto it = log.max_overlap.find(ActivityName(m));
    ASSERT_NE(it, log.max_overlap.end());
    EXPECT_LE(it->second, kActivityCap) << it->first;
  }
  EXPECT_LE(log.max_overlap_all, kGlobalCap);
  // More than one activity's cap ran at once: the global cap is what bound.
  EXPECT_GT(log.max_overlap_all, kActivityCap);
}

}  // namespace
}  // namespace kad::adapter
