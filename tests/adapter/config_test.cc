#include "adapter/config.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/registry.h"

namespace kad::adapter {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;

// The examples of DESIGN.md, verbatim.
constexpr char kDesignEnvironment[] = R"yaml(# environment.yaml
version: "v1alpha"
prometheus_metric_list:
  - metric_query: "node_load1{job='node'}"        # a series selector: name and/or {label matchers}
    predicted_metric_name: "predicted_node_load"
    events: [onRetrain, onAnomalyChangeStatus]     # what clears this metric's activity locks
    models:
      - kind: holt_winters                         # one forecaster per kind per series
        args: {season: 1d, band_sigmas: 3}
  - metric_query: "rate(http_requests_total{code=~'5..'}[5m])"   # rate()/irate() of a counter: computed in-stream
    predicted_metric_name: "predicted_5xx_rate"
retrain_scheduling_seconds: "480"                  # the onRetrain event's period
)yaml";

constexpr char kDesignActivities[] = R"(# activities.yaml
version: "v1alpha"
activities:
  - name: "predicted_node_load_holt_winters"       # = predicted_metric_name + "_" + kind
    command:
      shell_file: scale_up.sh                      # resolved inside the scripts directory only
      args: [staging]
)";

// A minimal valid entry, for tests about one other key.
constexpr char kMinimal[] = R"(version: "v1alpha"
prometheus_metric_list:
  - metric_query: up
    predicted_metric_name: predicted_up
)";

// kDesignActivities without its version line, to append to another file.
std::string ActivitiesPart() {
  const std::string all = kDesignActivities;
  return all.substr(all.find("activities:"));
}

std::string Message(const absl::StatusOr<Config>& c) {
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(c.status().message());
}

TEST(ParseConfig, DesignExamplesParseIntoExpectedConfig) {
  absl::StatusOr<Config> c = ParseConfig(kDesignEnvironment, kDesignActivities);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->version, "v1alpha");
  EXPECT_EQ(c->retrain_interval_ms, 480'000);
  EXPECT_EQ(c->forecast_horizon_ms, 3'600'000);
  EXPECT_EQ(c->series_ttl_ms, 24 * 3'600'000);
  EXPECT_THAT(c->warnings, IsEmpty());
  ASSERT_THAT(c->metrics, SizeIs(2));

  const MetricConfig& load = c->metrics[0];
  EXPECT_EQ(load.metric_query, "node_load1{job='node'}");
  EXPECT_EQ(load.selector.function, RangeFunction::kNone);
  EXPECT_TRUE(load.selector.Matches({{"__name__", "node_load1"}, {"job", "node"}}));
  EXPECT_FALSE(load.selector.Matches({{"__name__", "node_load1"}, {"job", "other"}}));
  EXPECT_EQ(load.predicted_metric_name, "predicted_node_load");
  EXPECT_THAT(load.events, ElementsAre("onRetrain", "onAnomalyChangeStatus"));
  ASSERT_THAT(load.models, SizeIs(1));
  EXPECT_EQ(load.models[0].kind, "holt_winters");
  EXPECT_EQ(load.models[0].args, (models::ModelArgs{{"band_sigmas", "3"}, {"season", "1d"}}));
  EXPECT_EQ(load.models[0].factory.kind, "holt_winters");
  EXPECT_TRUE(static_cast<bool>(load.models[0].factory.New));
  EXPECT_EQ(load.forecast_horizon_ms, 3'600'000);

  const MetricConfig& rate = c->metrics[1];
  EXPECT_EQ(rate.selector.function, RangeFunction::kRate);
  EXPECT_EQ(rate.selector.range_ms, 300'000);
  EXPECT_EQ(rate.predicted_metric_name, "predicted_5xx_rate");

  ASSERT_THAT(c->activities, SizeIs(1));
  EXPECT_EQ(c->activities[0].name, "predicted_node_load_holt_winters");
  EXPECT_EQ(c->activities[0].shell_file, "scale_up.sh");
  EXPECT_EQ(c->activities[0].python_file, "");
  EXPECT_THAT(c->activities[0].args, ElementsAre("staging"));
}

TEST(ParseConfig, DefaultsAreApplied) {
  absl::StatusOr<Config> c = ParseConfig(kMinimal, "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->retrain_interval_ms, 480'000);
  EXPECT_EQ(c->forecast_horizon_ms, 3'600'000);
  EXPECT_THAT(c->activities, IsEmpty());
  ASSERT_THAT(c->metrics, SizeIs(1));
  const MetricConfig& m = c->metrics[0];
  EXPECT_THAT(m.events, ElementsAre("onRetrain"));
  ASSERT_THAT(m.models, SizeIs(1));
  EXPECT_EQ(m.models[0].kind, models::DefaultModelKind());
  EXPECT_THAT(m.models[0].args, IsEmpty());
  EXPECT_EQ(m.models[0].factory.kind, models::DefaultModelKind());
  EXPECT_EQ(m.forecast_horizon_ms, 3'600'000);
}

TEST(ParseConfig, VersionDefaultsWhenMissingAndOnlyV1alphaIsKnown) {
  absl::StatusOr<Config> c = ParseConfig(
      "prometheus_metric_list:\n"
      "  - {metric_query: up, predicted_metric_name: p}\n",
      "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->version, "v1alpha");
  EXPECT_THAT(
      Message(ParseConfig(absl::StrCat("version: v2\n", std::string(kMinimal).substr(19)), "")),
      HasSubstr("v2"));
}

TEST(ParseConfig, TopLevelHorizonIsEachEntrysDefault) {
  absl::StatusOr<Config> c = ParseConfig(R"(
prometheus_metric_list:
  - metric_query: up
    predicted_metric_name: a
  - metric_query: up
    predicted_metric_name: b
    forecast_horizon: 30m
forecast_horizon: 2h
retrain_scheduling_seconds: 10m
)",
                                         "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->forecast_horizon_ms, 7'200'000);
  EXPECT_EQ(c->retrain_interval_ms, 600'000);
  EXPECT_EQ(c->metrics[0].forecast_horizon_ms, 7'200'000);
  EXPECT_EQ(c->metrics[1].forecast_horizon_ms, 1'800'000);
}

TEST(ParseConfig, SeriesTtlIsAPositiveDuration) {
  absl::StatusOr<Config> c = ParseConfig(absl::StrCat(kMinimal, "series_ttl: 2h\n"), "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->series_ttl_ms, 7'200'000);
  EXPECT_THAT(Message(ParseConfig(absl::StrCat(kMinimal, "series_ttl: 0s\n"), "")),
              HasSubstr("series_ttl"));
  EXPECT_THAT(Message(ParseConfig(absl::StrCat(kMinimal, "series_ttl: soon\n"), "")),
              HasSubstr("series_ttl"));
}

TEST(ParseConfig, UnquotedRetrainSecondsAreSeconds) {
  absl::StatusOr<Config> c =
      ParseConfig(absl::StrCat(kMinimal, "retrain_scheduling_seconds: 60\n"), "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->retrain_interval_ms, 60'000);
}

TEST(ParseConfig, UnknownKeyNamesKeyFileLineAndValidKeys) {
  const std::string top = Message(ParseConfig(absl::StrCat(kMinimal, "retrain_every: 5m\n"), ""));
  EXPECT_THAT(top, StartsWith("environment.yaml:5: "));
  EXPECT_THAT(top, HasSubstr("unknown key retrain_every"));
  EXPECT_THAT(top, HasSubstr("prometheus_metric_list"));
  EXPECT_THAT(top, HasSubstr("retrain_scheduling_seconds"));

  const std::string entry = Message(ParseConfig(R"(version: "v1alpha"
prometheus_metric_list:
  - metric_query: up
    predicted_metric_name: p
    modles: []
)",
                                                ""));
  EXPECT_THAT(entry, StartsWith("environment.yaml:5: prometheus_metric_list[0]: "));
  EXPECT_THAT(entry, HasSubstr("unknown key modles"));
  EXPECT_THAT(entry, HasSubstr("metric_query, predicted_metric_name, events, "
                               "models, forecast_horizon"));
}

TEST(ParseConfig, UnknownKeyInActivitiesNamesThatFile) {
  const std::string msg = Message(ParseConfig(kMinimal, R"(version: "v1alpha"
activities:
  - name: predicted_up_x
    command:
      shell_file: a.sh
      timeout: 5s
)"));
  EXPECT_THAT(msg, StartsWith("activities.yaml:6: activities[0].command: "));
  EXPECT_THAT(msg, HasSubstr("unknown key timeout"));
  EXPECT_THAT(msg, HasSubstr("shell_file, python_file, args"));
}

TEST(ParseConfig, LegacyKeysWarnOnceEach) {
  absl::StatusOr<Config> c = ParseConfig(absl::StrCat(R"(prometheus_url: "http://prom:9090"
redis_host: redis
sentry_dns: ""
)",
                                                      kMinimal),
                                         "");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_THAT(c->warnings, SizeIs(3));
  EXPECT_THAT(c->warnings[0], StartsWith("environment.yaml:1: "));
  EXPECT_THAT(c->warnings[0], HasSubstr("prometheus_url"));
  EXPECT_THAT(c->warnings[1], StartsWith("environment.yaml:2: "));
  EXPECT_THAT(c->warnings[1], HasSubstr("redis_host"));
  EXPECT_THAT(c->warnings[2], HasSubstr("sentry_dns"));
}

// The original system's Prophet kinds load, warn once each naming the kind
// they run as, and keep their own name (so its dashboards keep working).
TEST(ParseConfig, ProphetKindsRunAsFourierWithAWarning) {
  absl::StatusOr<Config> c = ParseConfig(R"(version: "v1alpha"
prometheus_metric_list:
  - metric_query: up
    predicted_metric_name: p
    models:
      - kind: prophet
      - kind: prophet_with_seasonality
        args:
          seasonality: {period: 30.5, fourier_order: 5}
)",
                                         "");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_THAT(c->warnings, SizeIs(2));
  EXPECT_THAT(c->warnings[0], StartsWith("environment.yaml:6: "));
  EXPECT_THAT(c->warnings[0], HasSubstr("prophet runs as fourier"));
  EXPECT_THAT(c->warnings[1], StartsWith("environment.yaml:7: "));
  EXPECT_THAT(c->warnings[1], HasSubstr("prophet_with_seasonality runs as fourier"));
  ASSERT_THAT(c->metrics[0].models, SizeIs(2));
  EXPECT_EQ(c->metrics[0].models[0].kind, "prophet");
  EXPECT_EQ(c->metrics[0].models[0].factory.kind, "fourier");
  EXPECT_EQ(c->metrics[0].models[1].kind, "prophet_with_seasonality");
  EXPECT_EQ(c->metrics[0].models[1].args, (models::ModelArgs{{"seasonality.fourier_order", "5"},
                                                             {"seasonality.period", "30.5"}}));
}

TEST(ParseConfig, UnknownModelKindNamesEntryAndCarriesRegistryMessage) {
  const std::string yaml = R"(version: "v1alpha"
prometheus_metric_list:
  - metric_query: up
    predicted_metric_name: p
    models:
      - kind: holt_winters
      - kind: no_such_model
)";
  const std::string msg = Message(ParseConfig(yaml, ""));
  EXPECT_THAT(msg, StartsWith("environment.yaml:7: prometheus_metric_list[0].models[1]: "));
  // The rest is the registry's own message, which lists the known kinds.
  const absl::StatusOr<models::ModelFactory> direct = models::MakeModelFactory("no_such_model", {});
  ASSERT_FALSE(direct.ok());
  EXPECT_THAT(msg, HasSubstr(std::string(direct.status().message())));
}

TEST(ParseConfig, ModelArgsAreKeptAsWritten) {
  absl::StatusOr<Config> c = ParseConfig(R"(
prometheus_metric_list:
  - metric_query: up
    predicted_metric_name: p
    models:
      - kind: holt_winters
        args:
          season: 1d
          band_sigmas: 3.0
)",
                                         "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->metrics[0].models[0].args,
            (models::ModelArgs{{"band_sigmas", "3.0"}, {"season", "1d"}}));
}

// Nested maps and lists reach the registry flattened: whatever the registry
// says of the flat args, the config loader says too.
TEST(ParseConfig, NestedArgsJoinWithDotsAndListsWithCommas) {
  struct Case {
    const char* yaml_args;
    models::ModelArgs flat;
  };
  for (const Case& c : std::vector<Case>{
           {"{seasonality: {period: 7d, mode: {kind: add}}}",
            {{"seasonality.mode.kind", "add"}, {"seasonality.period", "7d"}}},
           {"{band_sigmas: [1, 2, 3]}", {{"band_sigmas", "1,2,3"}}},
       }) {
    const absl::StatusOr<models::ModelFactory> direct =
        models::MakeModelFactory("holt_winters", c.flat);
    absl::StatusOr<Config> config =
        ParseConfig(absl::StrCat("prometheus_metric_list:\n"
                                 "  - metric_query: up\n"
                                 "    predicted_metric_name: p\n"
                                 "    models: [{kind: holt_winters, args: ",
                                 c.yaml_args, "}]\n"),
                    "");
    if (direct.ok()) {
      ASSERT_TRUE(config.ok()) << config.status();
      EXPECT_EQ(config->metrics[0].models[0].args, c.flat);
    } else {
      ASSERT_FALSE(config.ok()) << c.yaml_args;
      EXPECT_THAT(std::string(config.status().message()),
                  HasSubstr(std::string(direct.status().message())));
    }
  }
}

TEST(ParseConfig, ArgWithoutValueIsAnError) {
  const std::string msg = Message(ParseConfig(R"(
prometheus_metric_list:
  - metric_query: up
    predicted_metric_name: p
    models: [{kind: holt_winters, args: {season: }}]
)",
                                              ""));
  EXPECT_THAT(msg, HasSubstr("prometheus_metric_list[0].models[0].args.season"));
}

TEST(ParseConfig, SameKindTwiceInOneEntryIsAnError) {
  const std::string msg = Message(ParseConfig(R"(
prometheus_metric_list:
  - metric_query: up
    predicted_metric_name: p
    models: [{kind: holt_winters}, {kind: holt_winters}]
)",
                                              ""));
  EXPECT_THAT(msg, HasSubstr("prometheus_metric_list[0].models[1]"));
  EXPECT_THAT(msg, HasSubstr("holt_winters"));
}

TEST(ParseConfig, DuplicatePredictedMetricNameIsAnError) {
  const std::string msg = Message(ParseConfig(R"(
prometheus_metric_list:
  - metric_query: up{job="a"}
    predicted_metric_name: p
  - metric_query: up{job="b"}
    predicted_metric_name: p
)",
                                              ""));
  EXPECT_THAT(msg, StartsWith("environment.yaml:6: prometheus_metric_list[1]"));
  EXPECT_THAT(msg, HasSubstr("prometheus_metric_list[0]"));
}

TEST(ParseConfig, UnsupportedQueryNamesEntryAndExplains) {
  const std::string msg = Message(ParseConfig(R"(
prometheus_metric_list:
  - metric_query: sum(up)
    predicted_metric_name: p
)",
                                              ""));
  EXPECT_THAT(msg, StartsWith("environment.yaml:3: "
                              "prometheus_metric_list[0].metric_query: "));
  EXPECT_THAT(msg, HasSubstr("unsupported PromQL \"sum(up)\""));
}

TEST(ParseConfig, RejectsInvalidValues) {
  struct Case {
    std::string yaml;
    const char* says;
  };
  const std::string entry = "prometheus_metric_list:\n  - metric_query: up\n";
  for (const Case& c : std::vector<Case>{
           {absl::StrCat(entry, "    predicted_metric_name: bad-name\n"),
            "not a valid metric name"},
           {entry, "predicted_metric_name is required"},
           {"prometheus_metric_list:\n  - predicted_metric_name: p\n", "metric_query is required"},
           {absl::StrCat(entry,
                         "    predicted_metric_name: p\n"
                         "    events: [onDeploy]\n"),
            "unknown event onDeploy"},
           {absl::StrCat(entry,
                         "    predicted_metric_name: p\n"
                         "    forecast_horizon: soon\n"),
            "forecast_horizon"},
           {absl::StrCat(entry,
                         "    predicted_metric_name: p\n"
                         "    models: []\n"),
            "non-empty list of models"},
           {absl::StrCat(entry,
                         "    predicted_metric_name: p\n"
                         "    models: [{args: {a: 1}}]\n"),
            "kind is required"},
           {absl::StrCat(entry,
                         "    predicted_metric_name: p\n"
                         "retrain_scheduling_seconds: \"0\"\n"),
            "must be positive"},
           {"version: v1alpha\n", "prometheus_metric_list is required"},
           {"prometheus_metric_list: up\n", "non-empty list"},
           {"- a\n- b\n", "expected a map"},
           {"version: [v1alpha\n", "invalid YAML"},
           {absl::StrCat(kMinimal, "version: v1alpha\n"), "given twice"},
       }) {
    const std::string msg = Message(ParseConfig(c.yaml, ""));
    EXPECT_THAT(msg, StartsWith("environment.yaml")) << c.yaml;
    EXPECT_THAT(msg, HasSubstr(c.says)) << c.yaml;
  }
}

TEST(ParseConfig, ActivitiesNeedExactlyOneScriptAndANonEmptyName) {
  struct Case {
    const char* yaml;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {"activities: [{name: a, command: {args: [x]}}]",
            "exactly one of shell_file and python_file"},
           {"activities: [{name: a, command: {shell_file: a.sh, "
            "python_file: a.py}}]",
            "exactly one of shell_file and python_file"},
           {"activities: [{name: '', command: {shell_file: a.sh}}]", "must not be empty"},
           {"activities: [{command: {shell_file: a.sh}}]", "name is required"},
           {"activities: [{name: a}]", "command is required"},
           {"activities: [{name: a, command: {shell_file: a.sh, "
            "args: [[1]]}}]",
            "activities[0].command.args[0]"},
           {"activities: [{name: a, command: {shell_file: a.sh}}, "
            "{name: a, command: {shell_file: b.sh}}]",
            "defined twice"},
       }) {
    const std::string msg = Message(ParseConfig(kMinimal, c.yaml));
    EXPECT_THAT(msg, StartsWith("activities.yaml:1: ")) << c.yaml;
    EXPECT_THAT(msg, HasSubstr(c.says)) << c.yaml;
  }
}

TEST(ParseConfig, PythonActivityKeepsItsArgs) {
  absl::StatusOr<Config> c =
      ParseConfig(kMinimal, absl::StrCat("activities:\n"
                                         "  - name: predicted_up_",
                                         std::string(models::DefaultModelKind()),
                                         "\n"
                                         "    command: {python_file: notify.py, args: [a, 2, "
                                         "'three']}\n"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->warnings, IsEmpty());
  ASSERT_THAT(c->activities, SizeIs(1));
  EXPECT_EQ(c->activities[0].python_file, "notify.py");
  EXPECT_EQ(c->activities[0].shell_file, "");
  EXPECT_THAT(c->activities[0].args, ElementsAre("a", "2", "three"));
}

TEST(ParseConfig, ActivityNamingNoForecastGetsAWarning) {
  absl::StatusOr<Config> c = ParseConfig(kMinimal,
                                         "activities:\n"
                                         "  - name: predicted_typo_holt_winters\n"
                                         "    command: {shell_file: a.sh}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_THAT(c->warnings, SizeIs(1));
  EXPECT_THAT(c->warnings[0], StartsWith("activities.yaml:2: "));
  EXPECT_THAT(c->warnings[0], HasSubstr("predicted_typo_holt_winters"));
  EXPECT_THAT(c->activities, SizeIs(1));
}

TEST(ParseConfig, OneFileMayHoldBothTopLevelKeys) {
  absl::StatusOr<Config> c = ParseConfig(absl::StrCat(kDesignEnvironment, ActivitiesPart()), "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->metrics, SizeIs(2));
  ASSERT_THAT(c->activities, SizeIs(1));
  EXPECT_EQ(c->activities[0].name, "predicted_node_load_holt_winters");
  EXPECT_THAT(c->warnings, IsEmpty());
}

class LoadConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, std::string_view text) {
    const std::string path =
        absl::StrCat(::testing::TempDir(), "/",
                     ::testing::UnitTest::GetInstance()->current_test_info()->name(), "_", name);
    std::ofstream(path) << text;
    paths_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const std::string& p : paths_) std::remove(p.c_str());
  }
  std::vector<std::string> paths_;
};

TEST_F(LoadConfigTest, ReadsBothFilesAndNamesThemInErrors) {
  const std::string env = Write("env.yaml", kDesignEnvironment);
  const std::string act = Write("act.yaml", kDesignActivities);
  absl::StatusOr<Config> c = LoadConfig(env, act);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->metrics, SizeIs(2));
  EXPECT_THAT(c->activities, SizeIs(1));

  const std::string bad = Write("bad.yaml", "activities: 3\nfoo: 1\n");
  absl::StatusOr<Config> e = LoadConfig(env, bad);
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(std::string(e.status().message()), StartsWith(absl::StrCat(bad, ":2: ")));
}

TEST_F(LoadConfigTest, WithoutActivitiesFile) {
  absl::StatusOr<Config> c = LoadConfig(Write("env.yaml", kMinimal), "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->activities, IsEmpty());
}

TEST_F(LoadConfigTest, SameFileForBothReadsActivitiesOnce) {
  const std::string both = Write("both.yaml", absl::StrCat(kDesignEnvironment, ActivitiesPart()));
  absl::StatusOr<Config> c = LoadConfig(both, both);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->activities, SizeIs(1));
}

// The files the README runs with; found next to this test's source.
TEST(LoadConfig, ExampleFilesLoadWithoutWarnings) {
  const std::string file = __FILE__;
  const std::string root = file.substr(0, file.rfind("tests/adapter/config_test.cc"));
  absl::StatusOr<Config> c =
      LoadConfig(root + "examples/environment.yaml", root + "examples/activities.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->warnings, IsEmpty());
  EXPECT_THAT(c->metrics, SizeIs(3));
  ASSERT_THAT(c->activities, SizeIs(1));
  EXPECT_EQ(c->activities[0].shell_file, "log_anomaly.sh");
}

TEST_F(LoadConfigTest, MissingFileIsNotFoundNamingThePath) {
  absl::StatusOr<Config> c = LoadConfig(absl::StrCat(::testing::TempDir(), "/no_such.yaml"), "");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("no_such.yaml"));
}

}  // namespace
}  // namespace kad::adapter
