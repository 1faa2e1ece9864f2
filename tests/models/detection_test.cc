#include "models/detection.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <random>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/registry.h"

namespace kad::models {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kStepMs = 15'000;
constexpr int64_t kStartMs = 1'700'000'123'000;

std::unique_ptr<Forecaster> New(const ModelArgs& args = {}) {
  absl::StatusOr<ModelFactory> f = MakeModelFactory("holt_winters", args);
  EXPECT_TRUE(f.ok()) << f.status();
  return f->New();
}

// Samples where the published band, score and anomaly bit must agree.
void ExpectConsistent(const Verdict& v, double value, int64_t i, int64_t warm_up) {
  const Forecast& f = v.forecast;
  ASSERT_TRUE(std::isfinite(f.yhat) && std::isfinite(f.yhat_lower) && std::isfinite(f.yhat_upper) &&
              std::isfinite(v.anomaly_score))
      << i;
  ASSERT_LE(f.yhat_lower, f.yhat) << i;
  ASSERT_LE(f.yhat, f.yhat_upper) << i;
  if (i < warm_up) {
    EXPECT_LE(v.anomaly_score, 1) << i;
    EXPECT_FALSE(v.anomaly) << i;
    return;
  }
  const bool outside = value < f.yhat_lower || value > f.yhat_upper;
  EXPECT_EQ(outside, v.anomaly_score > 1) << i << " value " << value;
  EXPECT_EQ(v.anomaly, v.anomaly_score > 1) << i;
}

TEST(Detection, BandScoreAndAnomalyAgree) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> step(0, 1);
  std::bernoulli_distribution outlier(0.003);
  auto m = New();
  double level = 50;
  int anomalies = 0;
  for (int i = 0; i < 20'000; ++i) {
    level += step(rng);
    const double v = level + (outlier(rng) ? 20 * step(rng) : 0);
    const Verdict verdict = m->Observe(kStartMs + i * kStepMs, v);
    if (i == 0) continue;  // nothing was forecast before the first sample
    ExpectConsistent(verdict, v, i, 30);
    anomalies += verdict.anomaly;
  }
  EXPECT_GT(anomalies, 30);  // most of the ~60 outliers were seen
}

// Heavy-tailed noise: a band of sigmas would alarm far more often than its
// nominal rate; the likelihood learns the series' own tail.
TEST(Detection, HeavyTailedNoiseAlarmsAtAboutTheConfiguredRate) {
  std::mt19937_64 rng(5);
  std::student_t_distribution<double> noise(2.5);
  const auto count = [&](const ModelArgs& args) {
    auto m = New(args);
    int alarms = 0;
    constexpr int kN = 60'000;
    for (int i = 0; i < kN; ++i) {
      const Verdict v = m->Observe(kStartMs + i * kStepMs, 100 + noise(rng));
      if (i >= 10'000) alarms += v.anomaly;
    }
    return static_cast<double>(alarms) / (kN - 10'000);
  };
  const double rate = count({{"season", "none"}});
  const double strict = count({{"season", "none"}, {"alarm_probability", "1e-4"}});
  std::cout << "[ measured ] alarm rate on t(2.5) noise: " << rate << " at 1e-3, " << strict
            << " at 1e-4\n";
  // The tail is extrapolated as exponential, so a power-law tail alarms a
  // few times more often than configured; a fixed band of sigmas would
  // alarm at about 1%.
  EXPECT_LT(rate, 5e-3);
  EXPECT_GT(rate, 2e-4);
  EXPECT_LT(strict, rate / 2);
}

TEST(Detection, DirectionIgnoresTheOtherSide) {
  for (const std::string direction : {"above_expected", "below_expected"}) {
    auto m = New({{"detection_direction", direction}, {"season", "none"}});
    std::mt19937_64 rng(7);
    std::normal_distribution<double> noise(0, 1);
    int up_flags = 0;
    int down_flags = 0;
    for (int i = 0; i < 3000; ++i) {
      double v = 100 + noise(rng);
      const bool up = i > 500 && i % 200 == 0;
      const bool down = i > 500 && i % 200 == 100;
      if (up) v += 50;
      if (down) v -= 50;
      const Verdict verdict = m->Observe(kStartMs + i * kStepMs, v);
      if (up) up_flags += verdict.anomaly;
      if (down) down_flags += verdict.anomaly;
      const bool ignored_side =
          direction == "above_expected" ? v < verdict.forecast.yhat : v > verdict.forecast.yhat;
      if (ignored_side) {
        ASSERT_EQ(verdict.anomaly_score, 0) << direction << " " << i;
      }
    }
    EXPECT_EQ(direction == "above_expected" ? up_flags : down_flags, 12) << direction;
    EXPECT_EQ(direction == "above_expected" ? down_flags : up_flags, 0) << direction;
  }
}

TEST(Detection, MinDeviationWidensTheBand) {
  const struct {
    std::string arg;
    double absolute;
    double relative;
  } cases[] = {{"25", 25, 0}, {"5%", 0, 0.05}, {"25, 5%", 25, 0.05}, {"80, 5%", 80, 0.05}};
  for (const auto& c : cases) {
    auto m = New({{"min_dev_from_expected", c.arg}, {"season", "none"}});
    std::mt19937_64 rng(9);
    std::normal_distribution<double> noise(0, 1);
    int flags = 0;
    for (int i = 0; i < 2000; ++i) {
      // Steps of 20 are far outside a noise band of ~3 but inside the minimum.
      const double v = 1000 + noise(rng) + (i > 500 && i % 100 == 0 ? 20 : 0);
      const Verdict verdict = m->Observe(kStartMs + i * kStepMs, v);
      if (i == 0) continue;
      const double min_dev = std::max(c.absolute, c.relative * std::abs(verdict.forecast.yhat)) -
                             1e-9 * std::abs(verdict.forecast.yhat);  // rounding of yhat + dev
      ASSERT_GE(verdict.forecast.yhat_upper - verdict.forecast.yhat, min_dev) << c.arg;
      ASSERT_GE(verdict.forecast.yhat - verdict.forecast.yhat_lower, min_dev) << c.arg;
      ExpectConsistent(verdict, v, i, 30);
      flags += verdict.anomaly;
    }
    EXPECT_EQ(flags, 0) << c.arg;
  }
}

TEST(Detection, NoAnomalyBeforeMinSamplesSeen) {
  auto m = New({{"min_n_samples_seen", "100"}});
  for (int i = 0; i < 100; ++i) {
    const Verdict v = m->Observe(kStartMs + i * kStepMs, i % 2 == 0 ? 0 : 1e6);
    EXPECT_FALSE(v.anomaly) << i;
    EXPECT_LE(v.anomaly_score, 1) << i;
  }
  const Verdict v = m->Observe(kStartMs + 100 * kStepMs, 1e12);
  EXPECT_TRUE(v.anomaly) << v.anomaly_score << " " << v.forecast.yhat << " "
                         << v.forecast.yhat_upper;
}

TEST(Detection, LevelShiftStopsAlarmingOnceItIsTheNewNormal) {
  auto m = New();
  std::mt19937_64 rng(11);
  std::normal_distribution<double> noise(0, 1);
  int last_alarm = -1;
  for (int i = 0; i < 6000; ++i) {
    const double v = (i < 3000 ? 100 : 160) + noise(rng);
    if (m->Observe(kStartMs + i * kStepMs, v).anomaly) last_alarm = i;
  }
  EXPECT_GE(last_alarm, 3000);  // the shift itself is news
  EXPECT_LT(last_alarm, 3100);  // and then it is not
}

TEST(Detection, StateRoundTripsBitIdentically) {
  std::mt19937_64 rng(13);
  std::normal_distribution<double> noise(0, 1);
  auto a = New({{"min_dev_from_expected", "0.5"}});
  for (int i = 0; i < 5000; ++i) a->Observe(kStartMs + i * kStepMs, 10 + noise(rng));
  std::string state;
  a->SerializeTo(&state);
  auto b = New({{"min_dev_from_expected", "0.5"}});
  ASSERT_TRUE(b->Restore(state).ok());
  for (int i = 5000; i < 6000; ++i) {
    const double v = 10 + noise(rng) + (i % 97 == 0 ? 9 : 0);
    const Verdict va = a->Observe(kStartMs + i * kStepMs, v);
    const Verdict vb = b->Observe(kStartMs + i * kStepMs, v);
    ASSERT_EQ(va.anomaly_score, vb.anomaly_score) << i;
    ASSERT_EQ(va.forecast.yhat_upper, vb.forecast.yhat_upper) << i;
  }
}

TEST(Detection, RestoreRejectsCorruptOrForeignStateAndKeepsTheModel) {
  auto a = New();
  for (int i = 0; i < 100; ++i) a->Observe(kStartMs + i * kStepMs, i % 7);
  std::string state;
  a->SerializeTo(&state);
  const Forecast before = a->Predict(kStartMs + 200 * kStepMs);
  for (size_t cut : {size_t{0}, size_t{5}, size_t{100}, state.size() - 1}) {
    EXPECT_FALSE(a->Restore(state.substr(0, cut)).ok()) << cut;
  }
  auto other = New({{"detection_direction", "above_expected"}});
  EXPECT_THAT(std::string(other->Restore(state).message()), HasSubstr("different model args"));
  std::string bad_bin = state;
  std::memset(bad_bin.data() + 42, 0xff, 4);  // the first bin becomes NaN
  EXPECT_FALSE(a->Restore(bad_bin).ok());
  EXPECT_EQ(a->Predict(kStartMs + 200 * kStepMs).yhat_upper, before.yhat_upper);
}

TEST(Detection, BadArgsAreNamed) {
  const struct {
    ModelArgs args;
    std::string named;
  } cases[] = {
      {{{"detection_direction", "up"}}, "detection_direction"},
      {{{"min_dev_from_expected", "-1"}}, "min_dev_from_expected"},
      {{{"min_dev_from_expected", "x%"}}, "min_dev_from_expected"},
      {{{"min_n_samples_seen", "0"}}, "min_n_samples_seen"},
      {{{"alarm_probability", "0.5"}}, "alarm_probability"},
      {{{"likelihood_half_life", "0"}}, "likelihood_half_life"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<ModelFactory> f = MakeModelFactory("holt_winters", c.args);
    ASSERT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << c.named;
    EXPECT_THAT(std::string(f.status().message()), HasSubstr(c.named));
  }
}

}  // namespace
}  // namespace kad::models
