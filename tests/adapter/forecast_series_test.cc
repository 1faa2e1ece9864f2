#include "adapter/forecast_series.h"

#include "gtest/gtest.h"
#include "models/registry.h"

namespace kad::adapter {
namespace {

TEST(OutputLabels, RenamesAndAddsSourceMetric) {
  const Labels input = {{"__name__", "node_load1"}, {"instance", "a:9100"}, {"job", "node"}};
  const Labels out = OutputLabels(input, "predicted_node_load_holt_winters");
  const Labels want = {{"__name__", "predicted_node_load_holt_winters"},
                       {"instance", "a:9100"},
                       {"job", "node"},
                       {"source_metric", "node_load1"}};
  EXPECT_EQ(out, want);
  EXPECT_EQ(InputLabels(LabelsView(EncodeLabels(out))), input);
}

TEST(OutputLabels, InputLabelsNamedLikeOursAreReplaced) {
  const Labels input = {{"__name__", "m"}, {"source_metric", "x"}, {"value_type", "y"}};
  const Labels out = OutputLabels(input, "p_holt_winters");
  const Labels want = {{"__name__", "p_holt_winters"}, {"source_metric", "m"}};
  EXPECT_EQ(out, want);
}

TEST(Checkpoint, RoundTripsLastTimestampAndModel) {
  absl::StatusOr<models::ModelFactory> factory = models::MakeModelFactory("holt_winters", {});
  ASSERT_TRUE(factory.ok()) << factory.status();
  ForecastSeries a;
  a.model = factory->New();
  for (int i = 0; i < 100; ++i) a.Observe(1'000'000 + i * 15'000, 50 + (i % 7));

  ForecastSeries b;
  b.model = factory->New();
  ASSERT_TRUE(DecodeCheckpoint(EncodeCheckpoint(a), &b).ok());
  EXPECT_EQ(b.last_ts, a.last_ts);
  const storage::ForecastPoint pa = a.Observe(3'000'000, 57);
  const storage::ForecastPoint pb = b.Observe(3'000'000, 57);
  EXPECT_EQ(pa.yhat, pb.yhat);
  EXPECT_EQ(pa.yhat_upper, pb.yhat_upper);
  EXPECT_EQ(pa.anomaly_score, pb.anomaly_score);
}

TEST(Checkpoint, RejectsForeignBytes) {
  absl::StatusOr<models::ModelFactory> factory = models::MakeModelFactory("holt_winters", {});
  ASSERT_TRUE(factory.ok());
  ForecastSeries s;
  s.model = factory->New();
  EXPECT_FALSE(DecodeCheckpoint("", &s).ok());
  EXPECT_FALSE(DecodeCheckpoint(std::string(20, '\x07'), &s).ok());
  EXPECT_EQ(s.last_ts, kNoTimestamp);
}

TEST(ColumnOf, PicksEachValueTypesColumn) {
  const storage::ForecastPoint p{.timestamp_ms = 1,
                                 .value = 9,
                                 .yhat = 1,
                                 .yhat_lower = 0.5,
                                 .yhat_upper = 1.5,
                                 .anomaly_score = 2.5,
                                 .anomaly = true};
  EXPECT_EQ(storage::ValueOf(p, ColumnOf(0)), 1);
  EXPECT_EQ(storage::ValueOf(p, ColumnOf(1)), 0.5);
  EXPECT_EQ(storage::ValueOf(p, ColumnOf(2)), 1.5);
  EXPECT_EQ(storage::ValueOf(p, ColumnOf(3)), 1);
  EXPECT_EQ(storage::ValueOf(p, ColumnOf(4)), 2.5);
}

}  // namespace
}  // namespace kad::adapter
