// Config reloads (POST /-/reload) of the adapter as main() wires it: an
// unchanged entry keeps its models, a changed one starts new models, an
// added one starts modelling, a removed one stops and resumes when added
// back, and a bad config leaves the running one in place. Each is checked
// against a twin adapter that never reloaded (or started with the new
// config), fed the same samples.
//
//   reloaded:  config A, samples 0..399, reload to B, samples 400..599
//   twin:      config A, samples 0..599               (kept forecasts equal)
//   fresh:     config B,             samples 400..599 (new models equal)
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/adapter/in_process_adapter.h"
#include "tests/support/http_client.h"
#include "tests/support/remote_client.h"

namespace kad::adapter {
namespace {

using ::kad::testing::DiffSeries;
using ::kad::testing::HttpCall;
using ::kad::testing::HttpResult;
using ::kad::testing::LabelPairs;
using ::kad::testing::MakeQuery;
using ::kad::testing::Matcher;
using ::kad::testing::ReadSamples;
using ::kad::testing::RemoteWrite;
using ::kad::testing::SeriesData;
using ::kad::testing::SeriesOf;
using ::kad::testing::WriteRequestBuilder;
using ::testing::HasSubstr;
using testing::InProcessAdapter;
using testing::kHour;
using testing::kStep;
using testing::kT0;
using testing::Metric;
using ::testing::StartsWith;
using testing::TestOptions;

// Three entries on the same input: one kept, one changed, one removed by B.
constexpr char kConfigA[] = R"(version: "v1alpha"
prometheus_metric_list:
  - metric_query: "node_load1{job='node'}"
    predicted_metric_name: kept_load
    forecast_horizon: 1h
  - metric_query: "node_load1{job='node'}"
    predicted_metric_name: changed_load
    models:
      - kind: holt_winters
  - metric_query: "node_load1{job='node'}"
    predicted_metric_name: removed_load
)";

// kept_load: only its horizon changes (its model carries on); changed_load:
// other args; removed_load: gone; added_load: new.
constexpr char kConfigB[] = R"(version: "v1alpha"
prometheus_metric_list:
  - metric_query: "node_load1{job='node'}"
    predicted_metric_name: kept_load
    forecast_horizon: 2h
  - metric_query: "node_load1{job='node'}"
    predicted_metric_name: changed_load
    models:
      - kind: holt_winters
        args: {band_sigmas: 4}
  - metric_query: "node_load1{job='node'}"
    predicted_metric_name: added_load
)";

constexpr char kKept[] = "kept_load_combined";  // no models: the default kind
constexpr char kChanged[] = "changed_load_holt_winters";
constexpr char kRemoved[] = "removed_load_combined";
constexpr char kAdded[] = "added_load_combined";
constexpr int kInstances = 3;

int64_t T(int i) { return kT0 + i * kStep; }

// A wave with some noise, so that a model's history shows in its forecasts.
double Load(int instance, int i) {
  return 2 + instance + std::sin(i * 0.05) + 0.1 * ((i * 7919 + instance) % 13);
}

// Writes samples first .. first+count-1 of every instance, 100 steps a request.
void Write(uint16_t port, int first, int count) {
  for (int start = first; start < first + count; start += 100) {
    WriteRequestBuilder b;
    for (int i = start; i < std::min(start + 100, first + count); ++i) {
      for (int k = 0; k < kInstances; ++k) {
        b.Add({{"__name__", "node_load1"}, {"instance", absl::StrCat("n", k)}, {"job", "node"}},
              T(i), Load(k, i));
      }
    }
    absl::StatusOr<HttpResult> r = RemoteWrite(port, b.request());
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 204) << r->body;
  }
}

// Every value type of forecast `name` with points in [start, end].
std::vector<SeriesData> Read(uint16_t port, const std::string& name, int64_t start, int64_t end) {
  absl::StatusOr<prometheus::ReadResponse> r = ReadSamples(
      port, MakeQuery(start, end, {Matcher(prometheus::LabelMatcher::EQ, "__name__", name)}));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? SeriesOf(r->results(0)) : std::vector<SeriesData>();
}

HttpResult Reload(uint16_t port) {
  absl::StatusOr<HttpResult> r = HttpCall(port, "POST", "/-/reload");
  EXPECT_TRUE(r.ok()) << r.status();
  return r.value_or(HttpResult{});
}

size_t NumPoints(const std::vector<SeriesData>& series) {
  size_t n = 0;
  for (const SeriesData& s : series) n += s.samples.size();
  return n;
}

// The adapter on config A with samples 0..399, reloaded to config B.
class ReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Write(reloaded_.port(), 0, 400);
    ASSERT_EQ(Read(reloaded_.port(), kRemoved, kT0, T(399)).size(), 5u * kInstances);
    reloaded_.WriteConfig(kConfigB);
    const HttpResult r = Reload(reloaded_.port());
    ASSERT_EQ(r.status, 200) << r.body;
  }

  InProcessAdapter reloaded_{TestOptions{.config = kConfigA}};
};

TEST_F(ReloadTest, UnchangedEntryKeepsItsModel) {
  InProcessAdapter twin(TestOptions{.config = kConfigA});
  Write(twin.port(), 0, 600);
  Write(reloaded_.port(), 400, 200);

  // Stored points and the hour ahead: bit for bit the never-reloaded twin's.
  EXPECT_EQ(DiffSeries(Read(reloaded_.port(), kKept, kT0, T(599) + kHour),
                       Read(twin.port(), kKept, kT0, T(599) + kHour)),
            "");
  // The new forecast_horizon applies at once: the band reaches two hours.
  EXPECT_EQ(NumPoints(Read(twin.port(), kKept, T(599) + kHour + 1, T(599) + 2 * kHour)), 0u);
  EXPECT_GT(NumPoints(Read(reloaded_.port(), kKept, T(599) + kHour + 1, T(599) + 2 * kHour)), 0u);
}

TEST_F(ReloadTest, ChangedEntryStartsANewModel) {
  InProcessAdapter fresh(TestOptions{.config = kConfigB});
  Write(fresh.port(), 400, 200);
  // Until its next sample the new model publishes no band ahead.
  EXPECT_EQ(NumPoints(Read(reloaded_.port(), kChanged, T(399) + 1, T(399) + kHour)), 0u);
  EXPECT_GT(NumPoints(Read(reloaded_.port(), kKept, T(399) + 1, T(399) + kHour)), 0u);
  Write(reloaded_.port(), 400, 200);

  // From the reload on, the forecasts are those of a model that never saw
  // samples 0..399; the points stored before stay readable.
  const std::vector<SeriesData> after = Read(reloaded_.port(), kChanged, T(400), T(599) + kHour);
  EXPECT_EQ(DiffSeries(after, Read(fresh.port(), kChanged, T(400), T(599) + kHour)), "");
  EXPECT_EQ(NumPoints(Read(reloaded_.port(), kChanged, kT0, T(399))), 5u * kInstances * 400);
  // ...and differ from the model that carried on (it is not the same forecast).
  InProcessAdapter twin(TestOptions{.config = kConfigA});
  Write(twin.port(), 0, 600);
  EXPECT_NE(DiffSeries(after, Read(twin.port(), kChanged, T(400), T(599) + kHour)), "");

  // A restart resumes the new model, not the old checkpoint.
  reloaded_.Restart();
  EXPECT_EQ(DiffSeries(Read(reloaded_.port(), kChanged, T(400), T(599) + kHour),
                       Read(fresh.port(), kChanged, T(400), T(599) + kHour)),
            "");
}

TEST_F(ReloadTest, AddedEntryModelsNewSamples) {
  InProcessAdapter fresh(TestOptions{.config = kConfigB});
  Write(fresh.port(), 400, 200);
  Write(reloaded_.port(), 400, 200);

  const std::vector<SeriesData> added = Read(reloaded_.port(), kAdded, kT0, T(599) + kHour);
  EXPECT_EQ(added.size(), 5u * kInstances);
  EXPECT_EQ(DiffSeries(added, Read(fresh.port(), kAdded, kT0, T(599) + kHour)), "");
}

TEST_F(ReloadTest, RemovedEntryStopsAndResumesItsModelWhenAddedBack) {
  EXPECT_EQ(Read(reloaded_.port(), kRemoved, kT0, T(599)).size(), 0u);
  EXPECT_EQ(Metric(reloaded_.port(), "kad_active_series"), 3 * kInstances);
  const double modelled = Metric(reloaded_.port(), "kad_samples_modelled_total");
  Write(reloaded_.port(), 400, 100);
  // Three forecasts per sample now, not four.
  EXPECT_EQ(Metric(reloaded_.port(), "kad_samples_modelled_total") - modelled,
            3 * kInstances * 100);

  // Back to A: removed_load resumes from where it stopped, as a twin that
  // never saw samples 400..499 does.
  reloaded_.WriteConfig(kConfigA);
  const HttpResult r = Reload(reloaded_.port());
  ASSERT_EQ(r.status, 200) << r.body;
  Write(reloaded_.port(), 500, 100);
  InProcessAdapter twin(TestOptions{.config = kConfigA});
  Write(twin.port(), 0, 400);
  Write(twin.port(), 500, 100);
  const std::vector<SeriesData> want = Read(twin.port(), kRemoved, kT0, T(599) + kHour);
  EXPECT_EQ(DiffSeries(Read(reloaded_.port(), kRemoved, kT0, T(599) + kHour), want), "");

  // One stored series per input, not a second one made while it was away.
  reloaded_.Restart();
  EXPECT_EQ(Metric(reloaded_.port(), "kad_active_series"), 3 * kInstances);
  EXPECT_EQ(DiffSeries(Read(reloaded_.port(), kRemoved, kT0, T(599) + kHour), want), "");
}

TEST(Reload, BadConfigKeepsTheRunningOne) {
  InProcessAdapter adapter(TestOptions{.config = kConfigA});
  InProcessAdapter twin(TestOptions{.config = kConfigA});
  Write(adapter.port(), 0, 200);
  Write(twin.port(), 0, 400);
  EXPECT_EQ(Metric(adapter.port(), "kad_config_last_reload_successful"), 1);
  const double loaded_at =
      Metric(adapter.port(), "kad_config_last_reload_success_timestamp_seconds");
  EXPECT_EQ(loaded_at, static_cast<double>(testing::FixedClock().NowMs()) / 1000);

  adapter.WriteConfig(absl::StrCat(kConfigB, "  - metric_query: \"rate(x)\"\n"));
  HttpResult r = Reload(adapter.port());
  EXPECT_EQ(r.status, 500);
  EXPECT_THAT(r.body, StartsWith("failed to reload config: "));
  EXPECT_THAT(r.body, HasSubstr("environment.yaml"));
  EXPECT_EQ(r.body.find('\n'), r.body.size() - 1) << r.body;
  EXPECT_EQ(Metric(adapter.port(), "kad_config_last_reload_successful"), 0);
  EXPECT_EQ(Metric(adapter.port(), "kad_config_last_reload_success_timestamp_seconds"), loaded_at);

  // Config A still runs, as if nothing had happened.
  Write(adapter.port(), 200, 200);
  for (const char* name : {kKept, kChanged, kRemoved}) {
    EXPECT_EQ(DiffSeries(Read(adapter.port(), name, kT0, T(399) + kHour),
                         Read(twin.port(), name, kT0, T(399) + kHour)),
              "")
        << name;
  }
  EXPECT_EQ(Read(adapter.port(), kAdded, kT0, T(399)).size(), 0u);

  adapter.WriteConfig(kConfigB);
  r = Reload(adapter.port());
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Metric(adapter.port(), "kad_config_last_reload_successful"), 1);
}

// A calm series (season: none learns fast; its band is tight enough for a
// first break at step 31) and an activity on it that may run again once
// the series is back in its band.
constexpr char kCalmConfig[] = R"(version: "v1alpha"
prometheus_metric_list:
  - metric_query: "node_load1{job='node'}"
    predicted_metric_name: calm_load
    events: [onAnomalyChangeStatus]
    models:
      - kind: holt_winters
        args: {season: none}
)";

std::string Activity(const std::string& script) {
  return absl::StrCat(R"(version: "v1alpha"
activities:
  - name: calm_load_holt_winters
    command:
      shell_file: )",
                      script, "\n");
}

void WriteCalm(uint16_t port, int first, int count, double value = 0) {
  WriteRequestBuilder b;
  for (int i = first; i < first + count; ++i) {
    b.Add({{"__name__", "node_load1"}, {"instance", "n0"}, {"job", "node"}}, T(i),
          value != 0 ? value : 10 + 0.1 * (i % 3));
  }
  absl::StatusOr<HttpResult> r = RemoteWrite(port, b.request());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, 204) << r->body;
}

TEST(Reload, ActivitiesReloadForRunningSeries) {
  InProcessAdapter adapter(
      TestOptions{.config = kCalmConfig,
                  .activities = Activity("first.sh"),
                  .scripts = {{"first.sh", "#!/bin/sh\necho first >> ran\n"},
                              {"second.sh", "#!/bin/sh\necho second >> ran\n"}}});
  const std::string runs =
      "kad_activity_runs_total{activity=\"calm_load_holt_winters\",outcome=\"success\"}";
  auto wait_for_runs = [&](int n) {
    for (int i = 0; i < 200 && Metric(adapter.port(), runs) < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(Metric(adapter.port(), runs), n);
  };
  WriteCalm(adapter.port(), 0, 60);
  WriteCalm(adapter.port(), 60, 1, /*value=*/1000);
  wait_for_runs(1);
  WriteCalm(adapter.port(), 61, 5);  // back inside the band: the lock is cleared

  // A script outside the scripts folder: refused, the old activity stays.
  adapter.WriteConfig(kCalmConfig, Activity("../outside.sh"));
  HttpResult r = Reload(adapter.port());
  EXPECT_EQ(r.status, 500);
  EXPECT_THAT(r.body, HasSubstr("activity calm_load_holt_winters"));

  adapter.WriteConfig(kCalmConfig, Activity("second.sh"));
  r = Reload(adapter.port());
  ASSERT_EQ(r.status, 200) << r.body;
  absl::StatusOr<HttpResult> listed = HttpCall(adapter.port(), "GET", "/api/v1/activities");
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_THAT(listed->body, HasSubstr("second.sh"));
  EXPECT_THAT(listed->body, Not(HasSubstr("first.sh")));

  // The series modelled before the reload runs the new activity.
  WriteCalm(adapter.port(), 66, 1, /*value=*/1000);
  wait_for_runs(2);
  std::stringstream ran;
  ran << std::ifstream(adapter.dir() + "/ran").rdbuf();
  EXPECT_EQ(ran.str(), "first\nsecond\n");
}

}  // namespace
}  // namespace kad::adapter
