// The contract every model kind keeps, run for each kind in ModelKinds()
// as the engine builds it (MakeModelFactory: the kind inside its Detector),
// so a new kind is covered as soon as it is registered: the first sample's
// verdict, quiet on noise, state that round-trips bit for bit and a strict
// Restore(), and robustness to huge values, overflow, gaps of hours,
// irregular intervals, constant series and level shifts. What is specific
// to one kind (its pattern, its args, its Retrain) is in <kind>_test.cc.
//
//   build-dev/tests/models/models_test --gtest_filter='Kinds/KindContract.*'
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <numbers>
#include <random>
#include <string>
#include <string_view>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/registry.h"
#include "models/state_codec.h"
#include "tests/models/kind_test_util.h"

namespace kad::models {
namespace {

using ::testing::HasSubstr;

bool NoNaN(const Verdict& v) {
  return !std::isnan(v.forecast.yhat) && !std::isnan(v.forecast.yhat_lower) &&
         !std::isnan(v.forecast.yhat_upper) && !std::isnan(v.anomaly_score);
}

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

std::string State(const Forecaster& m) {
  std::string state;
  m.SerializeTo(&state);
  return state;
}

// A daily shape plus N(0, 1) noise: every kind forecasts it within a few sigmas.
double Series(int64_t t_ms, std::mt19937_64& rng) {
  std::normal_distribution<double> noise(0, 1);
  const double phase = 2 * std::numbers::pi * static_cast<double>(t_ms % kDayMs) / kDayMs;
  return 100 + 10 * std::sin(phase) + noise(rng);
}

class KindContract : public ::testing::TestWithParam<std::string_view> {
 protected:
  std::unique_ptr<Forecaster> New(const ModelArgs& args = {}) const {
    absl::StatusOr<ModelFactory> f = MakeModelFactory(GetParam(), args);
    EXPECT_TRUE(f.ok()) << f.status();
    return f->New();
  }
};

TEST_P(KindContract, FirstSampleIsItsOwnForecast) {
  auto m = New();
  const Forecast before = m->Predict(kStartMs);
  EXPECT_EQ(before.yhat, 0);
  const Verdict v = m->Observe(kStartMs, 42.5);
  EXPECT_EQ(v.forecast.yhat, 42.5);
  EXPECT_EQ(v.anomaly_score, 0);
  EXPECT_FALSE(v.anomaly);
}

TEST_P(KindContract, QuietOnGaussianNoise) {
  std::mt19937_64 rng(1);
  auto m = New();
  int64_t t = FeedNoise(*m, rng, kStartMs, 500, 50, 2);
  int anomalies = 0;
  constexpr int kSamples = 20'000;
  FeedNoise(*m, rng, t, kSamples, 50, 2, &anomalies);
  EXPECT_LT(anomalies, kSamples / 200) << GetParam();  // under 0.5%
  std::cout << "[ measured ] " << GetParam() << ": " << anomalies << " alarms in " << kSamples
            << " samples of noise\n";
}

TEST_P(KindContract, PredictAndPrefetchDoNotChangeTheState) {
  std::mt19937_64 rng(2);
  auto m = New();
  int64_t t = kStartMs;
  for (int i = 0; i < 2000; ++i, t += kStepMs) m->Observe(t, Series(t, rng));
  const std::string before = State(*m);
  for (int64_t ahead = 0; ahead < 2 * kDayMs; ahead += kHourMs) m->Predict(t + ahead);
  EXPECT_EQ(State(*m), before);
  for (int step = 0; step < Forecaster::kPrefetchSteps; ++step) m->Prefetch(step);
  EXPECT_EQ(State(*m), before);
}

TEST_P(KindContract, RestoredStateContinuesBitForBit) {
  std::mt19937_64 rng(3);
  auto original = New();
  auto twin = New();
  int64_t t = kStartMs;
  for (int i = 0; i < 1500; ++i, t += kStepMs) {
    const double v = Series(t, rng);
    original->Observe(t, v);
    twin->Observe(t, v);
  }
  auto restored = New();
  ASSERT_TRUE(restored->Restore(State(*twin)).ok());
  // The suffix has a spike, a gap, a level shift and a retrain.
  for (int i = 0; i < 3000; ++i, t += kStepMs) {
    if (i == 1000) t += 2 * kHourMs;
    if (i == 2000) {
      original->Retrain();
      restored->Retrain();
    }
    const double v = Series(t, rng) + (i == 500 ? 80 : 0) + (i > 1500 ? 30 : 0);
    const Verdict a = original->Observe(t, v);
    const Verdict b = restored->Observe(t, v);
    ASSERT_TRUE(SameBits(a.forecast.yhat, b.forecast.yhat)) << i;
    ASSERT_TRUE(SameBits(a.forecast.yhat_lower, b.forecast.yhat_lower)) << i;
    ASSERT_TRUE(SameBits(a.forecast.yhat_upper, b.forecast.yhat_upper)) << i;
    ASSERT_TRUE(SameBits(a.anomaly_score, b.anomaly_score)) << i;
    ASSERT_EQ(a.anomaly, b.anomaly) << i;
  }
  EXPECT_EQ(State(*original), State(*restored));
}

TEST_P(KindContract, RestoreRejectsCorruptOrForeignStateAndKeepsItsOwn) {
  std::mt19937_64 rng(4);
  auto source = New();
  FeedNoise(*source, rng, kStartMs, 300, 10, 1);
  const std::string good = State(*source);

  auto m = New();
  FeedNoise(*m, rng, kStartMs, 10, 10, 1);
  const std::string own = State(*m);
  auto expect_rejected = [&](std::string_view state, std::string_view what) {
    EXPECT_EQ(m->Restore(state).code(), absl::StatusCode::kInvalidArgument) << what;
    EXPECT_EQ(State(*m), own) << what << " changed the model";
  };
  for (size_t len = 0; len < good.size(); ++len) {
    expect_rejected(std::string_view(good).substr(0, len), "truncated");
  }
  expect_rejected(good + "x", "trailing byte");
  std::mt19937_64 bytes(5);
  for (int i = 0; i < 100; ++i) {
    std::string garbage(good.size(), '\0');
    for (char& c : garbage) c = static_cast<char>(bytes());
    expect_rejected(garbage, "garbage");
  }
  for (std::string_view other : ModelKinds()) {
    if (other == GetParam()) continue;
    absl::StatusOr<ModelFactory> f = MakeModelFactory(other, {});
    ASSERT_TRUE(f.ok()) << f.status();
    std::unique_ptr<Forecaster> foreign = f->New();
    FeedNoise(*foreign, rng, kStartMs, 300, 10, 1);
    expect_rejected(State(*foreign), other);
  }
  // band_sigmas is every kind's own arg, not the detector's.
  auto other_args = New({{"band_sigmas", "4"}});
  FeedNoise(*other_args, rng, kStartMs, 300, 10, 1);
  expect_rejected(State(*other_args), "state from other args");

  EXPECT_TRUE(m->Restore(good).ok());
  EXPECT_EQ(State(*m), good);
}

TEST_P(KindContract, HugeValuesStayFinite) {
  std::mt19937_64 rng(6);
  std::normal_distribution<double> noise(0, 1e297);
  auto m = New();
  int flagged = 0;
  for (int i = 0; i < 5000; ++i) {
    const double v = 1e300 + noise(rng) + (i % 1000 == 999 ? 1e299 : 0);
    const Verdict verdict = m->Observe(kStartMs + i * kStepMs, v);
    ASSERT_TRUE(Finite(verdict)) << i;
    if (i % 1000 == 999) flagged += verdict.anomaly;
  }
  EXPECT_GE(flagged, 1);
}

// Values whose differences overflow a double make the model start over
// instead of carrying NaN or inf into every later verdict and its state.
TEST_P(KindContract, OverflowingValuesRestartInsteadOfPoisoning) {
  auto m = New();
  int64_t t = kStartMs;
  for (int i = 0; i < 300; ++i, t += kStepMs) {
    ASSERT_TRUE(NoNaN(m->Observe(t, (i % 2 == 0 ? 1 : -1) * 1.7e308))) << i;
  }
  Verdict v;
  for (int i = 0; i < 300; ++i, t += kStepMs) v = m->Observe(t, 5);
  EXPECT_TRUE(Finite(v));
  EXPECT_NEAR(v.forecast.yhat, 5, 1e-9);
  EXPECT_TRUE(New()->Restore(State(*m)).ok());
}

TEST_P(KindContract, IrregularIntervalsAndGapsOfHours) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> interval(1'000, 120'000);
  std::normal_distribution<double> noise(20, 1);
  auto m = New();
  int64_t t = kStartMs;
  int anomalies = 0;
  constexpr int kSamples = 10'000;
  for (int i = 0; i < kSamples; ++i) {
    t += interval(rng) + (i % 2000 == 1999 ? 6 * kHourMs : 0);
    const Verdict v = m->Observe(t, noise(rng));
    ASSERT_TRUE(Finite(v)) << i;
    anomalies += v.anomaly;
  }
  EXPECT_LT(anomalies, kSamples / 100);
  const Forecast f = m->Predict(t + 10 * kHourMs);
  EXPECT_NEAR(f.yhat, 20, 1);
  EXPECT_GT(f.yhat_upper - f.yhat, 0);
}

TEST_P(KindContract, ConstantSeriesHasANonZeroBand) {
  for (const double constant : {42.0, 0.0, -7.5}) {
    auto m = New();
    for (int i = 0; i < 1000; ++i) {
      const Verdict v = m->Observe(kStartMs + i * kStepMs, constant);
      ASSERT_TRUE(Finite(v));
      ASSERT_FALSE(v.anomaly) << constant << " at " << i;
      if (i == 0) continue;
      ASSERT_GT(v.forecast.yhat_upper - v.forecast.yhat_lower, 0) << constant;
    }
    EXPECT_NEAR(m->Predict(kStartMs + 1000 * kStepMs).yhat, constant, 1e-9);
    // A 1% step off a constant is news.
    const Verdict v =
        m->Observe(kStartMs + 1000 * kStepMs, constant + 0.01 * std::abs(constant) + 1e-3);
    EXPECT_TRUE(v.anomaly) << constant;
  }
}

TEST_P(KindContract, LevelShiftBecomesTheNewNormal) {
  std::mt19937_64 rng(8);
  auto m = New();
  int64_t t = FeedNoise(*m, rng, kStartMs, 2000, 100, 1);
  int anomalies = 0;
  t = FeedNoise(*m, rng, t, 20, 180, 1, &anomalies);
  EXPECT_GE(anomalies, 1);  // the shift was seen
  anomalies = 0;
  FeedNoise(*m, rng, t, 5000, 180, 1, &anomalies);
  EXPECT_LT(anomalies, 50);  // and accepted: under 1% of the samples after it
  EXPECT_NEAR(m->Predict(t).yhat, 180, 1);
}

TEST_P(KindContract, RetrainOnAFreshOrTinyModelIsHarmless) {
  auto m = New();
  m->Retrain();
  m->Observe(kStartMs, 3);
  m->Retrain();
  const Verdict v = m->Observe(kStartMs + kStepMs, 3);
  EXPECT_TRUE(Finite(v));
  EXPECT_NEAR(v.forecast.yhat, 3, 1e-9);
}

TEST_P(KindContract, BadArgsAreNamed) {
  const struct {
    ModelArgs args;
    std::string named;
  } cases[] = {
      {{{"band_sigmas", "abc"}}, "band_sigmas"}, {{{"band_sigmas", "0"}}, "band_sigmas"},
      {{{"band_sigmas", "-1"}}, "band_sigmas"},  {{{"band_sigmas", "inf"}}, "band_sigmas"},
      {{{"no_such_arg", "1"}}, "no_such_arg"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<ModelFactory> bad = MakeModelFactory(GetParam(), c.args);
    ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << c.named;
    EXPECT_THAT(std::string(bad.status().message()), HasSubstr(c.named));
    EXPECT_THAT(std::string(bad.status().message()), HasSubstr(std::string(GetParam())));
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, KindContract, ::testing::ValuesIn(ModelKinds()),
                         [](const ::testing::TestParamInfo<std::string_view>& info) {
                           return std::string(info.param);
                         });

// The header every kind's state starts with (state_codec.h).
TEST(StateHeader, RejectsAnotherVersionKindOrFingerprint) {
  const StateHeader header{"test_kind", 3, 7, 0x0123456789abcdefULL};
  std::string state;
  StateWriter w(&state);
  WriteStateHeader(header, &w);
  StateReader same(state);
  EXPECT_TRUE(ReadStateHeader(header, &same).ok());
  EXPECT_TRUE(same.AtEnd());
  const std::pair<StateHeader, std::string> others[] = {
      {{"test_kind", 4, 7, header.fingerprint}, "unsupported format version 3"},
      {{"test_kind", 3, 8, header.fingerprint}, "another model kind"},
      {{"test_kind", 3, 7, header.fingerprint + 1}, "different model args"},
  };
  for (const auto& [expected, why] : others) {
    StateReader r(state);
    const absl::Status s = ReadStateHeader(expected, &r);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << why;
    EXPECT_THAT(std::string(s.message()), HasSubstr("test_kind state rejected"));
    EXPECT_THAT(std::string(s.message()), HasSubstr(why));
  }
  StateReader truncated(std::string_view(state).substr(0, state.size() - 1));
  EXPECT_THAT(std::string(ReadStateHeader(header, &truncated).message()),
              HasSubstr("truncated header"));
  EXPECT_EQ(Fnv1a(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(Fnv1a("a"), 0xaf63dc4c8601ec8cULL);
}

}  // namespace
}  // namespace kad::models
