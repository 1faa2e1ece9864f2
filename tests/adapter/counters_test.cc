// Counters through the real server: a series whose remote-write metadata
// says COUNTER (1.0 metadata requests, 2.0 per-series metadata) and that its
// metric_query selects without rate() is modelled as rate(m[5m]); a GAUGE is
// modelled raw; resets change neither the rate nor the verdicts; the rate mode
// survives a restart; metadata arriving late switches a series once. Also
// CounterFamilies and the checkpoint's rate flag on their own.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "adapter/counter_rate.h"
#include "adapter/forecast_series.h"
#include "gtest/gtest.h"
#include "models/registry.h"
#include "prometheus/remote.pb.h"
#include "prometheus/write_v2.pb.h"
#include "tests/adapter/in_process_adapter.h"
#include "tests/support/remote_client.h"

namespace kad::adapter {
namespace {

using ::kad::testing::HttpResult;
using ::kad::testing::LabelPairs;
using ::kad::testing::MakeQuery;
using ::kad::testing::Matcher;
using ::kad::testing::ReadChunked;
using ::kad::testing::RemoteWrite;
using ::kad::testing::RemoteWriteV2;
using ::kad::testing::SeriesData;
using ::kad::testing::WriteRequestBuilder;
using ::kad::testing::WriteRequestV2Builder;
using testing::InProcessAdapter;
using testing::kStep;
using testing::kT0;
using testing::TestOptions;

constexpr char kConfig[] = R"(version: "v1alpha"
prometheus_metric_list:
  - metric_query: "http_requests_total{job='api'}"
    predicted_metric_name: predicted_requests
    models:
      - kind: holt_winters
        args: {season: none}
    forecast_horizon: 1h
  - metric_query: "queue_depth{job='api'}"
    predicted_metric_name: predicted_queue
    models:
      - kind: holt_winters
        args: {season: none}
    forecast_horizon: 1h
)";
constexpr char kRequests[] = "predicted_requests_holt_winters";
constexpr char kQueue[] = "predicted_queue_holt_winters";
constexpr double kRate = 5;  // requests per second

LabelPairs Requests(std::string instance) {
  return {{"__name__", "http_requests_total"}, {"instance", std::move(instance)}, {"job", "api"}};
}
LabelPairs Queue() { return {{"__name__", "queue_depth"}, {"instance", "a"}, {"job", "api"}}; }

// Pseudo-random in [-0.5, 0.5), a function of k only.
double Jitter(uint64_t k) {
  uint64_t x = (k + 1) * 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 31;
  return static_cast<double>(x % 1000) / 1000 - 0.5;
}

// The counter at sample i: kRate per second with +-20% jitter per scrape
// interval. For each sample index r in `resets` the process restarted just
// after sample r-1, so it has counted only the last interval at r.
double Counter(int i, const std::vector<int>& resets = {}) {
  int from = 0;
  for (int r : resets) {
    if (r <= i) from = r - 1;
  }
  double c = 0;
  for (int k = from + 1; k <= i; ++k) c += kRate * 15 * (1 + 0.4 * Jitter(k));
  return c;
}

TestOptions Options() {
  TestOptions o;
  o.config = kConfig;
  return o;
}

void Send(uint16_t port, const prometheus::WriteRequest& request) {
  absl::StatusOr<HttpResult> r = RemoteWrite(port, request);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, 204) << r->body;
}

// A 1.0 metadata-only request, as Prometheus sends every send_interval.
void SendMetadata(uint16_t port, const std::string& family,
                  prometheus::MetricMetadata::MetricType type) {
  prometheus::WriteRequest request;
  prometheus::MetricMetadata* m = request.add_metadata();
  m->set_type(type);
  m->set_metric_family_name(family);
  m->set_help("help text");
  Send(port, request);
}

// Samples first .. first+count-1 of the counter of `instance` (1.0).
void SendCounter(uint16_t port, const std::string& instance, int first, int count,
                 const std::vector<int>& resets = {}) {
  for (int i = first; i < first + count; i += 50) {
    WriteRequestBuilder b;
    for (int k = i; k < std::min(first + count, i + 50); ++k) {
      b.Add(Requests(instance), kT0 + k * kStep, Counter(k, resets));
    }
    Send(port, b.request());
  }
}

// The stored (not future) points of value_type `type` of `forecast` for
// `instance`, up to sample index `last`.
std::vector<std::pair<int64_t, double>> Points(uint16_t port, const std::string& forecast,
                                               const std::string& instance, const char* type,
                                               int last) {
  const int64_t end = kT0 + last * kStep;
  absl::StatusOr<std::vector<SeriesData>> got =
      ReadChunked(port, MakeQuery(kT0, end,
                                  {Matcher(prometheus::LabelMatcher::EQ, "__name__", forecast),
                                   Matcher(prometheus::LabelMatcher::EQ, "instance", instance),
                                   Matcher(prometheus::LabelMatcher::EQ, "value_type", type)}));
  EXPECT_TRUE(got.ok()) << got.status();
  if (!got.ok() || got->size() != 1) {
    ADD_FAILURE() << "expected one series of " << forecast << " for " << instance;
    return {};
  }
  return (*got)[0].samples;
}

// The mean yhat over the last `n` points.
double MeanYhat(const std::vector<std::pair<int64_t, double>>& points, size_t n) {
  EXPECT_GE(points.size(), n);
  double sum = 0;
  for (size_t i = points.size() - std::min(n, points.size()); i < points.size(); ++i) {
    sum += points[i].second;
  }
  return sum / static_cast<double>(n);
}

TEST(Counters, V1CounterMetadataModelsTheRate) {
  InProcessAdapter adapter(Options());
  const uint16_t port = adapter.port();
  // OpenMetrics names the family without _total, as Prometheus forwards it.
  SendMetadata(port, "http_requests", prometheus::MetricMetadata::COUNTER);
  SendMetadata(port, "queue_depth", prometheus::MetricMetadata::GAUGE);
  SendCounter(port, "a", 0, 300);
  WriteRequestBuilder queue;
  for (int i = 0; i < 300; ++i) queue.Add(Queue(), kT0 + i * kStep, 100 + (i % 5));
  Send(port, queue.request());

  const auto yhat = Points(port, kRequests, "a", "yhat", 299);
  // The first sample has no rate yet.
  EXPECT_EQ(yhat.size(), 299u);
  EXPECT_NEAR(MeanYhat(yhat, 50), kRate, 0.5) << "the counter itself is near " << Counter(299);
  // A gauge is modelled as it is.
  EXPECT_NEAR(MeanYhat(Points(port, kQueue, "a", "yhat", 299), 50), 102, 2);
}

TEST(Counters, V2PerSeriesCounterMetadataModelsTheRate) {
  InProcessAdapter adapter(Options());
  const uint16_t port = adapter.port();
  for (int i = 0; i < 300; i += 50) {
    WriteRequestV2Builder b;
    for (int k = i; k < i + 50; ++k) {
      b.Add(Requests("a"), kT0 + k * kStep, Counter(k))
          ->mutable_metadata()
          ->set_type(io::prometheus::write::v2::Metadata::METRIC_TYPE_COUNTER);
      b.Add(Queue(), kT0 + k * kStep, 100 + (k % 5))
          ->mutable_metadata()
          ->set_type(io::prometheus::write::v2::Metadata::METRIC_TYPE_GAUGE);
    }
    absl::StatusOr<HttpResult> r = RemoteWriteV2(port, b.request());
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 204) << r->body;
  }
  const auto yhat = Points(port, kRequests, "a", "yhat", 299);
  EXPECT_EQ(yhat.size(), 299u);
  EXPECT_NEAR(MeanYhat(yhat, 50), kRate, 0.5);
  EXPECT_NEAR(MeanYhat(Points(port, kQueue, "a", "yhat", 299), 50), 102, 2);
}

TEST(Counters, WithoutMetadataTheCounterIsModelledRaw) {
  InProcessAdapter adapter(Options());
  SendCounter(adapter.port(), "a", 0, 100);
  const auto yhat = Points(adapter.port(), kRequests, "a", "yhat", 99);
  EXPECT_EQ(yhat.size(), 100u);
  EXPECT_GT(MeanYhat(yhat, 10), 1000);
}

TEST(Counters, ResetsChangeNothing) {
  InProcessAdapter adapter(Options());
  const uint16_t port = adapter.port();
  SendMetadata(port, "http_requests_total", prometheus::MetricMetadata::COUNTER);
  // The same increases; "b" restarts four times, "a" never. Forecasts and
  // anomalies must agree: a reset raises nothing the increases do not.
  SendCounter(port, "a", 0, 500);
  SendCounter(port, "b", 0, 500, {150, 230, 240, 400});

  for (const char* type : {"yhat", "yhat_lower", "anomaly"}) {
    const auto a = Points(port, kRequests, "a", type, 499);
    const auto b = Points(port, kRequests, "b", type, 499);
    ASSERT_EQ(a.size(), 499u);
    ASSERT_EQ(b.size(), 499u);
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_NEAR(b[i].second, a[i].second, 1e-6) << type << " at point " << i;
    }
  }
  for (const auto& [t, v] : Points(port, kRequests, "b", "yhat", 499)) {
    if (t > kT0 + 20 * kStep) {
      EXPECT_GT(v, 0.5 * kRate) << "at " << t;
    }
  }
}

TEST(Counters, RateModeSurvivesRestart) {
  InProcessAdapter adapter(Options());
  SendMetadata(adapter.port(), "http_requests", prometheus::MetricMetadata::COUNTER);
  SendCounter(adapter.port(), "a", 0, 200);
  adapter.Restart();
  // No metadata after the restart: the checkpoint remembers. A new series
  // of the same family is a rate from its first sample, too.
  SendCounter(adapter.port(), "a", 200, 100);
  SendCounter(adapter.port(), "b", 200, 100);

  const auto a = Points(adapter.port(), kRequests, "a", "yhat", 299);
  // One point per sample but the first of each run: the counter window is
  // not checkpointed, so the rate resumes at the second sample.
  EXPECT_EQ(a.size(), 298u);
  EXPECT_NEAR(MeanYhat(a, 50), kRate, 0.5);
  const auto b = Points(adapter.port(), kRequests, "b", "yhat", 299);
  EXPECT_EQ(b.size(), 99u);
  EXPECT_NEAR(MeanYhat(b, 20), kRate, 1);
}

TEST(Counters, LateMetadataSwitchesToTheRateOnce) {
  InProcessAdapter adapter(Options());
  const uint16_t port = adapter.port();
  SendCounter(port, "a", 0, 100);  // raw: Prometheus sends metadata later
  SendMetadata(port, "http_requests", prometheus::MetricMetadata::COUNTER);
  SendCounter(port, "a", 100, 200);
  // Metadata is sent again every minute: nothing changes any more.
  SendMetadata(port, "http_requests", prometheus::MetricMetadata::COUNTER);
  SendCounter(port, "a", 300, 100);

  const auto yhat = Points(port, kRequests, "a", "yhat", 399);
  // 100 raw points, then a rate from the second sample after the switch:
  // a second switch would lose one more.
  ASSERT_EQ(yhat.size(), 399u);
  EXPECT_EQ(yhat[99].first, kT0 + 99 * kStep);
  EXPECT_EQ(yhat[100].first, kT0 + 101 * kStep);
  EXPECT_GT(yhat[99].second, 1000) << "raw before the metadata";
  EXPECT_NEAR(MeanYhat(yhat, 50), kRate, 0.5) << "the rate after it";

  // And it stays a rate after a restart.
  adapter.Restart();
  SendCounter(adapter.port(), "a", 400, 50);
  EXPECT_NEAR(MeanYhat(Points(adapter.port(), kRequests, "a", "yhat", 449), 20), kRate, 0.5);
}

TEST(CounterFamilies, MatchesTheFamilyAndItsTotalSeries) {
  CounterFamilies counters(2);
  std::vector<std::string> learned;
  const std::string_view first[] = {"http_requests", "jobs_total", "http_requests"};
  EXPECT_TRUE(counters.Learn(first, &learned));
  EXPECT_EQ(learned, (std::vector<std::string>{"http_requests", "jobs_total"}));
  EXPECT_TRUE(counters.Contains("http_requests"));
  EXPECT_TRUE(counters.Contains("http_requests_total"));
  EXPECT_TRUE(counters.Contains("jobs_total"));
  EXPECT_FALSE(counters.Contains("jobs"));
  EXPECT_FALSE(counters.Contains("http_requests_created"));

  learned.clear();
  const std::string_view more[] = {"jobs_total", "errors_total"};
  EXPECT_FALSE(counters.Learn(more, &learned)) << "over the limit of 2";
  EXPECT_TRUE(learned.empty());
  EXPECT_FALSE(counters.Contains("errors_total"));
}

TEST(CounterCheckpoint, KeepsTheRateModeAndReadsOldCheckpoints) {
  absl::StatusOr<models::ModelFactory> factory = models::MakeModelFactory("holt_winters", {});
  ASSERT_TRUE(factory.ok()) << factory.status();
  ForecastSeries a;
  a.model = factory->New();
  a.rate = std::make_unique<CounterRate>(RangeFunction::kRate, kCounterRateRangeMs);
  a.counter_rate = true;
  a.Observe(1'000'000, 5);
  a.stale = true;

  ForecastSeries b;
  b.model = factory->New();
  ASSERT_TRUE(DecodeCheckpoint(EncodeCheckpoint(a), &b).ok());
  EXPECT_TRUE(b.counter_rate);
  ASSERT_NE(b.rate, nullptr);
  EXPECT_TRUE(b.stale);
  EXPECT_EQ(b.last_ts, 1'000'000);

  // Written before the flag existed: flags byte 1 (stale) or 0.
  a.counter_rate = false;
  const std::string old = EncodeCheckpoint(a);
  EXPECT_EQ(old[1 + sizeof(int64_t)], 1);
  ForecastSeries c;
  c.model = factory->New();
  ASSERT_TRUE(DecodeCheckpoint(old, &c).ok());
  EXPECT_FALSE(c.counter_rate);
  EXPECT_EQ(c.rate, nullptr);
  EXPECT_TRUE(c.stale);
}

}  // namespace
}  // namespace kad::adapter
