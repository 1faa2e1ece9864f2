#include "models/holt_winters.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <limits>
#include <memory>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace kad::models {
namespace {

constexpr int64_t kStepMs = 15'000;
constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kDayMs = 24 * kHourMs;
// An arbitrary start, not aligned to a day, so the first sample is not the
// daily mean and the first season is partial.
constexpr int64_t kStartMs = 1'700'000'123'000;
constexpr double kMean = 100;
constexpr double kAmplitude = 10;
constexpr double kNoise = 0.5;

double DailySine(int64_t t_ms) {
  return kMean + kAmplitude * std::sin(2 * std::numbers::pi * static_cast<double>(t_ms) / kDayMs);
}

std::unique_ptr<HoltWinters> NewModel(HoltWintersOptions options = {}) {
  EXPECT_TRUE(options.Validate().ok()) << options.Validate();
  return std::make_unique<HoltWinters>(std::make_shared<const HoltWintersOptions>(options));
}

// Feeds the noisy daily sine over [from, to) every `step`; returns the next t.
int64_t FeedSine(Forecaster& m, std::mt19937_64& rng, int64_t from_ms, int64_t to_ms,
                 int64_t step_ms = kStepMs) {
  std::normal_distribution<double> noise(0, kNoise);
  int64_t t = from_ms;
  for (; t < to_ms; t += step_ms) m.Observe(t, DailySine(t) + noise(rng));
  return t;
}

bool Finite(const Verdict& v) {
  return std::isfinite(v.forecast.yhat) && std::isfinite(v.forecast.yhat_lower) &&
         std::isfinite(v.forecast.yhat_upper) && std::isfinite(v.anomaly_score);
}

// Worst |forecast - truth| over the next hour, one point a minute.
double MaxHourAheadError(const Forecaster& m, int64_t now_ms) {
  double worst = 0;
  for (int64_t h = 60'000; h <= kHourMs; h += 60'000) {
    worst = std::max(worst, std::abs(m.Predict(now_ms + h).yhat - DailySine(now_ms + h)));
  }
  return worst;
}

void LearnsDailySeasonAt(int64_t step_ms) {
  std::mt19937_64 rng(1);
  auto m = NewModel();
  int64_t t = FeedSine(*m, rng, kStartMs, kStartMs + 3 * kDayMs, step_ms);

  // Day 4: every hour, the next hour's forecast follows the sine; in between,
  // one-step forecasts track the truth better than repeating the last
  // sample would (its mean error is about 0.8 * kNoise).
  std::normal_distribution<double> noise(0, kNoise);
  double worst_hour_ahead = 0;
  double one_step_error = 0;
  int n = 0;
  for (const int64_t end = t + kDayMs; t < end; t += step_ms) {
    if ((t - kStartMs) % kHourMs == 0) {
      worst_hour_ahead = std::max(worst_hour_ahead, MaxHourAheadError(*m, t));
    }
    const Verdict v = m->Observe(t, DailySine(t) + noise(rng));
    one_step_error += std::abs(v.forecast.yhat - DailySine(t));
    ++n;
  }
  EXPECT_LT(worst_hour_ahead, 0.15 * kAmplitude);
  EXPECT_LT(one_step_error / n, 0.6 * kNoise);
}

TEST(HoltWinters, LearnsDailySeason) { LearnsDailySeasonAt(kStepMs); }

// Smoothing is per unit of time, so a slower scrape learns the same shape.
TEST(HoltWinters, LearnsDailySeasonAtOneMinuteScrapes) { LearnsDailySeasonAt(60'000); }

TEST(HoltWinters, FlagsSpikeOnSeason) {
  std::mt19937_64 rng(2);
  std::normal_distribution<double> noise(0, kNoise);
  auto m = NewModel();
  int64_t t = FeedSine(*m, rng, kStartMs, kStartMs + 3 * kDayMs);

  // Day 4: a spike of 8 amplitudes, alternately up and down, every 97 min
  // (so spikes land at every phase); the 10 samples after each are watched.
  constexpr int64_t kSpikeEvery = 97 * 60'000 / kStepMs;
  constexpr int kWatch = 10;
  int spikes = 0;
  int detected = 0;
  int normal = 0;
  int false_positives = 0;
  double after_score_sum = 0;
  double worst_after_error = 0;
  int after = 0;
  int64_t i = 0;
  for (const int64_t end = t + kDayMs; t < end; t += kStepMs, ++i) {
    const int64_t phase = i % kSpikeEvery;
    if (phase == kSpikeEvery - 1) {
      const double sign = spikes % 2 == 0 ? 1 : -1;
      const Verdict v = m->Observe(t, DailySine(t) + sign * 8 * kAmplitude);
      ++spikes;
      if (v.anomaly && v.anomaly_score > 1) ++detected;
      continue;
    }
    const Verdict v = m->Observe(t, DailySine(t) + noise(rng));
    ++normal;
    if (v.anomaly) ++false_positives;
    if (spikes > 0 && phase < kWatch) {
      after_score_sum += v.anomaly_score;
      if (phase >= 2) {
        worst_after_error = std::max(worst_after_error, std::abs(v.forecast.yhat - DailySine(t)));
      }
      ++after;
    }
  }
  ASSERT_GE(spikes, 14);
  EXPECT_EQ(detected, spikes);
  const double fp_rate = static_cast<double>(false_positives) / normal;
  EXPECT_LT(fp_rate, 0.005) << false_positives << " of " << normal;
  // Quiet again right after: scores as low as normal samples' (mean |z|/3
  // is about 0.27) and the forecast back on the sine within two samples.
  EXPECT_LT(after_score_sum / after, 0.45);
  EXPECT_LT(worst_after_error, 3 * kNoise);
  // And the learnt shape survived all the spikes.
  EXPECT_LT(MaxHourAheadError(*m, t), 0.15 * kAmplitude);
  std::cout << "[ measured ] spikes detected " << detected << "/" << spikes << ", false positives "
            << false_positives << "/" << normal << " (" << 100 * fp_rate << "%)\n";
}

TEST(HoltWinters, AnomalyIsExactlyScoreAboveOneAfterWarmUp) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> step(0, 1);
  std::bernoulli_distribution outlier(0.05);
  HoltWintersOptions options;
  options.min_n_samples_seen = 20;
  auto m = NewModel(options);
  double level = 50;
  int anomalies = 0;
  for (int i = 0; i < 5000; ++i) {
    level += step(rng);
    const double v = level + (outlier(rng) ? 15 * step(rng) : 0);
    const Verdict verdict = m->Observe(kStartMs + i * kStepMs, v);
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
    if (i >= options.min_n_samples_seen) {
      EXPECT_EQ(verdict.anomaly, verdict.anomaly_score > 1) << i;
    }
    anomalies += verdict.anomaly;
  }
  EXPECT_GT(anomalies, 50);  // the outliers were seen
}

TEST(HoltWinters, NoAnomalyDuringWarmUp) {
  HoltWintersOptions options;
  options.min_n_samples_seen = 30;
  auto m = NewModel(options);
  for (int i = 0; i < 30; ++i) {
    const double wild = i % 2 == 0 ? 0 : 1000;
    const Verdict v = m->Observe(i * kStepMs, i == 25 ? 1e9 : wild);
    EXPECT_FALSE(v.anomaly) << i;
    EXPECT_TRUE(Finite(v));
  }
  // The first sample after warm-up may be flagged, and this one is.
  const Verdict v = m->Observe(30 * kStepMs, 1e15);
  EXPECT_TRUE(v.anomaly);
}

TEST(HoltWinters, ConstantSeriesHasANonZeroBand) {
  for (const double constant : {42.0, 0.0, -7.5}) {
    auto m = NewModel();
    for (int i = 0; i < 1000; ++i) {
      const Verdict v = m->Observe(kStartMs + i * kStepMs, constant);
      ASSERT_TRUE(Finite(v));
      ASSERT_FALSE(v.anomaly) << constant << " at " << i;
      if (i == 0) continue;  // nothing was forecast before the first sample
      ASSERT_GT(v.forecast.yhat_upper - v.forecast.yhat_lower, 0) << constant;
    }
    const Forecast f = m->Predict(kStartMs + 1000 * kStepMs);
    EXPECT_DOUBLE_EQ(f.yhat, constant);
    // A 1% step off a constant is news.
    const Verdict v =
        m->Observe(kStartMs + 1000 * kStepMs, constant + 0.01 * std::abs(constant) + 1e-3);
    EXPECT_TRUE(v.anomaly) << constant;
  }
}

TEST(HoltWinters, GapOfSixHoursForecastsTheSeason) {
  std::mt19937_64 rng(4);
  auto m = NewModel();
  int64_t t = FeedSine(*m, rng, kStartMs, kStartMs + 3 * kDayMs);
  const int64_t after_gap = t + 6 * kHourMs;
  const Forecast f = m->Predict(after_gap);
  ASSERT_TRUE(std::isfinite(f.yhat));
  EXPECT_NEAR(f.yhat, DailySine(after_gap), 0.15 * kAmplitude);
  EXPECT_LT(f.yhat_upper - f.yhat_lower, kAmplitude);
  // Learning resumes without a false alarm or a blown-up state.
  std::normal_distribution<double> noise(0, kNoise);
  int anomalies = 0;
  double error = 0;
  int n = 0;
  for (t = after_gap; t < after_gap + kHourMs; t += kStepMs, ++n) {
    const Verdict v = m->Observe(t, DailySine(t) + noise(rng));
    ASSERT_TRUE(Finite(v));
    anomalies += v.anomaly;
    error += std::abs(v.forecast.yhat - DailySine(t));
  }
  EXPECT_LE(anomalies, 1);
  EXPECT_LT(error / n, 0.5 * kNoise);
}

TEST(HoltWinters, HugeValuesStayFinite) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(0, 1e9);
  auto m = NewModel();
  bool flagged_spike = false;
  for (int i = 0; i < 20'000; ++i) {
    const int64_t t = kStartMs + i * kStepMs;
    const double v = 1e12 + 1e10 * std::sin(i / 500.0) + noise(rng) + (i % 5000 == 4999 ? 1e13 : 0);
    const Verdict verdict = m->Observe(t, v);
    ASSERT_TRUE(Finite(verdict)) << i;
    if (i % 5000 == 4999) flagged_spike |= verdict.anomaly;
  }
  EXPECT_TRUE(flagged_spike);
  const Forecast f = m->Predict(kStartMs + 20'000 * kStepMs + kDayMs);
  EXPECT_TRUE(std::isfinite(f.yhat) && std::isfinite(f.yhat_upper) && std::isfinite(f.yhat_lower));
}

// Values whose differences overflow a double make the model start over
// instead of carrying NaN into every later forecast (and into its state).
TEST(HoltWinters, OverflowingValuesRestartInsteadOfPoisoning) {
  auto m = NewModel();
  int64_t t = kStartMs;
  for (int i = 0; i < 100; ++i, t += kStepMs) {
    const Verdict v = m->Observe(t, (i % 2 == 0 ? 1 : -1) * 1.7e308);
    EXPECT_FALSE(std::isnan(v.forecast.yhat) || std::isnan(v.anomaly_score) ||
                 std::isnan(v.forecast.yhat_lower) || std::isnan(v.forecast.yhat_upper))
        << i;
  }
  Verdict v;
  for (int i = 0; i < 100; ++i, t += kStepMs) v = m->Observe(t, 5);
  EXPECT_TRUE(Finite(v));
  EXPECT_NEAR(v.forecast.yhat, 5, 1e-6);
  std::string state;
  m->SerializeTo(&state);
  EXPECT_TRUE(NewModel()->Restore(state).ok());
}

TEST(HoltWinters, PredictDoesNotChangeTheState) {
  std::mt19937_64 rng(6);
  auto m = NewModel();
  const int64_t t = FeedSine(*m, rng, kStartMs, kStartMs + kHourMs);
  std::string before;
  m->SerializeTo(&before);
  for (int64_t h = 0; h < 2 * kHourMs; h += 60'000) m->Predict(t + h);
  std::string after;
  m->SerializeTo(&after);
  EXPECT_EQ(before, after);
}

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

TEST(HoltWinters, RestoredStateContinuesBitForBit) {
  std::mt19937_64 rng(7);
  auto original = NewModel();
  auto twin = NewModel();
  std::normal_distribution<double> noise(0, kNoise);
  int64_t t = kStartMs;
  for (; t < kStartMs + kDayMs + 5 * kHourMs; t += kStepMs) {
    const double v = DailySine(t) + noise(rng);
    original->Observe(t, v);
    twin->Observe(t, v);
  }
  std::string state;
  twin->SerializeTo(&state);
  auto restored = NewModel();
  ASSERT_TRUE(restored->Restore(state).ok());

  // The suffix has a spike, a gap and a retrain: every path of the state.
  for (int i = 0; i < 3000; ++i, t += kStepMs) {
    if (i == 1000) t += 2 * kHourMs;
    if (i == 2000) {
      original->Retrain();
      restored->Retrain();
    }
    const double v = DailySine(t) + noise(rng) + (i == 500 ? 80 : 0);
    const Verdict a = original->Observe(t, v);
    const Verdict b = restored->Observe(t, v);
    ASSERT_TRUE(SameBits(a.forecast.yhat, b.forecast.yhat)) << i;
    ASSERT_TRUE(SameBits(a.forecast.yhat_lower, b.forecast.yhat_lower)) << i;
    ASSERT_TRUE(SameBits(a.forecast.yhat_upper, b.forecast.yhat_upper)) << i;
    ASSERT_TRUE(SameBits(a.anomaly_score, b.anomaly_score)) << i;
    ASSERT_EQ(a.anomaly, b.anomaly) << i;
  }
  std::string end_a;
  std::string end_b;
  original->SerializeTo(&end_a);
  restored->SerializeTo(&end_b);
  EXPECT_EQ(end_a, end_b);
}

TEST(HoltWinters, RestoreRejectsCorruptOrForeignStateAndKeepsItsOwn) {
  std::mt19937_64 rng(8);
  auto source = NewModel();
  FeedSine(*source, rng, kStartMs, kStartMs + kHourMs);
  std::string good;
  source->SerializeTo(&good);

  auto m = NewModel();
  FeedSine(*m, rng, kStartMs, kStartMs + 10 * kStepMs);
  std::string own;
  m->SerializeTo(&own);
  auto expect_rejected = [&](std::string_view state, std::string_view what) {
    EXPECT_EQ(m->Restore(state).code(), absl::StatusCode::kInvalidArgument) << what;
    std::string now;
    m->SerializeTo(&now);
    EXPECT_EQ(now, own) << what << " changed the model";
  };

  for (size_t len = 0; len < good.size(); ++len) {
    expect_rejected(std::string_view(good).substr(0, len), "truncated");
  }
  expect_rejected(good + "x", "trailing byte");
  std::mt19937_64 bytes(9);
  for (int i = 0; i < 100; ++i) {
    std::string garbage(good.size(), '\0');
    for (char& c : garbage) c = static_cast<char>(bytes());
    expect_rejected(garbage, "garbage");
  }
  // A valid header over a non-finite level (the first double after the
  // 1+1+8 header and n, t_last, t_first).
  std::string nan_level = good;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::memcpy(nan_level.data() + 34, &nan, sizeof nan);
  expect_rejected(nan_level, "NaN level");
  std::string other_version = good;
  other_version[0] = 2;
  expect_rejected(other_version, "future version");
  std::string other_kind = good;
  other_kind[1] = 7;
  expect_rejected(other_kind, "another kind");

  HoltWintersOptions wider;
  wider.band_sigmas = 4;
  auto other_args = NewModel(wider);
  FeedSine(*other_args, rng, kStartMs, kStartMs + kHourMs);
  std::string foreign;
  other_args->SerializeTo(&foreign);
  expect_rejected(foreign, "state from other args");

  EXPECT_TRUE(m->Restore(good).ok());
  std::string now;
  m->SerializeTo(&now);
  EXPECT_EQ(now, good);
}

TEST(HoltWinters, StateIsSmall) {
  std::mt19937_64 rng(10);
  auto m = NewModel();
  FeedSine(*m, rng, kStartMs, kStartMs + kDayMs);
  std::string state;
  m->SerializeTo(&state);
  EXPECT_LE(state.size(), 2048u);
  // A million series in about 1.5 GB: the profile plus a few hundred bytes.
  EXPECT_LE(sizeof(HoltWinters), 512u);
  EXPECT_LE(m->MemoryBytes(), 288 * sizeof(float) + 512);
  std::cout << "[ measured ] serialized " << state.size() << " B, in memory " << m->MemoryBytes()
            << " B (sizeof " << sizeof(HoltWinters) << ")\n";

  HoltWintersOptions no_season;
  no_season.season_ms = 0;
  auto flat = NewModel(no_season);
  FeedSine(*flat, rng, kStartMs, kStartMs + kHourMs);
  std::string flat_state;
  flat->SerializeTo(&flat_state);
  EXPECT_LE(flat_state.size(), 400u);
}

// A series whose deviation from its season is a random walk: the last
// deviation is the best guess for the next, which the default (smoothing
// over a minute) does not assume. Retrain() finds it from the kept window.
TEST(HoltWinters, RetrainRefitsTheCorrectionAndKeepsForecastsSane) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> walk(0, 0.3);
  std::normal_distribution<double> noise(0, 0.02);
  double deviation = 0;
  auto next_value = [&](int64_t t) {
    deviation += walk(rng);
    deviation *= 0.999;  // stays bounded
    return DailySine(t) + deviation + noise(rng);
  };
  auto as_is = NewModel();
  int64_t t = kStartMs;
  for (; t < kStartMs + kDayMs; t += kStepMs) as_is->Observe(t, next_value(t));
  std::string state;
  as_is->SerializeTo(&state);
  auto retrained = NewModel();
  ASSERT_TRUE(retrained->Restore(state).ok());

  retrained->Retrain();
  std::string after_retrain;
  retrained->SerializeTo(&after_retrain);
  EXPECT_NE(after_retrain, state);
  EXPECT_NE(retrained->Predict(t).yhat, as_is->Predict(t).yhat);

  // Two hours more, retraining every 8 minutes as onRetrain would.
  double error_as_is = 0;
  double error_retrained = 0;
  for (int i = 0; i < 480; ++i, t += kStepMs) {
    if (i % 32 == 31) retrained->Retrain();
    const double v = next_value(t);
    error_as_is += std::abs(as_is->Observe(t, v).forecast.yhat - v);
    const Verdict r = retrained->Observe(t, v);
    ASSERT_TRUE(Finite(r));
    error_retrained += std::abs(r.forecast.yhat - v);
  }
  EXPECT_LT(error_retrained, 0.8 * error_as_is);
  std::cout << "[ measured ] one-step error after retrain " << error_retrained / 480 << " vs "
            << error_as_is / 480 << "\n";
  // Forecasts an hour ahead are still around the season, not extrapolated.
  EXPECT_NEAR(retrained->Predict(t + kHourMs).yhat, as_is->Predict(t + kHourMs).yhat,
              0.5 * kAmplitude);
}

TEST(HoltWinters, RetrainOnAFreshOrTinyModelIsHarmless) {
  auto fresh = NewModel();
  fresh->Retrain();
  EXPECT_TRUE(Finite(fresh->Observe(0, 1)));
  fresh->Retrain();
  const Verdict v = fresh->Observe(kStepMs, 1);
  EXPECT_TRUE(Finite(v));
  EXPECT_FALSE(v.anomaly);
}

TEST(HoltWintersOptions, FromArgsParsesEveryArg) {
  absl::StatusOr<HoltWintersOptions> o = HoltWintersOptions::FromArgs({
      {"season", "1w"},
      {"season_buckets", "336"},
      {"band_sigmas", "4.5"},
      {"min_n_samples_seen", "100"},
      {"level_half_life", "2d"},
      {"trend_half_life", "12h"},
      {"trend_damping", "1h"},
      {"season_half_life", "3"},
      {"residual_half_life", "0s"},
      {"correction_half_life", "10m"},
      {"scale_half_life", "2h"},
  });
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->season_ms, 7 * kDayMs);
  EXPECT_EQ(o->season_buckets, 336);
  EXPECT_EQ(o->band_sigmas, 4.5);
  EXPECT_EQ(o->min_n_samples_seen, 100);
  EXPECT_EQ(o->level_half_life_ms, 2 * kDayMs);
  EXPECT_EQ(o->trend_half_life_ms, 12 * kHourMs);
  EXPECT_EQ(o->trend_damping_ms, kHourMs);
  EXPECT_EQ(o->season_half_life, 3);
  EXPECT_EQ(o->residual_half_life_ms, 0);
  EXPECT_EQ(o->correction_half_life_ms, 600'000);
  EXPECT_EQ(o->scale_half_life_ms, 2 * kHourMs);
  EXPECT_NE(o->Fingerprint(), HoltWintersOptions{}.Fingerprint());

  absl::StatusOr<HoltWintersOptions> none = HoltWintersOptions::FromArgs({{"season", "none"}});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->season_ms, 0);
}

TEST(HoltWinters, WorksWithoutSeason) {
  HoltWintersOptions options;
  options.season_ms = 0;
  auto m = NewModel(options);
  std::mt19937_64 rng(12);
  std::normal_distribution<double> noise(0, 1);
  int false_positives = 0;
  for (int i = 0; i < 5000; ++i) {
    const Verdict v = m->Observe(kStartMs + i * kStepMs, 20 + noise(rng));
    ASSERT_TRUE(Finite(v));
    false_positives += v.anomaly;
  }
  EXPECT_LT(false_positives, 25);
  EXPECT_NEAR(m->Predict(kStartMs + 5000 * kStepMs + kHourMs).yhat, 20, 0.5);
  EXPECT_TRUE(m->Observe(kStartMs + 5000 * kStepMs, 40).anomaly);
}

}  // namespace
}  // namespace kad::models
