#include "models/knn.h"

#include <cmath>
#include <cstdint>
#include <iostream>
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

// Warmed up once half the calibration set is in (one alpha per sample
// after the first).
constexpr int kWarmUp = static_cast<int>(Knn::kCalibrationSize / 2) + 1;

std::unique_ptr<Knn> NewModel(KnnOptions options = {}) {
  EXPECT_TRUE(options.Validate().ok()) << options.Validate();
  return std::make_unique<Knn>(std::make_shared<const KnnOptions>(options));
}

// A repeating shape no smoother forecasts well: a 24-sample cycle of a
// ramp, a plateau and a drop.
double Shape(int i) {
  const int phase = i % 24;
  if (phase < 12) return 10 + phase;
  if (phase < 18) return 22;
  return 4;
}

TEST(Knn, LearnsARepeatingShape) {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> noise(0, 0.2);
  auto m = NewModel();
  double error = 0;
  double naive_error = 0;
  int anomalies = 0;
  int n = 0;
  for (int i = 0; i < 5000; ++i) {
    const Verdict v = m->Observe(kStartMs + i * kStepMs, Shape(i) + noise(rng));
    if (i < 1000) continue;
    error += std::abs(v.forecast.yhat - Shape(i));
    naive_error += std::abs(Shape(i - 1) - Shape(i));
    anomalies += v.anomaly;
    ++n;
  }
  // Near the noise (mean |noise| is 0.16), far below repeating the last value.
  EXPECT_LT(error / n, 0.2);
  EXPECT_LT(error, 0.1 * naive_error);
  EXPECT_LT(anomalies, 0.005 * n);
  std::cout << "[ measured ] mean |error| " << error / n << " vs last value " << naive_error / n
            << ", anomalies " << anomalies << "/" << n << "\n";
}

TEST(Knn, FlagsSpikesAndBrokenShape) {
  std::mt19937_64 rng(2);
  std::normal_distribution<double> noise(0, 0.2);
  auto m = NewModel();
  int spikes = 0;
  int detected = 0;
  for (int i = 0; i < 20'000; ++i) {
    const bool spike = i > 1000 && i % 397 == 0;
    const Verdict v = m->Observe(kStartMs + i * kStepMs, Shape(i) + noise(rng) + (spike ? 8 : 0));
    if (!spike) continue;
    ++spikes;
    detected += v.anomaly && v.anomaly_score > 1;
  }
  EXPECT_EQ(detected, spikes);
  // A plateau where the cycle drops is within the series' range but breaks
  // the shape.
  int i = 20'000;
  while (i % 24 != 18) ++i;
  const Verdict v = m->Observe(kStartMs + i * kStepMs, 22);
  EXPECT_TRUE(v.anomaly) << v.anomaly_score;
}

TEST(Knn, AnomalyIsExactlyScoreAboveOneAfterWarmUp) {
  ExpectAnomalyIsExactlyScoreAboveOne(*NewModel(), kWarmUp, 4);
}

TEST(Knn, NoAnomalyDuringWarmUp) { ExpectNoAnomalyDuringWarmUp(*NewModel(), kWarmUp); }

TEST(Knn, IrregularIntervalsAndGapsOfHours) {
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<int64_t> interval(1'000, 120'000);
  std::normal_distribution<double> noise(0, 0.2);
  auto m = NewModel();
  int64_t t = kStartMs;
  int anomalies = 0;
  for (int i = 0; i < 10'000; ++i) {
    t += interval(rng) + (i % 2000 == 1999 ? 6 * kHourMs : 0);
    const Verdict v = m->Observe(t, Shape(i) + noise(rng));
    ASSERT_TRUE(Finite(v)) << i;
    if (i >= kWarmUp) anomalies += v.anomaly;
  }
  // The model ignores time, so this is the false-positive rate of the
  // shape (about 0.5%), not more.
  EXPECT_LT(anomalies, 100);
  // Far ahead: the next sample's forecast, with a band that did not shrink.
  const Forecast next = m->Predict(t + 1);
  const Forecast far = m->Predict(t + 10 * kHourMs);
  EXPECT_NEAR(far.yhat, Shape(10'000), 1);
  EXPECT_GE(far.yhat_upper - far.yhat_lower, next.yhat_upper - next.yhat_lower);
}

// On white noise the best forecast averages many neighbours; starting from
// k = 1, Retrain() finds that from the kept history.
TEST(Knn, RetrainRefitsK) {
  std::mt19937_64 rng(8);
  KnnOptions options;
  options.k = 1;
  auto as_is = NewModel(options);
  int64_t t = FeedNoise(*as_is, rng, kStartMs, 500, 10, 1);
  std::string state;
  as_is->SerializeTo(&state);
  auto retrained = NewModel(options);
  ASSERT_TRUE(retrained->Restore(state).ok());
  retrained->Retrain();
  std::string after;
  retrained->SerializeTo(&after);
  EXPECT_NE(after, state);

  std::normal_distribution<double> noise(10, 1);
  double error_as_is = 0;
  double error_retrained = 0;
  for (int i = 0; i < 2000; ++i, t += kStepMs) {
    if (i % 32 == 31) retrained->Retrain();
    const double v = noise(rng);
    error_as_is += std::abs(as_is->Observe(t, v).forecast.yhat - v);
    const Verdict r = retrained->Observe(t, v);
    ASSERT_TRUE(Finite(r));
    error_retrained += std::abs(r.forecast.yhat - v);
  }
  EXPECT_LT(error_retrained, 0.9 * error_as_is);
  std::cout << "[ measured ] one-step error after retrain " << error_retrained / 2000 << " vs "
            << error_as_is / 2000 << "\n";
  auto fresh = NewModel();
  fresh->Retrain();  // harmless on a fresh model
  EXPECT_TRUE(Finite(fresh->Observe(kStartMs, 1)));
}

// Restore() checks every field (the contract test covers the rest).
TEST(Knn, RestoreRejectsANonFiniteValueOrKOutOfRange) {
  std::mt19937_64 rng(10);
  auto source = NewModel();
  FeedNoise(*source, rng, kStartMs, 300, 10, 1);
  std::string good;
  source->SerializeTo(&good);
  // The first kept value: after the 10-byte header, n, the error scale, k,
  // the refit counter and the value count.
  ExpectRejectedWithNaNAt([] { return NewModel(); }, good, 30);
  std::string bad_k = good;
  bad_k[26] = 9;
  EXPECT_EQ(NewModel()->Restore(bad_k).code(), absl::StatusCode::kInvalidArgument);
}

TEST(Knn, StateIsSmallAndObserveIsCheap) {
  std::mt19937_64 rng(12);
  std::normal_distribution<double> noise(0, 0.3);
  for (const int64_t window : {int64_t{8}, KnnOptions::kMaxWindow}) {
    KnnOptions options;
    options.window = window;
    options.k = KnnOptions::kMaxK;
    auto m = NewModel(options);
    constexpr int kSamples = 200'000;
    std::vector<double> values(kSamples);
    for (int i = 0; i < kSamples; ++i) values[i] = Shape(i) + noise(rng);
    const double ns = CpuNsPerObserve(*m, values);
    std::string state;
    m->SerializeTo(&state);
    EXPECT_LE(state.size(), 2048u);
    EXPECT_LE(m->MemoryBytes(), 2048u);
    std::cout << "[ measured ] window " << window << ": serialized " << state.size()
              << " B, in memory " << m->MemoryBytes() << " B, " << ns << " ns per Observe\n";
  }
}

TEST(KnnOptions, FromArgsParsesEveryArgAndNamesBadOnes) {
  absl::StatusOr<KnnOptions> o =
      KnnOptions::FromArgs({{"window", "12"}, {"k", "3"}, {"band_sigmas", "4.5"}});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->window, 12);
  EXPECT_EQ(o->k, 3);
  EXPECT_EQ(o->band_sigmas, 4.5);
  EXPECT_NE(o->Fingerprint(), KnnOptions{}.Fingerprint());

  const struct {
    ModelArgs args;
    std::string named;
  } cases[] = {
      {{{"window", "0"}}, "window"},
      {{{"window", "17"}}, "window"},
      {{{"window", "2.5"}}, "window"},
      {{{"k", "0"}}, "k "},
      {{{"k", "9"}}, "k "},
      {{{"neighbours", "3"}}, "neighbours"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<KnnOptions> bad = KnnOptions::FromArgs(c.args);
    ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << c.named;
    EXPECT_THAT(std::string(bad.status().message()), HasSubstr(c.named));
  }
}

}  // namespace
}  // namespace kad::models
