#include "adapter/counter_rate.h"

#include <optional>

#include "gtest/gtest.h"

namespace kad::adapter {
namespace {

TEST(CounterRate, NeedsTwoSamplesInRange) {
  CounterRate rate(RangeFunction::kRate, 300'000);
  EXPECT_FALSE(rate.Next(0, 10).has_value());
  EXPECT_DOUBLE_EQ(*rate.Next(15'000, 40), 2.0);  // 30 over 15 s
}

TEST(CounterRate, RateAveragesOverTheRange) {
  CounterRate rate(RangeFunction::kRate, 60'000);
  rate.Next(0, 0);
  rate.Next(15'000, 15);  // +1/s
  rate.Next(30'000, 45);  // +2/s
  // Window [0, 45 s]: (75 - 0) / 45 s.
  EXPECT_NEAR(*rate.Next(45'000, 75), 75.0 / 45.0, 1e-12);
  // The sample at 0 leaves the 60 s window at t = 75 s: (105 - 15) / 60 s.
  rate.Next(60'000, 90);
  EXPECT_NEAR(*rate.Next(75'000, 105), 90.0 / 60.0, 1e-12);
}

TEST(CounterRate, IrateUsesTheLastTwoSamples) {
  CounterRate rate(RangeFunction::kIrate, 300'000);
  rate.Next(0, 0);
  rate.Next(10'000, 100);
  EXPECT_DOUBLE_EQ(*rate.Next(20'000, 110), 1.0);
}

TEST(CounterRate, ResetCountsAsRestartFromZero) {
  CounterRate rate(RangeFunction::kIrate, 300'000);
  rate.Next(0, 1000);
  rate.Next(10'000, 1010);
  // The counter restarted and has counted 20 since: 20 over 10 s, never negative.
  EXPECT_DOUBLE_EQ(*rate.Next(20'000, 20), 2.0);
  EXPECT_DOUBLE_EQ(*rate.Next(30'000, 30), 1.0);
}

TEST(CounterRate, IgnoresRepeatedAndOlderSamples) {
  CounterRate rate(RangeFunction::kRate, 300'000);
  rate.Next(0, 0);
  ASSERT_TRUE(rate.Next(10'000, 10).has_value());
  EXPECT_FALSE(rate.Next(10'000, 10).has_value());
  EXPECT_FALSE(rate.Next(5'000, 3).has_value());
  EXPECT_DOUBLE_EQ(*rate.Next(20'000, 20), 1.0);
}

TEST(CounterRate, GapLongerThanRangeStartsOver) {
  CounterRate rate(RangeFunction::kRate, 60'000);
  rate.Next(0, 0);
  rate.Next(15'000, 15);
  EXPECT_FALSE(rate.Next(3'600'000, 5000).has_value());
  EXPECT_DOUBLE_EQ(*rate.Next(3'615'000, 5030), 2.0);
}

}  // namespace
}  // namespace kad::adapter
