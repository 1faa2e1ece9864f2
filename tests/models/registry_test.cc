#include "models/registry.h"

#include <algorithm>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kad::models {
namespace {

using ::testing::HasSubstr;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(Registry, UnknownKindIsRejectedListingKnownKinds) {
  absl::StatusOr<ModelFactory> f = MakeModelFactory("arima", {});
  ASSERT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(f.status()), HasSubstr("\"arima\""));
  for (std::string_view kind : ModelKinds()) {
    EXPECT_THAT(Message(f.status()), HasSubstr(std::string(kind)));
  }
}

TEST(Registry, DefaultKindIsAKnownKind) {
  const std::vector<std::string_view> kinds = ModelKinds();
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), DefaultModelKind()), kinds.end());
  EXPECT_EQ(DefaultModelKind(), "combined");
  EXPECT_TRUE(MakeModelFactory(DefaultModelKind(), {}).ok());
}

TEST(Registry, UnknownArgIsNamedWithTheValidArgs) {
  absl::StatusOr<ModelFactory> f = MakeModelFactory("holt_winters", {{"seasonality", "1d"}});
  ASSERT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(f.status()), HasSubstr("\"seasonality\""));
  EXPECT_THAT(Message(f.status()), HasSubstr("band_sigmas"));
  EXPECT_THAT(Message(f.status()), HasSubstr("season_buckets"));
}

TEST(Registry, UnparsableOrInvalidArgIsNamed) {
  const struct {
    ModelArgs args;
    std::string named;
  } cases[] = {
      {{{"band_sigmas", "abc"}}, "band_sigmas"},
      {{{"band_sigmas", "0"}}, "band_sigmas"},
      {{{"band_sigmas", "nan"}}, "band_sigmas"},
      {{{"season", "1x"}}, "season"},
      {{{"season", "-1d"}}, "season"},
      {{{"season_buckets", "0"}}, "season_buckets"},
      {{{"season_buckets", "1.5"}}, "season_buckets"},
      {{{"min_n_samples_seen", "0"}}, "min_n_samples_seen"},
      {{{"level_half_life", "0s"}}, "level_half_life"},
      {{{"season_half_life", "-1"}}, "season_half_life"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<ModelFactory> f = MakeModelFactory("holt_winters", c.args);
    ASSERT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << c.named;
    EXPECT_THAT(Message(f.status()), HasSubstr(c.named));
  }
}

TEST(Registry, FactoryAppliesArgsToEveryInstance) {
  absl::StatusOr<ModelFactory> narrow = MakeModelFactory("holt_winters", {{"band_sigmas", "3"}});
  absl::StatusOr<ModelFactory> wide =
      MakeModelFactory("holt_winters", {{"band_sigmas", "6"}, {"season", "none"}});
  ASSERT_TRUE(narrow.ok()) << narrow.status();
  ASSERT_TRUE(wide.ok()) << wide.status();
  EXPECT_EQ(narrow->kind, "holt_winters");
  std::unique_ptr<Forecaster> a = narrow->New();
  std::unique_ptr<Forecaster> b = wide->New();
  for (int i = 0; i < 100; ++i) {
    const double v = 10 + (i % 7) * 0.1;
    a->Observe(i * 15'000, v);
    b->Observe(i * 15'000, v);
  }
  const Forecast fa = a->Predict(100 * 15'000);
  const Forecast fb = b->Predict(100 * 15'000);
  EXPECT_GT(fb.yhat_upper - fb.yhat_lower, 1.5 * (fa.yhat_upper - fa.yhat_lower));
}

}  // namespace
}  // namespace kad::models
