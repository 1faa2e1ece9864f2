// Activities through the whole adapter: remote write in, band break, a real
// /bin/sh script run once under a lock, events that clear the lock, the
// JSON endpoints, and restarts. The script records its argv and environment
// to a file in the scripts folder.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/adapter/in_process_adapter.h"
#include "tests/support/http_client.h"
#include "tests/support/remote_client.h"

namespace kad::adapter {
namespace {

using ::kad::testing::HttpCall;
using ::kad::testing::HttpResult;
using ::kad::testing::LabelPairs;
using ::kad::testing::RemoteWrite;
using ::kad::testing::ScrapeMetric;
using ::kad::testing::WriteRequestBuilder;
using ::testing::HasSubstr;
using testing::InProcessAdapter;
using testing::kStep;
using testing::kT0;
using testing::Metric;
using ::testing::Not;
using testing::TestOptions;

constexpr char kActivity[] = "predicted_node_load_holt_winters";
const std::string kHostile = "$(touch /tmp/kad_pwned_activities_test); rm -rf /";

std::string Environment(absl::string_view events) {
  return absl::StrCat(R"(version: "v1alpha"
prometheus_metric_list:
  - metric_query: "node_load1{job='node'}"
    predicted_metric_name: predicted_node_load
    events: )",
                      events, R"(
    models:
      - kind: holt_winters
        args: {season: none}
)");
}

std::string Activities(absl::string_view script, absl::string_view extra = "") {
  return absl::StrCat(R"(version: "v1alpha"
activities:
  - name: predicted_node_load_holt_winters
    command:
      shell_file: )",
                      script, R"(
      args: ["{{ labels.instance }}", "{{ value }}", "literal arg"]
    timeout: 5s
    env: {KAD_TEST_ENV: "from config"}
)",
                      extra);
}

// Records one run per call: "--run--", one line per argument, "--env--",
// the sorted environment.
constexpr char kRecordScript[] = R"(#!/bin/sh
{
  echo "--run--"
  for a in "$@"; do printf '%s\n' "$a"; done
  echo "--env--"
  env | sort
} >> runs.log
)";

void WriteScript(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  chmod(path.c_str(), 0755);
}

LabelPairs Series(const std::string& instance) {
  return {{"__name__", "node_load1"}, {"instance", instance}, {"job", "node"}};
}

// Sample i of a calm series: 10 with a little deterministic wobble.
double Calm(int i) { return 10 + 0.1 * (i % 3); }

void Send(uint16_t port, const std::string& instance, int first, int count, double spike = 0) {
  WriteRequestBuilder b;
  for (int i = first; i < first + count; ++i) {
    b.Add(Series(instance), kT0 + i * kStep, spike != 0 ? spike : Calm(i));
  }
  absl::StatusOr<HttpResult> r = RemoteWrite(port, b.request());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, 204) << r->body;
}

std::vector<std::vector<std::string>> Runs(const std::string& dir) {
  std::ifstream in(dir + "/runs.log");
  std::vector<std::vector<std::string>> runs;
  std::string line;
  while (std::getline(in, line)) {
    if (line == "--run--") {
      runs.emplace_back();
    } else if (!runs.empty()) {
      runs.back().push_back(line);
    }
  }
  return runs;
}

// Waits (bounded) until `n` runs have finished and nothing is queued or
// running; then no further run can be on its way, since a band break is
// dispatched before its write is acknowledged.
void WaitForFinishedRuns(uint16_t port, int n) {
  const std::string finished =
      absl::StrCat("kad_activity_runs_total{activity=\"", kActivity, "\",outcome=\"success\"}");
  for (int i = 0; i < 200; ++i) {
    if (Metric(port, finished) >= n && Metric(port, "kad_activity_queue_depth") == 0 &&
        Metric(port, "kad_activity_running") == 0) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "runs did not finish in time";
}

std::string Get(uint16_t port, const std::string& target, const std::string& method = "GET") {
  absl::StatusOr<HttpResult> r = HttpCall(port, method, target);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return "";
  EXPECT_EQ(r->status, 200) << r->body;
  return r->body;
}

class ActivitiesTest : public ::testing::Test {
 protected:
  void Start(absl::string_view events, absl::string_view script = "record.sh",
             absl::string_view extra = "", bool dry_run = false) {
    TestOptions options;
    options.config = Environment(events);
    options.activities = Activities(script, extra);
    options.dry_run = dry_run;
    options.scripts = {{"record.sh", kRecordScript},
                       {"fail.sh", "#!/bin/sh\necho broken disk >&2\nexit 3\n"}};
    adapter_ = std::make_unique<InProcessAdapter>(options);
  }
  uint16_t port() const { return adapter_->port(); }
  const std::string& dir() const { return adapter_->dir(); }

  std::unique_ptr<InProcessAdapter> adapter_;
};

TEST_F(ActivitiesTest, BandBreakRunsTheScriptOnceWithArgvAndCleanEnvironment) {
  setenv("KAD_TEST_SECRET", "must not leak", 1);
  unlink("/tmp/kad_pwned_activities_test");
  Start("[onRetrain]");
  Send(port(), kHostile, 0, 60);
  ASSERT_TRUE(Runs(dir()).empty()) << "calm samples ran the activity";
  Send(port(), kHostile, 60, 1, /*spike=*/1000);
  WaitForFinishedRuns(port(), 1);
  // More anomalous samples while the lock is held: no second run.
  Send(port(), kHostile, 61, 5);
  Send(port(), kHostile, 66, 1, /*spike=*/2000);
  WaitForFinishedRuns(port(), 1);

  const auto runs = Runs(dir());
  ASSERT_EQ(runs.size(), 1u);
  const std::vector<std::string>& run = runs[0];
  ASSERT_GE(run.size(), 4u);
  // The hostile label value is one literal argument, never run by a shell.
  EXPECT_EQ(run[0], kHostile);
  EXPECT_EQ(run[1], "1000");
  EXPECT_EQ(run[2], "literal arg");
  EXPECT_EQ(run[3], "--env--");
  EXPECT_NE(access("/tmp/kad_pwned_activities_test", F_OK), 0);
  const std::vector<std::string> env(run.begin() + 4, run.end());
  EXPECT_THAT(env, ::testing::Contains(absl::StrCat("KAD_ACTIVITY=", kActivity)));
  EXPECT_THAT(env, ::testing::Contains("KAD_METRIC=node_load1"));
  EXPECT_THAT(env, ::testing::Contains("KAD_VALUE=1000"));
  EXPECT_THAT(env, ::testing::Contains("KAD_TEST_ENV=from config"));
  EXPECT_THAT(env, ::testing::Contains(::testing::StartsWith("PATH=")));
  EXPECT_THAT(env, ::testing::Contains(::testing::StartsWith("KAD_YHAT_UPPER=")));
  EXPECT_THAT(env, Not(::testing::Contains(::testing::HasSubstr("KAD_TEST_SECRET"))));
  EXPECT_THAT(env, Not(::testing::Contains(::testing::StartsWith("HOME="))));

  const std::string locks = Get(port(), "/api/v1/locks");
  EXPECT_THAT(locks, HasSubstr(absl::StrCat("\"activity\":\"", kActivity, "\"")));
  EXPECT_THAT(locks, HasSubstr("\"job\":\"node\""));
  EXPECT_EQ(Metric(port(), "kad_activity_locks"), 1);
  const std::string activities = Get(port(), "/api/v1/activities");
  EXPECT_THAT(activities, HasSubstr("\"outcome\":\"success\""));
  EXPECT_THAT(activities, HasSubstr("\"exit_code\":0"));
}

TEST_F(ActivitiesTest, RecoveryClearsTheLockWithOnAnomalyChangeStatus) {
  Start("[onAnomalyChangeStatus]");
  Send(port(), "x", 0, 60);
  Send(port(), "x", 60, 1, 1000);
  WaitForFinishedRuns(port(), 1);
  Send(port(), "x", 61, 5);  // back inside the band: the lock is cleared
  EXPECT_EQ(Metric(port(), "kad_activity_locks"), 0);
  Send(port(), "x", 66, 1, 2000);
  WaitForFinishedRuns(port(), 2);
  EXPECT_EQ(Runs(dir()).size(), 2u);
}

TEST_F(ActivitiesTest, WithoutOnAnomalyChangeStatusRecoveryKeepsTheLock) {
  Start("[onRetrain]");
  Send(port(), "x", 0, 60);
  Send(port(), "x", 60, 1, 1000);
  WaitForFinishedRuns(port(), 1);
  Send(port(), "x", 61, 5);
  EXPECT_EQ(Metric(port(), "kad_activity_locks"), 1);
  Send(port(), "x", 66, 1, 2000);
  WaitForFinishedRuns(port(), 1);
  EXPECT_EQ(Runs(dir()).size(), 1u);
}

TEST_F(ActivitiesTest, LocksSurviveARestartAndRetrainClearsThem) {
  Start("[onRetrain]");
  Send(port(), "x", 0, 60);
  Send(port(), "x", 60, 1, 1000);
  WaitForFinishedRuns(port(), 1);

  adapter_->Restart();
  EXPECT_THAT(Get(port(), "/api/v1/locks"), HasSubstr("\"instance\":\"x\""));
  Send(port(), "x", 61, 5);
  Send(port(), "x", 66, 1, 2000);
  WaitForFinishedRuns(port(), 0);
  EXPECT_EQ(Runs(dir()).size(), 1u) << "the restart forgot the lock";

  EXPECT_EQ(Get(port(), "/api/v1/retrain?match[]=node_load1%7Binstance%3D%22x%22%7D", "POST"),
            "{\"retrained\":1}");
  EXPECT_EQ(Get(port(), "/api/v1/locks"), "{\"locks\":[]}");
  Send(port(), "x", 67, 5);
  Send(port(), "x", 72, 1, 3000);
  WaitForFinishedRuns(port(), 1);
  EXPECT_EQ(Runs(dir()).size(), 2u);
}

TEST_F(ActivitiesTest, DeleteLocksBySelectorRemovesOnlyThoseSeries) {
  Start("[onRetrain]");
  for (const char* instance : {"x", "y"}) {
    Send(port(), instance, 0, 60);
    Send(port(), instance, 60, 1, 1000);
  }
  WaitForFinishedRuns(port(), 2);
  EXPECT_EQ(Metric(port(), "kad_activity_locks"), 2);
  EXPECT_EQ(Get(port(), "/api/v1/locks?match[]=node_load1{instance=\"x\"}", "DELETE"),
            "{\"deleted\":1}");
  const std::string locks = Get(port(), "/api/v1/locks");
  EXPECT_THAT(locks, HasSubstr("\"instance\":\"y\""));
  EXPECT_THAT(locks, Not(HasSubstr("\"instance\":\"x\"")));
  absl::StatusOr<HttpResult> bad = HttpCall(port(), "DELETE", "/api/v1/locks?match[]=sum(x)");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400);
}

TEST_F(ActivitiesTest, FailingScriptIsRecordedWithExitCodeAndOutput) {
  Start("[onRetrain]", "fail.sh");
  Send(port(), "x", 0, 60);
  Send(port(), "x", 60, 1, 1000);
  const std::string failed =
      absl::StrCat("kad_activity_runs_total{activity=\"", kActivity, "\",outcome=\"failure\"}");
  for (int i = 0; i < 200 && Metric(port(), failed) < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(Metric(port(), failed), 1);
  const std::string activities = Get(port(), "/api/v1/activities");
  EXPECT_THAT(activities, HasSubstr("\"outcome\":\"failure\""));
  EXPECT_THAT(activities, HasSubstr("\"exit_code\":3"));
  EXPECT_THAT(activities, HasSubstr("broken disk"));
}

TEST_F(ActivitiesTest, DryRunRecordsTheRunButStartsNothing) {
  Start("[onRetrain]", "record.sh", "", /*dry_run=*/true);
  Send(port(), "x", 0, 60);
  Send(port(), "x", 60, 1, 1000);
  WaitForFinishedRuns(port(), 1);
  EXPECT_TRUE(Runs(dir()).empty());
  EXPECT_THAT(Get(port(), "/api/v1/activities"), HasSubstr("\"dry_run\":true"));
}

TEST(ActivityEngine, ScriptOutsideTheScriptsFolderIsRefused) {
  char dir_template[] = "/tmp/kad_activity_engine_XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  WriteScript(dir, "outside.sh", "#!/bin/sh\n");
  mkdir((dir + "/scripts").c_str(), 0755);
  absl::StatusOr<Config> config =
      ParseConfig(Environment("[onRetrain]"), Activities("../outside.sh"));
  ASSERT_TRUE(config.ok()) << config.status();
  storage::StoreOptions store_options;
  store_options.path = dir + "/data";
  absl::StatusOr<std::unique_ptr<storage::Store>> store = storage::Store::Open(store_options);
  ASSERT_TRUE(store.ok()) << store.status();
  const Logger log(LogLevel::kError);
  ActivityOptions options;
  options.scripts_dir = dir + "/scripts";
  absl::StatusOr<std::unique_ptr<ActivityEngine>> engine =
      ActivityEngine::Create(*config, options, store->get(), &log);
  ASSERT_FALSE(engine.ok());
  EXPECT_THAT(std::string(engine.status().message()), HasSubstr(kActivity));
  store->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kad::adapter
