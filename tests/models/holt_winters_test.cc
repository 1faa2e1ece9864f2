#include "models/holt_winters.h"

#include <cmath>
#include <cstdint>
#include <iostream>
#include <memory>
#include <numbers>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "tests/models/kind_test_util.h"

namespace kad::models {
namespace {

// An arbitrary start, not aligned to a day, so the first sample is not the
// daily mean and the first season is partial.
constexpr double kMean = 100;
constexpr double kAmplitude = 10;
constexpr double kNoise = 0.5;

double DailySine(int64_t t_ms) {
  return kMean + kAmplitude * std::sin(2 * std::numbers::pi * static_cast<double>(t_ms) / kDayMs);
}

// Most tests fix the daily season; SeasonAutoFindsTheDailyCycle tests "auto".
HoltWintersOptions Daily() {
  HoltWintersOptions options;
  options.season_ms = kDayMs;
  return options;
}

std::unique_ptr<HoltWinters> NewModel(HoltWintersOptions options = Daily()) {
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

// Worst |forecast - truth| over the next hour, one point a minute.
double MaxHourAheadError(const Forecaster& m, int64_t now_ms) {
  return MaxAheadError(m, DailySine, now_ms, kHourMs);
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
  ExpectAnomalyIsExactlyScoreAboveOne(*NewModel(), 30, 3);
}

TEST(HoltWinters, NoAnomalyDuringWarmUp) { ExpectNoAnomalyDuringWarmUp(*NewModel(), 30); }

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

// Restore() checks every field (the contract test covers the rest).
TEST(HoltWinters, RestoreRejectsANonFiniteLevel) {
  std::mt19937_64 rng(8);
  auto source = NewModel();
  FeedSine(*source, rng, kStartMs, kStartMs + kHourMs);
  std::string good;
  source->SerializeTo(&good);
  // The level: after the 10-byte header, n, t_last and t_first.
  ExpectRejectedWithNaNAt([] { return NewModel(); }, good, 34);
}

TEST(HoltWinters, StateIsSmall) {
  std::mt19937_64 rng(10);
  auto m = NewModel(HoltWintersOptions{});  // season: auto keeps a history too
  FeedSine(*m, rng, kStartMs, kStartMs + kDayMs);
  std::string state;
  m->SerializeTo(&state);
  EXPECT_LE(state.size(), 2560u);
  // A million series in about 2.5 GB: the profile, the season history and
  // a few hundred bytes.
  EXPECT_LE(sizeof(HoltWinters), 1536u);
  EXPECT_LE(m->MemoryBytes(), 288 * sizeof(float) + 1536);
  std::cout << "[ measured ] serialized " << state.size() << " B, in memory " << m->MemoryBytes()
            << " B (sizeof " << sizeof(HoltWinters) << ")\n";

  HoltWintersOptions no_season = Daily();
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

TEST(HoltWintersOptions, FromArgsParsesEveryArg) {
  absl::StatusOr<HoltWintersOptions> o = HoltWintersOptions::FromArgs({
      {"season", "1w"},
      {"season_buckets", "336"},
      {"band_sigmas", "4.5"},
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

// season: auto: not seasonal at first; retrains (every 8 minutes, as the
// server's default schedule) find the daily cycle after two days, and the
// state round-trips with the history in it.
TEST(HoltWinters, SeasonAutoFindsTheDailyCycle) {
  auto m = NewModel(HoltWintersOptions{});
  std::mt19937_64 rng(21);
  std::normal_distribution<double> noise(0, kNoise);
  int64_t t = kStartMs;
  for (; t < kStartMs + 4 * kDayMs; t += kStepMs) {
    if ((t - kStartMs) % 480'000 == 0) m->Retrain();
    m->Observe(t, DailySine(t) + noise(rng));
  }
  // Worst error of the forecasts 1 to 12 hours ahead.
  const auto half_day_error = [&](const Forecaster& model) {
    double worst = 0;
    for (int64_t h = kHourMs; h <= 12 * kHourMs; h += kHourMs) {
      worst = std::max(worst, std::abs(model.Predict(t + h).yhat - DailySine(t + h)));
    }
    return worst;
  };
  EXPECT_LT(half_day_error(*m), 0.15 * kAmplitude);
  std::string state;
  m->SerializeTo(&state);
  auto restored = NewModel(HoltWintersOptions{});
  ASSERT_TRUE(restored->Restore(state).ok());
  EXPECT_EQ(restored->Predict(t + kHourMs).yhat, m->Predict(t + kHourMs).yhat);
  // The same series without retrains never learns its shape.
  auto never = NewModel(HoltWintersOptions{});
  std::mt19937_64 rng2(21);
  FeedSine(*never, rng2, kStartMs, t);
  EXPECT_GT(half_day_error(*never), 0.5 * kAmplitude);
  // A fixed-season state is not an auto one.
  std::string daily;
  NewModel()->SerializeTo(&daily);
  EXPECT_FALSE(NewModel(HoltWintersOptions{})->Restore(daily).ok());
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
