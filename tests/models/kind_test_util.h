// Helpers for one model kind's own tests (tests/models/<kind>_test.cc),
// which drive the kind directly rather than through its Detector. The
// contract every kind keeps is in kind_contract_test.cc.
//
//   auto m = std::make_unique<Knn>(std::make_shared<const KnnOptions>());
//   ExpectAnomalyIsExactlyScoreAboveOne(*m, /*warm_up=*/65, /*seed=*/4);
//   ExpectRejectedWithNaNAt([] { return NewModel(); }, good_state, /*offset=*/30);
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/forecaster.h"

namespace kad::models {

inline constexpr int64_t kStepMs = 15'000;
inline constexpr int64_t kHourMs = 3'600'000;
inline constexpr int64_t kDayMs = 24 * kHourMs;
// An arbitrary start, not aligned to a day, so the first day is partial.
inline constexpr int64_t kStartMs = 1'700'000'123'000;

inline bool Finite(const Forecast& f) {
  return std::isfinite(f.yhat) && std::isfinite(f.yhat_lower) && std::isfinite(f.yhat_upper);
}
inline bool Finite(const Verdict& v) {
  return Finite(v.forecast) && std::isfinite(v.anomaly_score);
}

// Feeds N(mean, sd) every kStepMs for `n` samples from `t`; returns the
// next t and adds the anomalies to *anomalies.
inline int64_t FeedNoise(Forecaster& m, std::mt19937_64& rng, int64_t t, int n, double mean,
                         double sd, int* anomalies = nullptr) {
  std::normal_distribution<double> noise(mean, sd);
  for (int i = 0; i < n; ++i, t += kStepMs) {
    const Verdict v = m.Observe(t, noise(rng));
    if (anomalies != nullptr) *anomalies += v.anomaly;
  }
  return t;
}

// Worst |forecast - truth| over the next `horizon`, one point a minute.
template <typename Shape>
double MaxAheadError(const Forecaster& m, Shape shape, int64_t now_ms, int64_t horizon_ms) {
  double worst = 0;
  for (int64_t h = 60'000; h <= horizon_ms; h += 60'000) {
    worst = std::max(worst, std::abs(m.Predict(now_ms + h).yhat - shape(now_ms + h)));
  }
  return worst;
}

// CPU time of this thread per Observe() of `values`, one every kStepMs
// from `start_ms`: on a shared machine, what the model costs. Expects every
// score finite.
inline double CpuNsPerObserve(Forecaster& m, const std::vector<double>& values,
                              int64_t start_ms = kStartMs) {
  auto now_ns = [] {
    timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
  };
  const double begin = now_ns();
  double sink = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    sink += m.Observe(start_ms + static_cast<int64_t>(i) * kStepMs, values[i]).anomaly_score;
  }
  const double ns = (now_ns() - begin) / static_cast<double>(values.size());
  EXPECT_TRUE(std::isfinite(sink));
  return ns;
}

// Over a random walk with N(0, 1) noise and 5% outliers of 15 sigmas: every
// verdict after the first has a band around yhat, its score is |error| over
// the half-width on the error's side (above 1 exactly outside the band), and
// it is an anomaly exactly when the score is above 1 from `warm_up` samples
// on; the outliers are seen.
inline void ExpectAnomalyIsExactlyScoreAboveOne(Forecaster& m, int warm_up, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> step(0, 1);
  std::bernoulli_distribution outlier(0.05);
  double level = 50;
  int anomalies = 0;
  for (int i = 0; i < 5000; ++i) {
    level += 0.1 * step(rng);
    const double v = level + step(rng) + (outlier(rng) ? 15 * step(rng) : 0);
    const Verdict verdict = m.Observe(kStartMs + i * kStepMs, v);
    ASSERT_TRUE(Finite(verdict));
    if (i == 0) continue;  // nothing was forecast before the first sample
    const Forecast& f = verdict.forecast;
    ASSERT_LT(f.yhat_lower, f.yhat);
    ASSERT_LT(f.yhat, f.yhat_upper);
    const double expected_score = v >= f.yhat ? (v - f.yhat) / (f.yhat_upper - f.yhat)
                                              : (f.yhat - v) / (f.yhat - f.yhat_lower);
    EXPECT_NEAR(verdict.anomaly_score, expected_score, 1e-12 * expected_score);
    const bool inside = f.yhat_lower <= v && v <= f.yhat_upper;
    EXPECT_EQ(inside, verdict.anomaly_score <= 1) << i;
    EXPECT_EQ(verdict.anomaly, i >= warm_up && verdict.anomaly_score > 1) << i;
    anomalies += verdict.anomaly;
  }
  EXPECT_GT(anomalies, 50);  // the outliers were seen
}

// No sample of the first `warm_up`, however wild, is an anomaly; the first
// after warm-up may be, and one far out is.
inline void ExpectNoAnomalyDuringWarmUp(Forecaster& m, int warm_up) {
  for (int i = 0; i < warm_up; ++i) {
    const Verdict v = m.Observe(i * kStepMs, i == 25 ? 1e9 : (i % 2 == 0 ? 0 : 1000));
    EXPECT_FALSE(v.anomaly) << i;
    EXPECT_TRUE(Finite(v));
  }
  EXPECT_TRUE(m.Observe(warm_up * kStepMs, 1e15).anomaly);
}

// A fresh model (from `make`) restores `good` but rejects it with a NaN
// written over the double at `offset`: Restore() checks that field.
inline void ExpectRejectedWithNaNAt(const std::function<std::unique_ptr<Forecaster>()>& make,
                                    const std::string& good, size_t offset) {
  std::string bad = good;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::memcpy(bad.data() + offset, &nan, sizeof nan);
  EXPECT_EQ(make()->Restore(bad).code(), absl::StatusCode::kInvalidArgument) << offset;
  EXPECT_TRUE(make()->Restore(good).ok());
}

}  // namespace kad::models
