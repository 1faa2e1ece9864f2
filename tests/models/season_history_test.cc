#include "models/season_history.h"

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numbers>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace kad::models {
namespace {

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kHourMs = 60 * kMinuteMs;
constexpr int64_t kDayMs = SeasonHistory::kDayMs;
constexpr int64_t kWeekMs = SeasonHistory::kWeekMs;
// A Monday 00:00:20 UTC, off every bucket boundary; day 5 and 6 after it
// are the weekend.
constexpr int64_t kStartMs = 1'700'438'420'000;

double DailySine(int64_t t_ms) {
  return 100 + 10 * std::sin(2 * std::numbers::pi * static_cast<double>(t_ms) / kDayMs);
}

// Busy weekdays (daily cycle around 100), quiet weekends (around 40).
double WeekdayWeekend(int64_t t_ms) {
  const int64_t day = (t_ms - kStartMs) / kDayMs % 7;
  const double phase = 2 * std::numbers::pi * static_cast<double>(t_ms) / kDayMs;
  return day < 5 ? 100 + 20 * std::sin(phase) : 40 + 5 * std::sin(phase);
}

// Adds f(t) every `step_ms` over [kStartMs, kStartMs + span_ms).
void Feed(SeasonHistory& h, int64_t span_ms, int64_t step_ms,
          const std::function<double(int64_t)>& f) {
  for (int64_t t = kStartMs; t < kStartMs + span_ms; t += step_ms) h.Add(t, f(t));
}

TEST(SeasonHistory, FindsDailySineAt15sOverThreeDays) {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> noise(0, 2);
  SeasonHistory h;
  Feed(h, 3 * kDayMs, 15'000, [&](int64_t t) { return DailySine(t) + noise(rng); });
  EXPECT_EQ(h.DetectSeasonMs(), kDayMs);
}

TEST(SeasonHistory, FindsWeekFromWeekdayWeekendOverThreeWeeks) {
  std::mt19937_64 rng(2);
  std::normal_distribution<double> noise(0, 5);
  SeasonHistory h;
  Feed(h, 21 * kDayMs, kMinuteMs, [&](int64_t t) { return WeekdayWeekend(t) + noise(rng); });
  const SeasonHistory::Evidence ev = h.Measure();
  EXPECT_EQ(h.DetectSeasonMs(), kWeekMs)
      << "weekly " << ev.weekly << " daily in weekly " << ev.daily_in_weekly;
}

TEST(SeasonHistory, DailyCycleAloneOverThreeWeeksIsDaily) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0, 2);
  SeasonHistory h;
  Feed(h, 21 * kDayMs, kMinuteMs, [&](int64_t t) { return DailySine(t) + noise(rng); });
  EXPECT_EQ(h.DetectSeasonMs(), kDayMs);
}

TEST(SeasonHistory, NoSeasonInWhiteNoise) {
  int found = 0;
  for (int seed = 0; seed < 20; ++seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> noise(0, 1);
    SeasonHistory h;
    Feed(h, 21 * kDayMs, 5 * kMinuteMs, [&](int64_t) { return noise(rng); });
    found += h.DetectSeasonMs() != 0;
  }
  EXPECT_EQ(found, 0);
}

// A random walk wanders with shapes that repeat by chance; about 1% of
// them pass for a season (measured over 200 seeds), so 1 in 20 is allowed.
TEST(SeasonHistory, NoSeasonInRandomWalks) {
  for (int64_t span_ms : {4 * kDayMs, 21 * kDayMs}) {
    int found = 0;
    for (int seed = 0; seed < 20; ++seed) {
      std::mt19937_64 rng(seed);
      std::normal_distribution<double> step(0, 1);
      double walk = 0;
      SeasonHistory h;
      Feed(h, span_ms, kMinuteMs, [&](int64_t) { return walk += step(rng); });
      found += h.DetectSeasonMs() != 0;
    }
    EXPECT_LE(found, 1) << "over " << span_ms / kDayMs << " days";
  }
}

TEST(SeasonHistory, NoSeasonInLinearTrend) {
  std::mt19937_64 rng(4);
  std::normal_distribution<double> noise(0, 1);
  SeasonHistory h;
  Feed(h, 21 * kDayMs, kMinuteMs,
       [&](int64_t t) { return 1e-6 * static_cast<double>(t - kStartMs) + noise(rng); });
  EXPECT_EQ(h.DetectSeasonMs(), 0);
}

TEST(SeasonHistory, NoSeasonInConstantSeries) {
  for (double level : {0.0, 42.0, 1e9, 1e300}) {
    SeasonHistory h;
    Feed(h, 21 * kDayMs, kMinuteMs, [&](int64_t) { return level; });
    EXPECT_EQ(h.DetectSeasonMs(), 0) << level;
  }
}

TEST(SeasonHistory, NoSeasonFromTooLittleHistory) {
  SeasonHistory daily;
  Feed(daily, 36 * kHourMs, 15'000, DailySine);
  EXPECT_EQ(daily.DetectSeasonMs(), 0);
  // Under two weeks, a weekly pattern can only show as its daily cycle.
  SeasonHistory weekly;
  Feed(weekly, 12 * kDayMs, kMinuteMs, WeekdayWeekend);
  EXPECT_NE(weekly.DetectSeasonMs(), kWeekMs);
  EXPECT_EQ(SeasonHistory().DetectSeasonMs(), 0);
}

TEST(SeasonHistory, GapsOfHoursStillShowTheSeason) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(0, 2);
  // 5 hours missing every 19 hours, so the gaps fall at every time of day.
  auto in_gap = [](int64_t t) { return (t - kStartMs) % (19 * kHourMs) < 5 * kHourMs; };
  SeasonHistory daily;
  Feed(daily, 4 * kDayMs, 15'000, [&](int64_t t) {
    return in_gap(t) ? std::numeric_limits<double>::quiet_NaN() : DailySine(t) + noise(rng);
  });
  EXPECT_EQ(daily.DetectSeasonMs(), kDayMs);
  SeasonHistory weekly;
  Feed(weekly, 21 * kDayMs, kMinuteMs, [&](int64_t t) {
    return in_gap(t) ? std::numeric_limits<double>::quiet_NaN() : WeekdayWeekend(t) + noise(rng);
  });
  EXPECT_EQ(weekly.DetectSeasonMs(), kWeekMs);
}

TEST(SeasonHistory, GapLongerThanTheDailyRingFallsBackOnTheWeeklyRing) {
  SeasonHistory h;
  Feed(h, 10 * kDayMs, kMinuteMs, DailySine);
  h.Add(kStartMs + 15 * kDayMs, 100);  // five days of silence
  EXPECT_EQ(h.Measure().daily_threshold, std::numeric_limits<double>::infinity());
  EXPECT_EQ(h.DetectSeasonMs(), kDayMs);
}

TEST(SeasonHistory, IrregularIntervals) {
  std::mt19937_64 rng(6);
  std::uniform_int_distribution<int64_t> interval(1'000, 10 * kMinuteMs);
  SeasonHistory h;
  for (int64_t t = kStartMs; t < kStartMs + 3 * kDayMs; t += interval(rng)) h.Add(t, DailySine(t));
  EXPECT_EQ(h.DetectSeasonMs(), kDayMs);
}

TEST(SeasonHistory, SpikesNeitherFakeNorHideASeason) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0, 1);
  std::bernoulli_distribution spike(0.0003);  // 3 a week
  auto spiky = [&](double v) { return spike(rng) ? v + 1e6 : v; };
  SeasonHistory noisy;
  Feed(noisy, 21 * kDayMs, kMinuteMs, [&](int64_t) { return spiky(noise(rng)); });
  EXPECT_EQ(noisy.DetectSeasonMs(), 0);
  SeasonHistory daily;
  Feed(daily, 4 * kDayMs, kMinuteMs, [&](int64_t t) { return spiky(DailySine(t) + noise(rng)); });
  EXPECT_EQ(daily.DetectSeasonMs(), kDayMs);
}

TEST(SeasonHistory, HugeAndNonFiniteValuesKeepStateFinite) {
  SeasonHistory h;
  const double inf = std::numeric_limits<double>::infinity();
  Feed(h, 21 * kDayMs, 5 * kMinuteMs, [&](int64_t t) {
    return (t / kHourMs) % 3 == 0 ? inf : ((t / kHourMs) % 3 == 1 ? -1e300 : 1e300);
  });
  const SeasonHistory::Evidence ev = h.Measure();
  EXPECT_TRUE(std::isfinite(ev.daily) && std::isfinite(ev.weekly) &&
              std::isfinite(ev.daily_in_weekly) && std::isfinite(ev.daily_long));
  std::string state;
  h.SerializeTo(&state);
  SeasonHistory restored;
  EXPECT_TRUE(restored.Restore(state).ok());
}

TEST(SeasonHistory, KeepsTheSeasonInUseOnBorderlineEvidence) {
  // Noisy enough that, for some seeds, the daily autocorrelations fall
  // short of their bars but not of 85% of them.
  int borderline = 0;
  for (int seed = 0; seed < 100 && borderline < 3; ++seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> noise(0, 60);
    SeasonHistory h;
    Feed(h, 4 * kDayMs, kMinuteMs, [&](int64_t t) { return DailySine(t) + noise(rng); });
    const SeasonHistory::Evidence ev = h.Measure();
    const double short_share = ev.daily / ev.daily_threshold;
    const double long_share = ev.daily_long / ev.daily_long_threshold;
    if (std::max(short_share, long_share) >= 1 || std::max(short_share, long_share) < 0.85) {
      continue;
    }
    ++borderline;
    EXPECT_EQ(h.DetectSeasonMs(), 0);
    EXPECT_EQ(h.DetectSeasonMs(kDayMs), kDayMs);
    EXPECT_EQ(h.DetectSeasonMs(kWeekMs), 0);
  }
  EXPECT_EQ(borderline, 3);
}

TEST(SeasonHistory, OutOfOrderSampleIsIgnored) {
  SeasonHistory a;
  SeasonHistory b;
  Feed(a, 2 * kDayMs, kMinuteMs, DailySine);
  Feed(b, 2 * kDayMs, kMinuteMs, DailySine);
  b.Add(kStartMs, 1e9);  // two days late
  std::string sa;
  std::string sb;
  a.SerializeTo(&sa);
  b.SerializeTo(&sb);
  EXPECT_EQ(sa, sb);
}

TEST(SeasonHistory, StateRoundTripsAndStaysSmall) {
  std::mt19937_64 rng(8);
  std::normal_distribution<double> noise(0, 5);
  SeasonHistory h;
  Feed(h, 17 * kDayMs, 30'000, [&](int64_t t) { return WeekdayWeekend(t) + noise(rng); });
  std::string state;
  h.SerializeTo(&state);
  EXPECT_EQ(state.size(), SeasonHistory::kSerializedBytes);
  EXPECT_LE(state.size(), 1024u);
  EXPECT_LE(h.MemoryBytes(), 1024u);

  SeasonHistory restored;
  ASSERT_TRUE(restored.Restore(state).ok());
  EXPECT_EQ(restored.DetectSeasonMs(), h.DetectSeasonMs());
  // Both continue identically.
  for (int64_t t = kStartMs + 17 * kDayMs; t < kStartMs + 22 * kDayMs; t += 30'000) {
    const double v = WeekdayWeekend(t) + noise(rng);
    h.Add(t, v);
    restored.Add(t, v);
  }
  std::string a;
  std::string b;
  h.SerializeTo(&a);
  restored.SerializeTo(&b);
  EXPECT_EQ(a, b);
  EXPECT_EQ(restored.DetectSeasonMs(), kWeekMs);

  std::string empty;
  SeasonHistory().SerializeTo(&empty);
  EXPECT_EQ(empty.size(), SeasonHistory::kSerializedBytes);
  EXPECT_TRUE(SeasonHistory().Restore(empty).ok());
}

TEST(SeasonHistory, RestoreRejectsCorruptStateAndKeepsItsOwn) {
  SeasonHistory h;
  Feed(h, 5 * kDayMs, kMinuteMs, DailySine);
  std::string good;
  h.SerializeTo(&good);

  // Offsets in the layout: version, then the daily ring (started, current,
  // sum, count, 96 means, 12 bitmask bytes), then the weekly ring.
  constexpr size_t kDailyMeans = 1 + 1 + 8 + 8 + 4;
  constexpr size_t kDailyBits = kDailyMeans + 4 * SeasonHistory::kDailyBuckets;
  constexpr size_t kWeekly = kDailyBits + (SeasonHistory::kDailyBuckets + 7) / 8;
  auto with = [&](size_t offset, std::string bytes) {
    std::string s = good;
    s.replace(offset, bytes.size(), bytes);
    return s;
  };
  const std::string nan_float("\x00\x00\xc0\x7f", 4);
  const std::string corrupt[] = {
      good.substr(0, good.size() - 1),
      good + "x",
      with(0, "\x02"),                           // unknown version
      with(1, "\x02"),                           // started flag not a bool
      with(kDailyMeans, nan_float),              // NaN mean
      with(kWeekly + 1 + 2, "\x7f"),             // weekly ring at another time
      with(good.size() - 1, "\xff"),             // bits for buckets that do not exist
      with(kDailyBits, std::string("\x00", 1)),  // means in empty buckets
  };
  for (const std::string& bad : corrupt) {
    SeasonHistory target;
    Feed(target, 3 * kDayMs, kMinuteMs, DailySine);
    std::string before;
    target.SerializeTo(&before);
    EXPECT_FALSE(target.Restore(bad).ok());
    std::string after;
    target.SerializeTo(&after);
    EXPECT_EQ(before, after);
  }
}

}  // namespace
}  // namespace kad::models
