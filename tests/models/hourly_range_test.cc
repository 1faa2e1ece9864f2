#include "models/hourly_range.h"

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

// Night (00:00-05:59 UTC) at 10 + hour, day at 100 + hour, every 5 minutes
// for `days` days from `start_ms`.
void FeedDays(HourlyRange& h, int days, int64_t start_ms = kStartMs) {
  for (int64_t t = start_ms; t < start_ms + days * kDayMs; t += 5 * kMinuteMs) {
    const int hour = HourOfDay(t);
    h.Add(t, (hour < 6 ? 10.0 : 100.0) + static_cast<double>(hour));
  }
}

TEST(HourlyRange, AnswersOnlyAfterFourDays) {
  HourlyRange h;
  EXPECT_FALSE(h.Around(kStartMs).has_value());
  FeedDays(h, 3);
  EXPECT_FALSE(h.Around(kStartMs + 3 * kDayMs).has_value());
  FeedDays(h, 1, kStartMs + 3 * kDayMs);
  EXPECT_TRUE(h.Around(kStartMs + 4 * kDayMs).has_value());
  // Nor for a time before the first sample.
  EXPECT_FALSE(h.Around(kStartMs - kHourMs).has_value());
}

TEST(HourlyRange, RangeSpansTwoHoursEitherSide) {
  HourlyRange h;
  FeedDays(h, 5);
  const int64_t day = kStartMs - kStartMs % kDayMs + 7 * kDayMs;
  // 02:30: hours 0..4, all night.
  const std::optional<HourlyRange::Range> night = h.Around(day + 2 * kHourMs + 30 * kMinuteMs);
  ASSERT_TRUE(night.has_value());
  EXPECT_EQ(night->lowest, 10);
  EXPECT_EQ(night->highest, 14);
  // 05:00: hours 3..7, night and morning.
  const std::optional<HourlyRange::Range> dawn = h.Around(day + 5 * kHourMs);
  ASSERT_TRUE(dawn.has_value());
  EXPECT_EQ(dawn->lowest, 13);
  EXPECT_EQ(dawn->highest, 107);
  // 23:00 wraps round midnight: hours 21, 22, 23, 0 and 1.
  const std::optional<HourlyRange::Range> late = h.Around(day + 23 * kHourMs);
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->lowest, 10);
  EXPECT_EQ(late->highest, 123);
}

TEST(HourlyRange, AnHourWithoutValuesGivesNoRange) {
  HourlyRange h;
  for (int64_t t = kStartMs; t < kStartMs + 5 * kDayMs; t += 5 * kMinuteMs) {
    if ((t / kHourMs) % 24 != 12) h.Add(t, 1);  // never at noon
  }
  const int64_t day = kStartMs - kStartMs % kDayMs + 6 * kDayMs;
  EXPECT_FALSE(h.Around(day + 13 * kHourMs).has_value());  // 11..15 includes noon
  EXPECT_TRUE(h.Around(day + 16 * kHourMs).has_value());   // 14..18 does not
}

TEST(HourlyRange, TimestampsBefore1970) {
  HourlyRange h;
  const int64_t start = -10 * kDayMs + 20'000;  // 00:00:20 ten days before 1970
  FeedDays(h, 5, start);
  const std::optional<HourlyRange::Range> r = h.Around(start + 6 * kDayMs + kHourMs);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->lowest, 10);  // hours 23, 0..3
  EXPECT_EQ(r->highest, 123);
}

TEST(HourlyRange, HugeValuesAreClampedAndNaNIgnored) {
  HourlyRange h;
  FeedDays(h, 5);
  const int64_t t = kStartMs + 5 * kDayMs;
  h.Add(t, std::numeric_limits<double>::max());
  h.Add(t, -std::numeric_limits<double>::infinity());
  h.Add(t, std::nan(""));
  const std::optional<HourlyRange::Range> r = h.Around(t);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(std::isfinite(r->lowest));
  EXPECT_TRUE(std::isfinite(r->highest));
  EXPECT_LE(r->lowest, -HourlyRange::kMaxValue * 0.999);
  EXPECT_GE(r->highest, HourlyRange::kMaxValue * 0.999);
  // The clamped state still round-trips.
  std::string state;
  h.SerializeTo(&state);
  HourlyRange back;
  EXPECT_TRUE(back.Restore(state).ok());
}

TEST(HourlyRange, StateRoundTripsExactly) {
  HourlyRange h;
  FeedDays(h, 5);
  std::string state;
  h.SerializeTo(&state);
  EXPECT_EQ(state.size(), HourlyRange::kSerializedBytes);
  HourlyRange back;
  ASSERT_TRUE(back.Restore(state).ok());
  std::string again;
  back.SerializeTo(&again);
  EXPECT_EQ(again, state);
  for (int64_t t = kStartMs + 5 * kDayMs; t < kStartMs + 6 * kDayMs; t += kHourMs) {
    const std::optional<HourlyRange::Range> a = h.Around(t);
    const std::optional<HourlyRange::Range> b = back.Around(t);
    ASSERT_TRUE(a.has_value() && b.has_value());
    EXPECT_EQ(a->lowest, b->lowest);
    EXPECT_EQ(a->highest, b->highest);
  }
  // An empty one too.
  std::string empty;
  HourlyRange().SerializeTo(&empty);
  ASSERT_TRUE(back.Restore(empty).ok());
  EXPECT_FALSE(back.Around(kStartMs + 10 * kDayMs).has_value());
}

TEST(HourlyRange, RestoreRejectsWhatItDidNotWrite) {
  HourlyRange h;
  FeedDays(h, 5);
  std::string state;
  h.SerializeTo(&state);
  HourlyRange back;
  FeedDays(back, 5);
  EXPECT_THAT(std::string(back.Restore(state.substr(1)).message()), HasSubstr("bytes"));
  std::string version = state;
  version[0] = static_cast<char>(version[0] ^ 0x02);
  EXPECT_THAT(std::string(back.Restore(version).message()), HasSubstr("format version"));
  std::string nan = state;
  const float bad = std::nanf("");
  nan.replace(9, 4, reinterpret_cast<const char*>(&bad), 4);  // hour 0's lowest
  EXPECT_THAT(std::string(back.Restore(nan).message()), HasSubstr("out of range"));
  // Rejected state left `back` as it was.
  std::string kept;
  back.SerializeTo(&kept);
  EXPECT_EQ(kept, state);
}

}  // namespace
}  // namespace kad::models
