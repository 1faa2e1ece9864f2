#include "models/hourly_profile.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/smoothing.h"

namespace kad::models {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kHourMs = 60 * kMinuteMs;
constexpr int64_t kDayMs = 24 * kHourMs;
// 2023-11-20 00:00:20 UTC.
constexpr int64_t kStartMs = 1'700'438'420'000;

// Every 5 minutes for `days` days from `start_ms`: 10 at night (00:00-05:59
// UTC), by day 100 + 1 and 100 - 1 in turn, so each day hour has mean 100
// and deviation 1.
void FeedDays(HourlyProfile& p, int days, int64_t start_ms = kStartMs) {
  int i = 0;
  for (int64_t t = start_ms; t < start_ms + days * kDayMs; t += 5 * kMinuteMs, ++i) {
    const int hour = HourOfDay(t);
    p.Add(t, hour < 6 ? 10.0 : 100.0 + (i % 2 == 0 ? 1 : -1));
  }
}

std::string State(const HourlyProfile& p) {
  std::string state;
  p.SerializeTo(&state);
  return state;
}

TEST(HourlyProfile, LearnsEachHoursMeanAndDeviation) {
  HourlyProfile p;
  EXPECT_FALSE(p.At(kStartMs).has_value());
  FeedDays(p, 10);
  const int64_t day = kStartMs - kStartMs % kDayMs + 11 * kDayMs;
  const std::optional<HourlyProfile::Hour> night = p.At(day + 3 * kHourMs);
  ASSERT_TRUE(night.has_value());
  EXPECT_FLOAT_EQ(night->mean, 10);
  EXPECT_FLOAT_EQ(night->deviation, 0);
  const std::optional<HourlyProfile::Hour> noon = p.At(day + 12 * kHourMs);
  ASSERT_TRUE(noon.has_value());
  EXPECT_NEAR(noon->mean, 100, 0.05);
  EXPECT_NEAR(noon->deviation, 1, 0.05);
}

// The mean over the hours that have seen a value: 6 night hours of
// deviation 0 and 18 day hours of 1; hours never seen do not count.
TEST(HourlyProfile, MeanDeviationAveragesTheHoursSeen) {
  HourlyProfile p;
  EXPECT_EQ(p.MeanDeviation(), 0);
  FeedDays(p, 10);
  EXPECT_NEAR(p.MeanDeviation(), 0.75, 0.05);
  HourlyProfile one_hour;
  const int64_t noon = kStartMs - kStartMs % kDayMs + 12 * kHourMs;
  for (int i = 0; i < 50; ++i) one_hour.Add(noon + i * kDayMs, i % 2 == 0 ? 1 : 3);
  EXPECT_FLOAT_EQ(one_hour.MeanDeviation(), one_hour.At(noon)->deviation);
  EXPECT_GT(one_hour.MeanDeviation(), 0.5);
}

// Once an hour has seen kFullCount samples each new one weighs kLearnRate:
// a new level is learnt over about a hundred samples, not at once and not
// as a mean of everything ever seen.
TEST(HourlyProfile, ForgetsOldDaysExponentially) {
  HourlyProfile p;
  const int64_t noon = kStartMs - kStartMs % kDayMs + 12 * kHourMs;
  for (int i = 0; i < 1000; ++i) p.Add(noon + i * kDayMs, 0);
  p.Add(noon + 1000 * kDayMs, 100);
  EXPECT_NEAR(p.At(noon)->mean, 100 * HourlyProfile::kLearnRate, 1e-4);
  for (int i = 1; i < 100; ++i) p.Add(noon + (1000 + i) * kDayMs, 100);
  EXPECT_NEAR(p.At(noon)->mean, 100 * (1 - std::pow(1 - HourlyProfile::kLearnRate, 100)), 1e-3);
  // The other hours have learnt nothing.
  EXPECT_FALSE(p.At(noon + kHourMs).has_value());
}

TEST(HourlyProfile, TimestampsBefore1970) {
  HourlyProfile p;
  const int64_t start = -10 * kDayMs + 20'000;  // 00:00:20 ten days before 1970
  FeedDays(p, 5, start);
  EXPECT_FLOAT_EQ(p.At(start + 6 * kDayMs + kHourMs)->mean, 10);         // 01:00
  EXPECT_NEAR(p.At(start + 6 * kDayMs + 13 * kHourMs)->mean, 100, 0.1);  // 13:00
}

TEST(HourlyProfile, HugeValuesAreClampedAndNaNIgnored) {
  HourlyProfile p;
  FeedDays(p, 2);
  const int64_t t = kStartMs + 2 * kDayMs;
  p.Add(t, std::numeric_limits<double>::max());
  p.Add(t, -std::numeric_limits<double>::infinity());
  p.Add(t, std::nan(""));
  const std::optional<HourlyProfile::Hour> h = p.At(t);
  ASSERT_TRUE(h.has_value());
  EXPECT_TRUE(std::isfinite(h->mean));
  EXPECT_TRUE(std::isfinite(h->deviation));
  // The clamped state still round-trips.
  EXPECT_TRUE(HourlyProfile().Restore(State(p)).ok());
}

TEST(HourlyProfile, StateRoundTripsExactly) {
  HourlyProfile p;
  FeedDays(p, 5);
  const std::string state = State(p);
  EXPECT_EQ(state.size(), HourlyProfile::kSerializedBytes);
  HourlyProfile back;
  ASSERT_TRUE(back.Restore(state).ok());
  EXPECT_EQ(State(back), state);
  // It goes on learning as the original does.
  const int64_t t = kStartMs + 5 * kDayMs + 13 * kHourMs;
  p.Add(t, 150);
  back.Add(t, 150);
  EXPECT_EQ(p.At(t)->mean, back.At(t)->mean);
  EXPECT_EQ(p.At(t)->deviation, back.At(t)->deviation);
  // An empty one too.
  ASSERT_TRUE(back.Restore(State(HourlyProfile())).ok());
  EXPECT_FALSE(back.At(t).has_value());
}

TEST(HourlyProfile, RestoreRejectsWhatItDidNotWrite) {
  HourlyProfile p;
  FeedDays(p, 5);
  const std::string state = State(p);
  HourlyProfile back;
  FeedDays(back, 3);
  const std::string before = State(back);
  EXPECT_THAT(std::string(back.Restore(state.substr(1)).message()), HasSubstr("bytes"));
  std::string version = state;
  version[0] = static_cast<char>(version[0] ^ 0x02);
  EXPECT_THAT(std::string(back.Restore(version).message()), HasSubstr("format version"));
  std::string nan = state;
  const float bad = std::nanf("");
  nan.replace(1, 4, reinterpret_cast<const char*>(&bad), 4);  // hour 0's mean
  EXPECT_THAT(std::string(back.Restore(nan).message()), HasSubstr("out of range"));
  std::string negative = state;
  const float below = -1;
  negative.replace(5, 4, reinterpret_cast<const char*>(&below), 4);  // hour 0's deviation
  EXPECT_THAT(std::string(back.Restore(negative).message()), HasSubstr("out of range"));
  std::string count = state;
  count[9] = static_cast<char>(HourlyProfile::kFullCount + 1);  // hour 0's count
  EXPECT_THAT(std::string(back.Restore(count).message()), HasSubstr("out of range"));
  // Rejected state left `back` as it was.
  EXPECT_EQ(State(back), before);
}

}  // namespace
}  // namespace kad::models
