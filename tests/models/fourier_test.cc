#include "models/fourier.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <memory>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/registry.h"
#include "tests/models/kind_test_util.h"

namespace kad::models {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kWeekMs = 7 * kDayMs;
constexpr double kMean = 100;
constexpr double kAmplitude = 10;
constexpr double kNoise = 0.5;

// A daily shape with a second harmonic, so one sine is not enough.
double Daily(int64_t t_ms) {
  const double a = 2 * std::numbers::pi * static_cast<double>(t_ms % kDayMs) / kDayMs;
  return kMean + kAmplitude * (std::sin(a) + 0.4 * std::cos(2 * a));
}

std::unique_ptr<Fourier> NewModel(FourierOptions options = {}) {
  EXPECT_TRUE(options.Validate().ok()) << options.Validate();
  return std::make_unique<Fourier>(std::make_shared<const FourierOptions>(options));
}

template <typename Shape>
int64_t Feed(Forecaster& m, std::mt19937_64& rng, Shape shape, int64_t from_ms, int64_t to_ms,
             int64_t step_ms = kStepMs) {
  std::normal_distribution<double> noise(0, kNoise);
  int64_t t = from_ms;
  for (; t < to_ms; t += step_ms) m.Observe(t, shape(t) + noise(rng));
  return t;
}

void LearnsDailyShapeAt(int64_t step_ms) {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> noise(0, kNoise);
  auto m = NewModel();
  // Retrained every 8 minutes, as the onRetrain event does by default.
  constexpr int64_t kRetrainMs = 480'000;
  int64_t t = kStartMs;
  for (; t < kStartMs + 3 * kDayMs; t += step_ms) {
    if (t / kRetrainMs != (t - step_ms) / kRetrainMs) m->Retrain();
    m->Observe(t, Daily(t) + noise(rng));
  }

  // Day 4: a day ahead follows the shape, and one-step forecasts track the
  // truth better than repeating the last sample would (0.8 * kNoise).
  const double day_ahead = MaxAheadError(*m, Daily, t, kDayMs);
  double one_step_error = 0;
  int n = 0;
  for (const int64_t end = t + kDayMs; t < end; t += step_ms, ++n) {
    if (t / kRetrainMs != (t - step_ms) / kRetrainMs) m->Retrain();
    const Verdict v = m->Observe(t, Daily(t) + noise(rng));
    one_step_error += std::abs(v.forecast.yhat - Daily(t));
  }
  EXPECT_LT(day_ahead, 0.1 * kAmplitude);
  EXPECT_LT(one_step_error / n, 0.6 * kNoise);
  std::cout << "[ measured ] step " << step_ms / 1000 << "s: worst day-ahead error " << day_ahead
            << ", mean one-step error " << one_step_error / n << "\n";
}

TEST(Fourier, LearnsDailyShape) { LearnsDailyShapeAt(kStepMs); }

// Forgetting is per unit of time, so a slower scrape learns the same shape.
TEST(Fourier, LearnsDailyShapeAtFiveMinuteScrapes) { LearnsDailyShapeAt(300'000); }

TEST(Fourier, LearnsWeeklyShape) {
  // Weekdays busier than weekends, smoothly, on top of the daily shape.
  auto weekly = [](int64_t t) {
    return Daily(t) +
           2 * kAmplitude *
               std::sin(2 * std::numbers::pi * static_cast<double>(t % kWeekMs) / kWeekMs);
  };
  std::mt19937_64 rng(2);
  auto m = NewModel();
  const int64_t t = Feed(*m, rng, weekly, kStartMs, kStartMs + 3 * kWeekMs, 300'000);
  EXPECT_LT(MaxAheadError(*m, weekly, t, kDayMs), 0.15 * kAmplitude);

  // Without weekly harmonics the same day ahead misses by far more.
  FourierOptions daily_only;
  daily_only.weekly_order = 0;
  auto d = NewModel(daily_only);
  Feed(*d, rng, weekly, kStartMs, kStartMs + 3 * kWeekMs, 300'000);
  EXPECT_GT(MaxAheadError(*d, weekly, t, kDayMs), 0.5 * kAmplitude);
}

// Prophet's custom seasonality: a 6h cycle given as 0.25 days.
TEST(Fourier, LearnsACustomPeriodGivenInDays) {
  absl::StatusOr<FourierOptions> o = FourierOptions::FromArgs(
      {{"daily_order", "0"}, {"seasonality.period", "0.25"}, {"seasonality.fourier_order", "3"}});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->custom_period_ms, 6 * kHourMs);
  auto six_hourly = [](int64_t t) {
    return kMean + kAmplitude * std::cos(2 * std::numbers::pi *
                                         static_cast<double>(t % (6 * kHourMs)) / (6 * kHourMs));
  };
  std::mt19937_64 rng(3);
  auto m = NewModel(*o);
  const int64_t t = Feed(*m, rng, six_hourly, kStartMs, kStartMs + kDayMs);
  EXPECT_LT(MaxAheadError(*m, six_hourly, t, 6 * kHourMs), 0.1 * kAmplitude);
}

TEST(Fourier, FlagsSpikesAndStaysQuietAround) {
  std::mt19937_64 rng(4);
  std::normal_distribution<double> noise(0, kNoise);
  auto m = NewModel();
  int64_t t = Feed(*m, rng, Daily, kStartMs, kStartMs + 3 * kDayMs);

  // Day 4: a spike of 8 amplitudes, alternately up and down, every 97 min.
  constexpr int64_t kSpikeEvery = 97 * 60'000 / kStepMs;
  int spikes = 0;
  int detected = 0;
  int normal = 0;
  int false_positives = 0;
  int64_t i = 0;
  for (const int64_t end = t + kDayMs; t < end; t += kStepMs, ++i) {
    if (i % kSpikeEvery == kSpikeEvery - 1) {
      const double sign = spikes % 2 == 0 ? 1 : -1;
      detected += m->Observe(t, Daily(t) + sign * 8 * kAmplitude).anomaly;
      ++spikes;
      continue;
    }
    false_positives += m->Observe(t, Daily(t) + noise(rng)).anomaly;
    ++normal;
  }
  ASSERT_GE(spikes, 14);
  EXPECT_EQ(detected, spikes);
  const double fp_rate = static_cast<double>(false_positives) / normal;
  EXPECT_LT(fp_rate, 0.005) << false_positives << " of " << normal;
  // The learnt shape survived all the spikes.
  EXPECT_LT(MaxAheadError(*m, Daily, t, kHourMs), 0.1 * kAmplitude);
  std::cout << "[ measured ] spikes detected " << detected << "/" << spikes << ", false positives "
            << false_positives << "/" << normal << " (" << 100 * fp_rate << "%)\n";
}

TEST(Fourier, AnomalyIsExactlyScoreAboveOneAfterWarmUp) {
  ExpectAnomalyIsExactlyScoreAboveOne(*NewModel(), 30, 6);
}

TEST(Fourier, GapOfSixHoursForecastsTheShape) {
  std::mt19937_64 rng(7);
  auto m = NewModel();
  int64_t t = Feed(*m, rng, Daily, kStartMs, kStartMs + 3 * kDayMs);
  const int64_t after_gap = t + 6 * kHourMs;
  const Forecast f = m->Predict(after_gap);
  ASSERT_TRUE(Finite(f));
  EXPECT_NEAR(f.yhat, Daily(after_gap), 0.1 * kAmplitude);
  EXPECT_LT(f.yhat_upper - f.yhat_lower, kAmplitude);
  std::normal_distribution<double> noise(0, kNoise);
  int anomalies = 0;
  for (t = after_gap; t < after_gap + kHourMs; t += kStepMs) {
    const Verdict v = m->Observe(t, Daily(t) + noise(rng));
    ASSERT_TRUE(Finite(v));
    anomalies += v.anomaly;
  }
  // 240 samples at the band's 0.27% make 0.65 false alarms by chance.
  EXPECT_LE(anomalies, 2);
}

TEST(Fourier, IrregularIntervalsLearnTheShape) {
  std::mt19937_64 rng(8);
  std::uniform_int_distribution<int64_t> step(1'000, 180'000);
  std::normal_distribution<double> noise(0, kNoise);
  auto m = NewModel();
  int64_t t = kStartMs;
  for (; t < kStartMs + 3 * kDayMs; t += step(rng)) m->Observe(t, Daily(t) + noise(rng));
  int anomalies = 0;
  int n = 0;
  for (const int64_t end = t + kDayMs; t < end; t += step(rng), ++n) {
    const Verdict v = m->Observe(t, Daily(t) + noise(rng));
    ASSERT_TRUE(Finite(v));
    anomalies += v.anomaly;
  }
  EXPECT_LT(anomalies, 0.005 * n + 2);
  EXPECT_LT(MaxAheadError(*m, Daily, t, kHourMs), 0.1 * kAmplitude);
}

TEST(Fourier, LevelShiftBecomesTheNewNormal) {
  std::mt19937_64 rng(9);
  std::normal_distribution<double> noise(0, kNoise);
  auto m = NewModel();
  int64_t t = Feed(*m, rng, Daily, kStartMs, kStartMs + 2 * kDayMs);
  auto shifted = [](int64_t t) { return Daily(t) + 5 * kAmplitude; };
  int flagged_first = 0;
  int flagged_later = 0;
  for (int i = 0; i < 2000; ++i, t += kStepMs) {
    const Verdict v = m->Observe(t, shifted(t) + noise(rng));
    ASSERT_TRUE(Finite(v));
    (i < 4 ? flagged_first : flagged_later) += v.anomaly;
  }
  EXPECT_GE(flagged_first, 3);   // the shift is news at first...
  EXPECT_LE(flagged_later, 10);  // ...then the new normal
  // Forecasts ahead follow the new level, not the old one.
  EXPECT_LT(MaxAheadError(*m, shifted, t, kHourMs), 0.2 * kAmplitude);
}

TEST(Fourier, PredictIsConstAndItsBandNeverShrinks) {
  std::mt19937_64 rng(11);
  auto m = NewModel();
  const int64_t t = Feed(*m, rng, Daily, kStartMs, kStartMs + 2 * kDayMs);
  std::string before;
  m->SerializeTo(&before);
  double width = 0;
  for (int64_t h = 0; h < 2 * kDayMs; h += 60'000) {
    const Forecast f = m->Predict(t + h);
    ASSERT_GE(f.yhat_upper - f.yhat_lower, width * (1 - 1e-12)) << h;
    width = f.yhat_upper - f.yhat_lower;
  }
  std::string after;
  m->SerializeTo(&after);
  EXPECT_EQ(before, after);
}

// Restore() checks every field (the contract test covers the rest).
TEST(Fourier, RestoreRejectsNonFiniteLevelOrCoefficient) {
  std::mt19937_64 rng(10);
  auto source = NewModel();
  Feed(*source, rng, Daily, kStartMs, kStartMs + 2 * kDayMs);
  std::string good;
  source->SerializeTo(&good);
  // After the 10-byte header, n, t_last, t_first and the run: the level;
  // after 10 scalars and the feature count: the first coefficient.
  ExpectRejectedWithNaNAt([] { return NewModel(); }, good, 35);
  ExpectRejectedWithNaNAt([] { return NewModel(); }, good, 117);
}

TEST(Fourier, StateIsSmallAndObserveIsCheap) {
  std::mt19937_64 rng(15);
  auto m = NewModel();
  ASSERT_EQ(m->Features(), 12u);
  Feed(*m, rng, Daily, kStartMs, kStartMs + 8 * kDayMs, 60'000);
  std::string state;
  m->SerializeTo(&state);
  EXPECT_LE(state.size(), 1024u);

  FourierOptions most;
  most.daily_order = 6;
  most.weekly_order = 3;
  most.custom_period_ms = 30 * kDayMs;
  most.custom_order = 3;
  auto big = NewModel(most);
  ASSERT_EQ(big->Features(), 24u);
  Feed(*big, rng, Daily, kStartMs, kStartMs + kDayMs);
  std::string big_state;
  big->SerializeTo(&big_state);
  EXPECT_LE(big_state.size(), 2048u);

  // Rough cost, for the report; the benchmark is the reference figure.
  std::normal_distribution<double> noise(0, kNoise);
  std::vector<double> values(200'000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = Daily(i * kStepMs) + noise(rng);
  const double ns = CpuNsPerObserve(*m, values, kStartMs + 9 * kDayMs);
  std::cout << "[ measured ] serialized " << state.size()
            << " B (12 harmonics: " << big_state.size() << " B), in memory " << m->MemoryBytes()
            << " B, " << ns << " ns/Observe\n";
}

TEST(Fourier, DuplicateHarmonicsAreKeptOnce) {
  FourierOptions o;
  o.custom_period_ms = kDayMs;  // Prophet's period: 1 with more harmonics
  o.custom_order = 6;
  EXPECT_EQ(NewModel(o)->Features(), 2u * (6 + 2));
  o.custom_period_ms = 12 * kHourMs;  // its 1st and 2nd are the daily 2nd and 4th
  o.custom_order = 2;
  EXPECT_EQ(NewModel(o)->Features(), 2u * (4 + 2));
  o.custom_order = 3;
  EXPECT_EQ(NewModel(o)->Features(), 2u * (4 + 2 + 1));
}

// Deviations from the shape that wander like a random walk: the last one
// is the best guess for the next hour, which the default fade does not
// assume. Retrain() finds that from the deviations' autocorrelation.
TEST(Fourier, RetrainFitsHowLongTheCorrectionLasts) {
  std::mt19937_64 rng(16);
  std::normal_distribution<double> walk(0, 0.3);
  std::normal_distribution<double> noise(0, 0.05);
  double deviation = 0;
  std::vector<double> values;
  const int64_t end = kStartMs + 3 * kDayMs;
  for (int64_t t = kStartMs; t < end + 2 * kDayMs; t += kStepMs) {
    deviation = 0.9995 * deviation + walk(rng);
    values.push_back(Daily(t) + deviation + noise(rng));
  }
  auto value_at = [&](int64_t t) { return values[(t - kStartMs) / kStepMs]; };
  auto as_is = NewModel();
  int64_t t = kStartMs;
  for (; t < end; t += kStepMs) as_is->Observe(t, value_at(t));
  std::string state;
  as_is->SerializeTo(&state);
  auto retrained = NewModel();
  ASSERT_TRUE(retrained->Restore(state).ok());
  retrained->Retrain();
  std::string after;
  retrained->SerializeTo(&after);
  EXPECT_NE(after, state);

  // A day more; every 15 minutes, compare the forecasts 30 minutes ahead.
  double error_as_is = 0;
  double error_retrained = 0;
  for (int i = 0; t < end + kDayMs; ++i, t += kStepMs) {
    if (i % 60 == 0) {
      retrained->Retrain();
      const double truth = value_at(t + 30 * 60'000);
      error_as_is += std::abs(as_is->Predict(t + 30 * 60'000).yhat - truth);
      error_retrained += std::abs(retrained->Predict(t + 30 * 60'000).yhat - truth);
    }
    as_is->Observe(t, value_at(t));
    ASSERT_TRUE(Finite(retrained->Observe(t, value_at(t))));
  }
  EXPECT_LT(error_retrained, 0.8 * error_as_is);
  std::cout << "[ measured ] 30-min-ahead error after retrain " << error_retrained << " vs "
            << error_as_is << "\n";
}

// White deviations: carrying the last one forward only adds noise, so
// after Retrain() the forecast a minute ahead is the shape itself.
TEST(Fourier, RetrainDropsTheCorrectionForWhiteNoise) {
  std::mt19937_64 rng(17);
  auto m = NewModel();
  const int64_t t = Feed(*m, rng, Daily, kStartMs, kStartMs + 3 * kDayMs);
  m->Retrain();
  // The forecast no longer depends on the last sample.
  auto twin = NewModel();
  std::string state;
  m->SerializeTo(&state);
  ASSERT_TRUE(twin->Restore(state).ok());
  m->Observe(t, Daily(t) + 3 * kNoise);
  twin->Observe(t, Daily(t) - 3 * kNoise);
  EXPECT_NEAR(m->Predict(t + 60'000).yhat, twin->Predict(t + 60'000).yhat, 0.05 * kNoise);
}

TEST(FourierOptions, FromArgsParsesEveryArg) {
  absl::StatusOr<FourierOptions> o = FourierOptions::FromArgs({
      {"daily_order", "3"},
      {"weekly_order", "1"},
      {"seasonality.period", "12h"},
      {"seasonality.fourier_order", "2"},
      {"half_life", "3d"},
      {"level_half_life", "12h"},
      {"trend_half_life", "6h"},
      {"band_sigmas", "4.5"},
      {"residual_half_life", "0s"},
      {"correction_half_life", "10m"},
      {"scale_half_life", "2h"},
  });
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->daily_order, 3);
  EXPECT_EQ(o->weekly_order, 1);
  EXPECT_EQ(o->custom_period_ms, 12 * kHourMs);
  EXPECT_EQ(o->custom_order, 2);
  EXPECT_EQ(o->half_life_ms, 3 * kDayMs);
  EXPECT_EQ(o->level_half_life_ms, 12 * kHourMs);
  EXPECT_EQ(o->trend_half_life_ms, 6 * kHourMs);
  EXPECT_EQ(o->band_sigmas, 4.5);
  EXPECT_EQ(o->residual_half_life_ms, 0);
  EXPECT_EQ(o->correction_half_life_ms, 600'000);
  EXPECT_EQ(o->scale_half_life_ms, 2 * kHourMs);
  EXPECT_NE(o->Fingerprint(), FourierOptions{}.Fingerprint());

  // Prophet's periods are (fractional) days.
  absl::StatusOr<FourierOptions> monthly = FourierOptions::FromArgs(
      {{"seasonality.period", "30.5"}, {"seasonality.fourier_order", "2"}});
  ASSERT_TRUE(monthly.ok()) << monthly.status();
  EXPECT_EQ(monthly->custom_period_ms, 30 * kDayMs + kDayMs / 2);
  absl::StatusOr<FourierOptions> none = FourierOptions::FromArgs({{"trend_half_life", "none"}});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->trend_half_life_ms, 0);
}

TEST(FourierOptions, BadArgsAreNamed) {
  const struct {
    ModelArgs args;
    std::string named;
  } cases[] = {
      {{{"daily_order", "x"}}, "daily_order"},
      {{{"daily_order", "-1"}}, "daily_order"},
      {{{"weekly_order", "13"}}, "weekly_order"},
      {{{"daily_order", "8"}, {"weekly_order", "5"}}, "weekly_order"},
      {{{"seasonality.period", "-2"}, {"seasonality.fourier_order", "1"}}, "seasonality.period"},
      {{{"seasonality.period", "1x"}, {"seasonality.fourier_order", "1"}}, "seasonality.period"},
      {{{"seasonality.period", "7d"}}, "seasonality.fourier_order"},
      {{{"seasonality.fourier_order", "3"}}, "seasonality.period"},
      {{{"seasonality.period", "2s"}, {"seasonality.fourier_order", "3"}}, "seasonality.period"},
      {{{"half_life", "0s"}}, "half_life"},
      {{{"level_half_life", "-1h"}}, "level_half_life"},
      {{{"trend_half_life", "often"}}, "trend_half_life"},
      {{{"correction_half_life", "0s"}}, "correction_half_life"},
      {{{"scale_half_life", "0s"}}, "scale_half_life"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<ModelFactory> f = MakeModelFactory("fourier", c.args);
    ASSERT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << c.named;
    EXPECT_THAT(std::string(f.status().message()), HasSubstr(c.named));
  }
}

TEST(FourierRegistry, ProphetKindsRunAsFourier) {
  EXPECT_THAT(ModelKinds(), Contains("fourier"));
  EXPECT_THAT(ModelKinds(), Not(Contains("prophet")));
  EXPECT_EQ(KindAlias("prophet"), "fourier");
  EXPECT_EQ(KindAlias("prophet_with_seasonality"), "fourier");
  EXPECT_EQ(KindAlias("fourier"), std::nullopt);
  EXPECT_EQ(KindAlias("holt_winters"), std::nullopt);

  absl::StatusOr<ModelFactory> prophet = MakeModelFactory("prophet", {});
  ASSERT_TRUE(prophet.ok()) << prophet.status();
  EXPECT_EQ(prophet->kind, "fourier");
  absl::StatusOr<ModelFactory> seasonal = MakeModelFactory(
      "prophet_with_seasonality",
      {{"seasonality.period", "1"}, {"seasonality.fourier_order", "10"}, {"daily_order", "0"}});
  ASSERT_TRUE(seasonal.ok()) << seasonal.status();
  std::unique_ptr<Forecaster> m = seasonal->New();
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(Finite(m->Observe(kStartMs + i * kStepMs, 3)));
}

}  // namespace
}  // namespace kad::models
