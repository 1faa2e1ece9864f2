#include "models/robust_zscore.h"

#include <cmath>
#include <cstdint>
#include <iostream>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/models/kind_test_util.h"

namespace kad::models {
namespace {

using ::testing::HasSubstr;

constexpr int kWarmUp = static_cast<int>(RobustZScore::kWindowSize);

std::unique_ptr<RobustZScore> NewModel(RobustZScoreOptions options = {}) {
  EXPECT_TRUE(options.Validate().ok()) << options.Validate();
  return std::make_unique<RobustZScore>(std::make_shared<const RobustZScoreOptions>(options));
}

TEST(RobustZScore, LearnsMedianAndSpreadOfNoise) {
  std::mt19937_64 rng(1);
  auto m = NewModel();
  const int64_t t = FeedNoise(*m, rng, kStartMs, 5000, 100, 2);
  const Forecast f = m->Predict(t + kHourMs);
  EXPECT_NEAR(f.yhat, 100, 0.3);
  // The band is 3 sigmas of the noise on each side, within 15%.
  EXPECT_NEAR(f.yhat_upper - f.yhat, 6, 0.9);
  EXPECT_NEAR(f.yhat - f.yhat_lower, 6, 0.9);
}

TEST(RobustZScore, FlagsSpikesAndStaysQuietOnNoise) {
  std::mt19937_64 rng(2);
  std::normal_distribution<double> noise(50, 1);
  auto m = NewModel();
  int spikes = 0;
  int detected = 0;
  int normal = 0;
  int false_positives = 0;
  double worst_drift = 0;
  for (int i = 0; i < 40'000; ++i) {
    const int64_t t = kStartMs + i * kStepMs;
    if (i > 1000 && i % 97 == 0) {
      const Verdict v = m->Observe(t, 50 + (spikes % 2 == 0 ? 20 : -20));
      ++spikes;
      detected += v.anomaly && v.anomaly_score > 1;
      continue;
    }
    const Verdict v = m->Observe(t, noise(rng));
    if (i < kWarmUp) continue;
    ++normal;
    false_positives += v.anomaly;
    worst_drift = std::max(worst_drift, std::abs(v.forecast.yhat - 50));
  }
  EXPECT_EQ(detected, spikes);
  const double fp_rate = static_cast<double>(false_positives) / normal;
  EXPECT_LT(fp_rate, 0.005) << false_positives << " of " << normal;
  // 400 spikes of 20 sigmas hardly moved the median.
  EXPECT_LT(worst_drift, 0.5);
  std::cout << "[ measured ] spikes detected " << detected << "/" << spikes << ", false positives "
            << false_positives << "/" << normal << " (" << 100 * fp_rate << "%)\n";
}

TEST(RobustZScore, AnomalyIsExactlyScoreAboveOneAfterWarmUp) {
  ExpectAnomalyIsExactlyScoreAboveOne(*NewModel(), kWarmUp, 3);
}

TEST(RobustZScore, NoAnomalyDuringWarmUp) { ExpectNoAnomalyDuringWarmUp(*NewModel(), kWarmUp); }

// The contract test checks the shift becomes the new normal; this kind
// promises when: after 12 samples beyond the band.
TEST(RobustZScore, LevelShiftIsAcceptedWithinTwelveSamples) {
  std::mt19937_64 rng(5);
  auto m = NewModel();
  const int64_t t = FeedNoise(*m, rng, kStartMs, 2000, 100, 1);
  int anomalies = 0;
  FeedNoise(*m, rng, t, 20, 180, 1, &anomalies);
  EXPECT_GE(anomalies, 10);  // the shift was seen
  EXPECT_LE(anomalies, 12);  // and accepted within 12 samples
}

// The stochastic tracker lags a drift; Retrain() pulls it towards the exact
// median of the kept window.
TEST(RobustZScore, RetrainPullsTheTrackerTowardsTheWindow) {
  std::mt19937_64 rng(7);
  RobustZScoreOptions options;
  options.half_life_ms = 10 * 60'000;
  auto as_is = NewModel(options);
  int64_t t = FeedNoise(*as_is, rng, kStartMs, 500, 10, 1);
  std::normal_distribution<double> noise(0, 1);
  for (int i = 0; i < 40; ++i, t += kStepMs) as_is->Observe(t, 10 + 0.04 * i + noise(rng));
  std::string state;
  as_is->SerializeTo(&state);
  auto retrained = NewModel(options);
  ASSERT_TRUE(retrained->Restore(state).ok());
  retrained->Retrain();
  const double truth = 10 + 0.04 * 32;  // around the window's last samples
  EXPECT_LT(std::abs(retrained->Predict(t).yhat - truth), std::abs(as_is->Predict(t).yhat - truth));
  std::cout << "[ measured ] median after retrain " << retrained->Predict(t).yhat << " vs "
            << as_is->Predict(t).yhat << " (window median ~" << 10 + 0.04 * 24 << ")\n";
  std::string after;
  retrained->SerializeTo(&after);
  EXPECT_NE(after, state);
  NewModel()->Retrain();  // harmless on a fresh model
}

// Restore() checks every field (the contract test covers the rest).
TEST(RobustZScore, RestoreRejectsANonFiniteMedian) {
  std::mt19937_64 rng(9);
  auto source = NewModel();
  FeedNoise(*source, rng, kStartMs, 300, 10, 1);
  std::string good;
  source->SerializeTo(&good);
  // The median: after the 10-byte header, n and t_last.
  ExpectRejectedWithNaNAt([] { return NewModel(); }, good, 26);
}

// The window keeps each sample's gap from the one before instead of its
// time; the state still holds every time of the window. Where the window
// starts: after the 10-byte header, n, t_last, median, mad, mean_abs and
// four bytes; then a time and a value per slot.
constexpr size_t kWindowAt = 54;

int64_t WindowTime(const std::string& state, size_t slot) {
  int64_t t = 0;
  for (int i = 7; i >= 0; --i)
    t = (t << 8) | static_cast<uint8_t>(state[kWindowAt + 16 * slot + i]);
  return t;
}

void SetWindowTime(std::string* state, size_t slot, int64_t t) {
  for (int i = 0; i < 8; ++i) (*state)[kWindowAt + 16 * slot + i] = static_cast<char>(t >> (8 * i));
}

TEST(RobustZScore, StateKeepsTheWindowsTimesExactly) {
  auto m = NewModel();
  std::vector<int64_t> times;
  int64_t t = kStartMs;
  for (int i = 0; i < 45; ++i) {
    // Irregular: 1 ms to 3 days apart.
    t += i % 7 == 3 ? 3 * kDayMs + 17 : 1 + (i * 7919) % kStepMs;
    times.push_back(t);
    m->Observe(t, 10 + i % 5);
  }
  std::string state;
  m->SerializeTo(&state);
  ASSERT_EQ(state.size(), kWindowAt + 16 * RobustZScore::kWindowSize);
  // Sample i sits in slot i % 32: the window fills from slot 0.
  for (size_t i = times.size() - RobustZScore::kWindowSize; i < times.size(); ++i) {
    EXPECT_EQ(WindowTime(state, i % RobustZScore::kWindowSize), times[i]) << i;
  }
  auto restored = NewModel();
  ASSERT_TRUE(restored->Restore(state).ok());
  std::string again;
  restored->SerializeTo(&again);
  EXPECT_EQ(again, state);
}

TEST(RobustZScore, AGapOverFortyNineDaysCountsAsFortyNineDays) {
  auto m = NewModel();
  int64_t t = kStartMs;
  for (int i = 0; i < 10; ++i, t += kStepMs) m->Observe(t, 10);
  const int64_t before_gap = t - kStepMs;
  t += 60 * kDayMs;
  m->Observe(t, 10);
  std::string state;
  m->SerializeTo(&state);
  EXPECT_EQ(WindowTime(state, 10), t);
  EXPECT_EQ(WindowTime(state, 9), t - int64_t{std::numeric_limits<uint32_t>::max()});
  EXPECT_GT(WindowTime(state, 9), before_gap);
  EXPECT_TRUE(NewModel()->Restore(state).ok());
}

TEST(RobustZScore, RestoreRejectsWindowTimesOutOfOrder) {
  auto m = NewModel();
  int64_t t = kStartMs;
  for (int i = 0; i < 40; ++i, t += kStepMs) m->Observe(t, 10 + i % 3);
  std::string good;
  m->SerializeTo(&good);
  ASSERT_TRUE(NewModel()->Restore(good).ok());
  // Sample 39, the newest, is in slot 7; sample 20 in slot 20.
  std::string not_last = good;
  SetWindowTime(&not_last, 7, WindowTime(good, 7) - 1);
  absl::Status s = NewModel()->Restore(not_last);
  EXPECT_THAT(s.message(), HasSubstr("newest window sample is not the last")) << s;
  std::string swapped = good;
  SetWindowTime(&swapped, 20, WindowTime(good, 21) + 1);
  s = NewModel()->Restore(swapped);
  EXPECT_THAT(s.message(), HasSubstr("window out of order")) << s;
}

TEST(RobustZScore, StateIsSmallAndObserveIsCheap) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> noise(10, 1);
  auto m = NewModel();
  constexpr int kSamples = 1'000'000;
  std::vector<double> values(kSamples);
  for (double& v : values) v = noise(rng);
  const double ns = CpuNsPerObserve(*m, values);
  std::string state;
  m->SerializeTo(&state);
  EXPECT_LE(state.size(), 2048u);
  // 32 values, and 4-byte gaps rather than 8-byte times.
  EXPECT_LE(m->MemoryBytes(), 456u);
  std::cout << "[ measured ] serialized " << state.size() << " B, in memory " << m->MemoryBytes()
            << " B, " << ns << " ns per Observe\n";
}

TEST(RobustZScoreOptions, FromArgsParsesEveryArgAndNamesBadOnes) {
  absl::StatusOr<RobustZScoreOptions> o =
      RobustZScoreOptions::FromArgs({{"half_life", "6h"}, {"band_sigmas", "4.5"}});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->half_life_ms, 6 * kHourMs);
  EXPECT_EQ(o->band_sigmas, 4.5);
  EXPECT_NE(o->Fingerprint(), RobustZScoreOptions{}.Fingerprint());

  const struct {
    ModelArgs args;
    std::string named;
  } cases[] = {
      {{{"half_life", "1x"}}, "half_life"},
      {{{"half_life", "0s"}}, "half_life"},
      {{{"season", "1d"}}, "season"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<RobustZScoreOptions> bad = RobustZScoreOptions::FromArgs(c.args);
    ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << c.named;
    EXPECT_THAT(std::string(bad.status().message()), HasSubstr(c.named));
  }
}

}  // namespace
}  // namespace kad::models
