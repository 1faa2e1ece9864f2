#include "models/duration.h"

#include <cstdint>
#include <string>

#include "gtest/gtest.h"

namespace kad::models {
namespace {

TEST(ParseDurationMs, AcceptsPrometheusDurationsAndBareSeconds) {
  const struct {
    std::string text;
    int64_t ms;
  } cases[] = {
      {"250ms", 250},
      {"15s", 15'000},
      {"5m", 300'000},
      {"1h", 3'600'000},
      {"1h30m", 5'400'000},
      {"2h45m30s100ms", 9'930'100},
      {"1d", 86'400'000},
      {"1w", 604'800'000},
      {"1y", 31'536'000'000},
      {"1y1w1d1h1m1s1ms",
       31'536'000'000 + 604'800'000 + 86'400'000 + 3'600'000 + 60'000 + 1'000 + 1},
      {"0s", 0},
      {"480", 480'000},  // retrain_scheduling_seconds: "480"
      {"0", 0},
      {"90m", 5'400'000},  // a term may exceed the next unit up
  };
  for (const auto& c : cases) {
    absl::StatusOr<int64_t> ms = ParseDurationMs(c.text);
    ASSERT_TRUE(ms.ok()) << c.text << ": " << ms.status();
    EXPECT_EQ(*ms, c.ms) << c.text;
  }
}

TEST(ParseDurationMs, RejectsMalformedNegativeOverflowingAndUnknownUnits) {
  const std::string cases[] = {
      "",
      "-1s",
      "-5",
      "1x",
      "s",
      "ms",
      "1.5h",
      "1m1h",
      "1h1h",
      "1h30",
      "1 s",
      " 1s",
      "1s ",
      "1S",
      "1hour",
      "h1",
      "+1s",
      "9223372036854775807s",  // overflows once converted to ms
      "99999999999999999999",  // overflows while reading digits
      "300000000y",            // overflows in the unit product
      "292000000y300000000w",  // overflows in the sum
  };
  for (const auto& text : cases) {
    absl::StatusOr<int64_t> ms = ParseDurationMs(text);
    EXPECT_EQ(ms.status().code(), absl::StatusCode::kInvalidArgument)
        << "\"" << text << "\" parsed as " << (ms.ok() ? *ms : -1);
  }
}

TEST(ParseDurationMs, ErrorNamesTheTextAndTheProblem) {
  absl::Status s = ParseDurationMs("5x").status();
  EXPECT_NE(s.message().find("\"5x\""), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("unknown unit \"x\""), absl::string_view::npos) << s;
  s = ParseDurationMs("1m1h").status();
  EXPECT_NE(s.message().find("largest unit first"), absl::string_view::npos) << s;
}

}  // namespace
}  // namespace kad::models
