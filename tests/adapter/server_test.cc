// In-process tests of the HTTP API as Prometheus sees it: the real
// HttpServer, Api and Engine over a RocksDB in a temporary folder, spoken to
// over TCP by the test client of tests/support.
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "adapter/api.h"
#include "adapter/clock.h"
#include "adapter/config.h"
#include "adapter/engine.h"
#include "adapter/http_server.h"
#include "adapter/log.h"
#include "adapter/self_metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/snappy_codec.h"
#include "storage/store.h"
#include "tests/adapter/in_process_adapter.h"
#include "tests/support/http_client.h"
#include "tests/support/remote_client.h"

namespace kad::adapter {
namespace {

using ::kad::testing::DiffSeries;
using ::kad::testing::FindMetric;
using ::kad::testing::HttpCall;
using ::kad::testing::HttpResult;
using ::kad::testing::LabelPairs;
using ::kad::testing::MakeQuery;
using ::kad::testing::Matcher;
using ::kad::testing::ReadChunked;
using ::kad::testing::ReadSamples;
using ::kad::testing::RemoteWrite;
using ::kad::testing::RemoteWriteHeaders;
using ::kad::testing::ScrapeMetric;
using ::kad::testing::SeriesData;
using ::kad::testing::SeriesOf;
using ::kad::testing::SnappyBody;
using ::kad::testing::WriteRequestBuilder;
using ::testing::HasSubstr;
using PbMatcher = prometheus::LabelMatcher;
using testing::InProcessAdapter;
using testing::kConfig;
using testing::kHour;
using testing::kStep;
using testing::kT0;
using testing::TestOptions;

constexpr char kForecast[] = "predicted_node_load_holt_winters";

LabelPairs NodeLoad(std::string instance) {
  return {{"__name__", "node_load1"},
          {"cluster", "a"},
          {"instance", std::move(instance)},
          {"job", "node"}};
}

// A daily-ish wave with some noise, so the model has something to learn.
double Load(int i) { return 2 + std::sin(i * 0.05) + 0.1 * ((i * 7919) % 13); }

// Writes samples i = first .. first+count-1 at kT0 + i * kStep for each
// instance; expects 204.
void WriteSeries(uint16_t port, const std::vector<std::string>& instances, int first, int count) {
  WriteRequestBuilder b;
  for (int i = first; i < first + count; ++i) {
    for (const std::string& instance : instances)
      b.Add(NodeLoad(instance), kT0 + i * kStep, Load(i));
  }
  absl::StatusOr<HttpResult> r = RemoteWrite(port, b.request());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, 204) << r->body;
}

// Remote-writes one sample.
absl::StatusOr<HttpResult> WriteOne(uint16_t port, LabelPairs labels, int64_t t_ms, double value) {
  WriteRequestBuilder b;
  b.Add(std::move(labels), t_ms, value);
  return RemoteWrite(port, b.request());
}

double Scrape(uint16_t port, std::string_view series) {
  absl::StatusOr<double> v = ScrapeMetric(port, series);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.value_or(-1);
}

// The /metrics sample of the forecast of node_load1{instance=...}.
std::string Gauge(std::string_view instance, std::string_view value_type) {
  return absl::StrCat(kForecast, "{cluster=\"a\",instance=\"", std::string(instance),
                      "\",job=\"node\",source_metric=\"node_load1\",value_type=\"",
                      std::string(value_type), "\"}");
}

std::string Rejected(std::string_view reason) {
  return absl::StrCat("kad_samples_rejected_total{reason=\"", std::string(reason), "\"}");
}

// An error body is one line saying what was wrong.
void ExpectOneLineReason(const HttpResult& r) {
  EXPECT_FALSE(r.body.empty());
  EXPECT_EQ(r.body.find('\n'), r.body.size() - 1) << r.body;
  EXPECT_GT(r.body.size(), 10u) << r.body;
}

std::vector<SeriesData> Read(uint16_t port, int64_t start, int64_t end,
                             std::vector<PbMatcher> matchers) {
  absl::StatusOr<prometheus::ReadResponse> r =
      ReadSamples(port, MakeQuery(start, end, std::move(matchers)));
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return {};
  return SeriesOf(r->results(0));
}

PbMatcher Eq(std::string name, std::string value) {
  return Matcher(PbMatcher::EQ, std::move(name), std::move(value));
}

std::string LabelOf(const SeriesData& s, const std::string& name) {
  for (const auto& [n, v] : s.labels) {
    if (n == name) return v;
  }
  return "";
}

TEST(Server, ValidWriteIsAcknowledgedWith204AndModelled) {
  InProcessAdapter adapter;
  WriteSeries(adapter.port(), {"x", "y"}, 0, 10);
  EXPECT_EQ(Scrape(adapter.port(), "kad_samples_received_total"), 20);
  EXPECT_EQ(Scrape(adapter.port(), "kad_samples_modelled_total"), 20);
  EXPECT_EQ(Scrape(adapter.port(), "kad_active_series"), 2);
}

TEST(Server, MetadataOnlyRequestIsAcknowledged) {
  InProcessAdapter adapter;
  prometheus::WriteRequest request;
  prometheus::MetricMetadata* m = request.add_metadata();
  m->set_type(prometheus::MetricMetadata::GAUGE);
  m->set_metric_family_name("node_load1");
  m->set_help("1m load average.");
  absl::StatusOr<HttpResult> r = RemoteWrite(adapter.port(), request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 204) << r->body;
}

TEST(Server, RemoteWrite2ContentTypeIsUnsupportedMedia) {
  InProcessAdapter adapter;
  WriteRequestBuilder b;
  b.Add(NodeLoad("x"), kT0, 1);
  absl::StatusOr<HttpResult> r =
      HttpCall(adapter.port(), "POST", "/api/v1/write", SnappyBody(b.request()),
               {{"Content-Encoding", "snappy"},
                {"Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request"},
                {"X-Prometheus-Remote-Write-Version", "0.1.0"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 415);
  ExpectOneLineReason(*r);
  EXPECT_THAT(r->body, HasSubstr("io.prometheus.write.v2.Request"));
}

TEST(Server, RemoteWrite2BodyWithV1HeadersIsNeverAcknowledged) {
  InProcessAdapter adapter;
  // io.prometheus.write.v2.Request: symbols (4) and one timeseries (5) with
  // labels_refs (1) and a sample (2). A v1 parser sees an empty message.
  std::string body;
  for (std::string_view symbol : {"", "__name__", "node_load1"}) {
    body += '\x22';
    body += static_cast<char>(symbol.size());
    body += symbol;
  }
  const std::string series = std::string("\x0a\x02\x01\x02", 4) +  // labels_refs [1, 2] packed
                             std::string("\x12\x0b\x09", 3) + std::string(8, '\0') +  // value 0
                             std::string("\x10\x01", 2);                              // timestamp 1
  body += '\x2a';
  body += static_cast<char>(series.size());
  body += series;
  std::string compressed;
  proto::SnappyCompress(body, &compressed);
  absl::StatusOr<HttpResult> r =
      HttpCall(adapter.port(), "POST", "/api/v1/write", compressed, RemoteWriteHeaders());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 415);
  ExpectOneLineReason(*r);
}

TEST(Server, RemoteWriteVersion2HeaderIsUnsupportedMedia) {
  InProcessAdapter adapter;
  WriteRequestBuilder b;
  b.Add(NodeLoad("x"), kT0, 1);
  absl::StatusOr<HttpResult> r =
      HttpCall(adapter.port(), "POST", "/api/v1/write", SnappyBody(b.request()),
               {{"Content-Encoding", "snappy"},
                {"Content-Type", "application/x-protobuf"},
                {"X-Prometheus-Remote-Write-Version", "2.0.0"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 415);
  ExpectOneLineReason(*r);
}

TEST(Server, BodyThatIsNotSnappyIsBadRequest) {
  InProcessAdapter adapter;
  absl::StatusOr<HttpResult> r = HttpCall(adapter.port(), "POST", "/api/v1/write",
                                          "this body was never compressed", RemoteWriteHeaders());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 400);
  ExpectOneLineReason(*r);
}

TEST(Server, SnappyOfGarbageProtobufIsBadRequest) {
  InProcessAdapter adapter;
  std::string compressed;
  // Field 1 announced as 100 bytes long, then the body ends.
  proto::SnappyCompress(std::string("\x0a\x64\x01\x02", 4), &compressed);
  absl::StatusOr<HttpResult> r =
      HttpCall(adapter.port(), "POST", "/api/v1/write", compressed, RemoteWriteHeaders());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 400);
  ExpectOneLineReason(*r);
}

TEST(Server, CompressedBodyOverTheRequestLimitIsTooLarge) {
  InProcessAdapter adapter({.max_body_bytes = 1024});
  absl::StatusOr<HttpResult> r = HttpCall(adapter.port(), "POST", "/api/v1/write",
                                          std::string(4096, 'x'), RemoteWriteHeaders());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 413);
  ExpectOneLineReason(*r);
}

TEST(Server, UncompressedSizeOverTheLimitIsTooLarge) {
  constexpr size_t kLimit = 2048;
  InProcessAdapter adapter({.max_uncompressed_bytes = kLimit});
  WriteRequestBuilder b;
  for (int i = 0; i < 100; ++i) b.Add(NodeLoad("x"), kT0 + i * kStep, 1);
  const std::string body = SnappyBody(b.request());
  ASSERT_LT(body.size(), kLimit);  // only the uncompressed size is over
  ASSERT_GT(b.request().ByteSizeLong(), kLimit);
  absl::StatusOr<HttpResult> r =
      HttpCall(adapter.port(), "POST", "/api/v1/write", body, RemoteWriteHeaders());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 413);
  ExpectOneLineReason(*r);
}

TEST(Server, GetOnTheWriteEndpointIsMethodNotAllowed) {
  InProcessAdapter adapter;
  absl::StatusOr<HttpResult> r = HttpCall(adapter.port(), "GET", "/api/v1/write");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->Header("allow"), "POST");
  ExpectOneLineReason(*r);
}

TEST(Server, UnknownPathIsNotFound) {
  InProcessAdapter adapter;
  absl::StatusOr<HttpResult> r = HttpCall(adapter.port(), "GET", "/api/v2/nope");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
  ExpectOneLineReason(*r);
}

TEST(Server, HealthyAlwaysButWritesAndReadyOnlyOnceLoaded) {
  InProcessAdapter adapter({.ready = false});
  absl::StatusOr<HttpResult> healthy = HttpCall(adapter.port(), "GET", "/-/healthy");
  ASSERT_TRUE(healthy.ok()) << healthy.status();
  EXPECT_EQ(healthy->status, 200);
  absl::StatusOr<HttpResult> ready = HttpCall(adapter.port(), "GET", "/-/ready");
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->status, 503);
  // 503 makes Prometheus retry the batch until the state is loaded.
  absl::StatusOr<HttpResult> write = WriteOne(adapter.port(), NodeLoad("x"), kT0, 1);
  ASSERT_TRUE(write.ok()) << write.status();
  EXPECT_EQ(write->status, 503);
  ExpectOneLineReason(*write);
}

TEST(Server, HealthyAndReadyAnswer200WhenLoaded) {
  InProcessAdapter adapter;
  for (const char* path : {"/-/healthy", "/-/ready"}) {
    absl::StatusOr<HttpResult> r = HttpCall(adapter.port(), "GET", path);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200) << path;
  }
}

TEST(Server, StaleMarkerEndsTheSeriesAndOrdinaryNaNIsNonFinite) {
  InProcessAdapter adapter;
  const uint16_t port = adapter.port();
  WriteSeries(port, {"x", "y"}, 0, 40);
  const int64_t last = kT0 + 39 * kStep;
  const std::string x_gauge = Gauge("x", "yhat");
  ASSERT_TRUE(ScrapeMetric(port, x_gauge).ok());

  absl::StatusOr<HttpResult> stale =
      WriteOne(port, NodeLoad("x"), last + kStep, std::bit_cast<double>(0x7ff0000000000002));
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_EQ(stale->status, 204) << stale->body;
  absl::StatusOr<HttpResult> nan =
      WriteOne(port, NodeLoad("y"), last + kStep, std::bit_cast<double>(0x7ff8000000000001));
  ASSERT_TRUE(nan.ok()) << nan.status();
  EXPECT_EQ(nan->status, 204) << nan->body;

  EXPECT_EQ(Scrape(port, Rejected("stale_marker")), 1);
  EXPECT_EQ(Scrape(port, Rejected("non_finite")), 1);
  EXPECT_EQ(Scrape(port, "kad_samples_modelled_total"), 80);

  const std::vector<SeriesData> got =
      Read(port, kT0, last + kHour, {Eq("__name__", kForecast), Eq("value_type", "yhat")});
  ASSERT_EQ(got.size(), 2u);
  for (const SeriesData& s : got) {
    ASSERT_FALSE(s.samples.empty());
    if (LabelOf(s, "instance") == "x") {
      EXPECT_EQ(s.samples.back().first, last) << "a stale series has no future";
      EXPECT_EQ(s.samples.size(), 40u);
    } else {
      EXPECT_EQ(s.samples.back().first, last + kHour) << "NaN ends nothing";
    }
  }
  absl::StatusOr<HttpResult> metrics = HttpCall(port, "GET", "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_FALSE(FindMetric(metrics->body, x_gauge).has_value());
  EXPECT_TRUE(FindMetric(metrics->body, Gauge("y", "yhat")).has_value());
}

TEST(Server, StaleSeriesStaysEndedAfterRestart) {
  InProcessAdapter adapter;
  WriteSeries(adapter.port(), {"x"}, 0, 40);
  const int64_t last = kT0 + 39 * kStep;
  absl::StatusOr<HttpResult> stale = WriteOne(adapter.port(), NodeLoad("x"), last + kStep,
                                              std::bit_cast<double>(0x7ff0000000000002));
  ASSERT_TRUE(stale.ok()) << stale.status();
  ASSERT_EQ(stale->status, 204) << stale->body;
  adapter.Restart();
  const std::vector<SeriesData> got = Read(adapter.port(), kT0, last + kHour,
                                           {Eq("__name__", kForecast), Eq("value_type", "yhat")});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].samples.back().first, last)
      << "the stale marker was acknowledged before the restart; the series "
         "must not come back with future points";
  absl::StatusOr<HttpResult> metrics = HttpCall(adapter.port(), "GET", "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_FALSE(FindMetric(metrics->body, Gauge("x", "yhat")).has_value());
}

TEST(Server, SeriesGoOnAfterARestartWithTheirStoredModel) {
  // The restored series are found by the hash of their stored labels, which
  // must be the hash the decoder gives the same labels in a request: if it
  // were not, every series would start again beside its stored twin.
  InProcessAdapter adapter;
  WriteSeries(adapter.port(), {"x", "y"}, 0, 40);
  adapter.Restart();
  const uint16_t port = adapter.port();
  WriteSeries(port, {"x", "y"}, 40, 10);
  EXPECT_EQ(Scrape(port, "kad_active_series"), 2);
  EXPECT_EQ(Scrape(port, Rejected("out_of_order")) + Scrape(port, Rejected("duplicate")), 0);
  const int64_t last = kT0 + 49 * kStep;
  const std::vector<SeriesData> got =
      Read(port, kT0, last, {Eq("__name__", kForecast), Eq("value_type", "yhat")});
  ASSERT_EQ(got.size(), 2u);
  for (const SeriesData& s : got) {
    ASSERT_EQ(s.samples.size(), 50u) << LabelOf(s, "instance");
    EXPECT_EQ(s.samples.back().first, last);
  }
}

TEST(Server, ThousandsOfSeriesComeBackEachToItsShardAfterARestart) {
  // A restart reads the series records 4,096 at a time, restores the
  // batches on a worker per shard, and each worker has its shard adopt that
  // shard's series of every batch: 10,000 series are three batches, the
  // last one part full.
  InProcessAdapter adapter;
  std::vector<std::string> instances;
  for (int k = 0; k < 10'000; ++k) instances.push_back(absl::StrCat("host-", k));
  WriteSeries(adapter.port(), instances, 0, 3);
  adapter.Restart();
  const uint16_t port = adapter.port();
  EXPECT_EQ(Scrape(port, "kad_active_series"), 10'000);
  // Sent again, the last scrape finds each series where a request looks for
  // it, with its newest sample: a series missing, or in another shard,
  // would start again and model it.
  WriteSeries(port, instances, 2, 1);
  EXPECT_EQ(Scrape(port, Rejected("duplicate")), 10'000);
  EXPECT_EQ(Scrape(port, "kad_samples_modelled_total"), 0);
  WriteSeries(port, instances, 3, 1);
  EXPECT_EQ(Scrape(port, "kad_samples_modelled_total"), 10'000);
  EXPECT_EQ(Scrape(port, "kad_active_series"), 10'000);
}

TEST(Server, DuplicateBatchIsAcknowledgedCountedAndChangesNothing) {
  InProcessAdapter adapter;
  const uint16_t port = adapter.port();
  WriteSeries(port, {"x"}, 0, 30);
  const int64_t end = kT0 + 29 * kStep + kHour;
  const std::vector<SeriesData> before = Read(port, kT0, end, {Eq("__name__", kForecast)});
  ASSERT_EQ(before.size(), 5u);
  // Prometheus re-sends a batch whose answer timed out: the last ten.
  WriteSeries(port, {"x"}, 20, 10);
  EXPECT_EQ(Scrape(port, Rejected("duplicate")), 1);
  EXPECT_EQ(Scrape(port, Rejected("out_of_order")), 9);
  WriteSeries(port, {"x"}, 29, 1);
  EXPECT_EQ(Scrape(port, Rejected("duplicate")), 2);
  EXPECT_EQ(Scrape(port, "kad_samples_modelled_total"), 30);
  EXPECT_EQ(DiffSeries(Read(port, kT0, end, {Eq("__name__", kForecast)}), before), "");
}

TEST(Server, OutOfOrderSampleIsCountedAndSkipped) {
  InProcessAdapter adapter;
  const uint16_t port = adapter.port();
  WriteSeries(port, {"x"}, 10, 10);
  absl::StatusOr<HttpResult> r = WriteOne(port, NodeLoad("x"), kT0, 5);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 204) << r->body;
  EXPECT_EQ(Scrape(port, Rejected("out_of_order")), 1);
  const std::vector<SeriesData> got =
      Read(port, kT0, kT0 + 19 * kStep, {Eq("__name__", kForecast), Eq("value_type", "anomaly")});
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].samples.size(), 10u);
  EXPECT_EQ(got[0].samples.front().first, kT0 + 10 * kStep);
}

TEST(Server, UnselectedSeriesIsCountedAndGetsNoForecast) {
  InProcessAdapter adapter;
  const uint16_t port = adapter.port();
  WriteRequestBuilder b;
  for (int i = 0; i < 5; ++i) {
    b.Add({{"__name__", "node_load5"}, {"job", "node"}}, kT0 + i * kStep, 1);
    b.Add({{"__name__", "node_load1"}, {"job", "other"}}, kT0 + i * kStep, 1);
  }
  absl::StatusOr<HttpResult> r = RemoteWrite(port, b.request());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 204) << r->body;
  EXPECT_EQ(Scrape(port, Rejected("not_selected")), 10);
  EXPECT_EQ(Scrape(port, "kad_active_series"), 0);
  EXPECT_TRUE(Read(port, kT0, kT0 + kHour, {Matcher(PbMatcher::RE, "__name__", ".+")}).empty());
}

TEST(Server, SeriesWithInvalidLabelsAreCountedAndGetNoForecast) {
  InProcessAdapter adapter;
  const uint16_t port = adapter.port();
  WriteRequestBuilder b;
  for (int i = 0; i < 3; ++i) {
    // Selected by the config, but remote read could never return them.
    b.Add({{"__name__", "node_load1"}, {"instance", ""}, {"job", "node"}}, kT0 + i * kStep, 1);
    b.Add({{"__name__", "node_load1"}, {"instance", "\xff"}, {"job", "node"}}, kT0 + i * kStep, 1);
  }
  absl::StatusOr<HttpResult> r = RemoteWrite(port, b.request());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 204) << r->body;
  EXPECT_EQ(Scrape(port, Rejected("invalid_labels")), 6);
  EXPECT_EQ(Scrape(port, "kad_active_series"), 0);
}

TEST(Server, SamplesReadReturnsSortedLabeledSeriesWithFuturePoints) {
  InProcessAdapter adapter;
  const uint16_t port = adapter.port();
  WriteSeries(port, {"x"}, 0, 40);
  const int64_t last = kT0 + 39 * kStep;

  // Prometheus adds an EQ matcher per external label (cluster="a").
  const std::vector<SeriesData> yhat =
      Read(port, kT0, last + 2 * kHour,
           {Eq("__name__", kForecast), Eq("cluster", "a"), Eq("value_type", "yhat")});
  ASSERT_EQ(yhat.size(), 1u);
  const LabelPairs want = {
      {"__name__", kForecast},         {"cluster", "a"},      {"instance", "x"}, {"job", "node"},
      {"source_metric", "node_load1"}, {"value_type", "yhat"}};
  EXPECT_EQ(yhat[0].labels, want);
  const auto& samples = yhat[0].samples;
  ASSERT_GT(samples.size(), 40u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(samples[i].first, kT0 + i * kStep);
  for (size_t i = 40; i < samples.size(); ++i) {
    EXPECT_GT(samples[i].first, samples[i - 1].first);
    EXPECT_LE(samples[i].first - samples[i - 1].first, 60'000);
    EXPECT_TRUE(std::isfinite(samples[i].second));
  }
  EXPECT_EQ(samples.back().first, last + kHour) << "forecast_horizon is 1h";

  const std::vector<SeriesData> all =
      Read(port, kT0, last + 2 * kHour, {Eq("__name__", kForecast)});
  ASSERT_EQ(all.size(), 5u);
  for (const SeriesData& s : all) {
    EXPECT_TRUE(std::is_sorted(s.labels.begin(), s.labels.end()));
    const std::string type = LabelOf(s, "value_type");
    ASSERT_FALSE(s.samples.empty());
    const bool band = type == "yhat" || type == "yhat_lower" || type == "yhat_upper";
    EXPECT_EQ(s.samples.back().first, band ? last + kHour : last) << type;
    EXPECT_EQ(s.samples.front().first, kT0) << type;
  }
  EXPECT_TRUE(Read(port, kT0, last, {Eq("__name__", kForecast), Eq("cluster", "b")}).empty());
}

TEST(Server, SeriesHintReturnsSeriesWithoutSamples) {
  InProcessAdapter adapter;
  WriteSeries(adapter.port(), {"x", "y"}, 0, 10);
  prometheus::Query query = MakeQuery(kT0, kT0 + kHour, {Eq("__name__", kForecast)});
  query.mutable_hints()->set_func("series");
  absl::StatusOr<prometheus::ReadResponse> r = ReadSamples(adapter.port(), query);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->results(0).timeseries_size(), 10);
  for (const prometheus::TimeSeries& ts : r->results(0).timeseries())
    EXPECT_EQ(ts.samples_size(), 0);
}

TEST(Server, StreamedChunksEqualTheSamplesAnswer) {
  InProcessAdapter adapter;
  const uint16_t port = adapter.port();
  // 300 samples: several 120-sample chunks per series.
  WriteSeries(port, {"x", "y", "z"}, 0, 300);
  const prometheus::Query query =
      MakeQuery(kT0, kT0 + 300 * kStep + kHour, {Matcher(PbMatcher::RE, "instance", "x|z")});

  prometheus::ReadRequest request;
  *request.add_queries() = query;
  request.add_accepted_response_types(prometheus::ReadRequest::STREAMED_XOR_CHUNKS);
  request.add_accepted_response_types(prometheus::ReadRequest::SAMPLES);
  absl::StatusOr<HttpResult> raw = kad::testing::PostRead(port, request);
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->status, 200);
  EXPECT_EQ(raw->Header("content-type"),
            "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse");
  EXPECT_EQ(raw->Header("content-encoding"), "");

  absl::StatusOr<std::vector<SeriesData>> streamed = ReadChunked(port, query);
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  const std::vector<SeriesData> samples =
      Read(port, query.start_timestamp_ms(), query.end_timestamp_ms(),
           {Matcher(PbMatcher::RE, "instance", "x|z")});
  ASSERT_EQ(samples.size(), 10u);
  ASSERT_EQ(LabelOf(samples.back(), "value_type"), "yhat_upper");
  EXPECT_GT(samples.back().samples.size(), 300u) << "with future points";
  EXPECT_EQ(DiffSeries(*streamed, samples), "");
}

// A range that starts and ends inside stored blocks (their points in range
// are re-encoded, the blocks between sent as stored), frames so small that
// each series spans several, and two queries in one request: still the
// SAMPLES answer, query by query.
TEST(Server, StreamedChunksCutAtTheRangeSpanFramesAndFollowTheirQuery) {
  InProcessAdapter adapter({.max_bytes_in_frame = 200});
  const uint16_t port = adapter.port();
  WriteSeries(port, {"x", "y", "z"}, 0, 400);
  const int64_t last = kT0 + 399 * kStep;
  const prometheus::Query cut =
      MakeQuery(kT0 + 37 * kStep + 1, kT0 + 311 * kStep - 1, {Eq("instance", "y")});
  const prometheus::Query future =
      MakeQuery(last - 50 * kStep, last + kHour, {Eq("value_type", "yhat_lower")});
  prometheus::ReadRequest request;
  *request.add_queries() = cut;
  *request.add_queries() = future;
  request.add_accepted_response_types(prometheus::ReadRequest::STREAMED_XOR_CHUNKS);
  absl::StatusOr<HttpResult> raw = kad::testing::PostRead(port, request);
  ASSERT_TRUE(raw.ok()) << raw.status();
  ASSERT_EQ(raw->status, 200) << raw->body;
  absl::StatusOr<std::vector<std::vector<SeriesData>>> streamed =
      kad::testing::DecodeChunkedBody(raw->body);
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  ASSERT_EQ(streamed->size(), 2u);
  const std::vector<SeriesData> want_cut =
      Read(port, cut.start_timestamp_ms(), cut.end_timestamp_ms(), {Eq("instance", "y")});
  ASSERT_EQ(want_cut.size(), 5u);
  EXPECT_EQ(want_cut[0].samples.size(), 311u - 38u);
  EXPECT_EQ(DiffSeries((*streamed)[0], want_cut), "");
  const std::vector<SeriesData> want_future =
      Read(port, future.start_timestamp_ms(), future.end_timestamp_ms(),
           {Eq("value_type", "yhat_lower")});
  ASSERT_EQ(want_future.size(), 3u);
  EXPECT_GT(want_future[0].samples.size(), 51u) << "with future points";
  EXPECT_EQ(DiffSeries((*streamed)[1], want_future), "");
}

TEST(Server, ReadOverTheSampleLimitIsTooLarge) {
  InProcessAdapter adapter({.read_sample_limit = 100});
  WriteSeries(adapter.port(), {"x"}, 0, 30);
  prometheus::ReadRequest request;
  *request.add_queries() = MakeQuery(kT0, kT0 + kHour, {Eq("__name__", kForecast)});
  absl::StatusOr<HttpResult> r = kad::testing::PostRead(adapter.port(), request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 413);
  ExpectOneLineReason(*r);
  EXPECT_THAT(r->body, HasSubstr("100"));
  // Under the limit the same data is served.
  EXPECT_EQ(Read(adapter.port(), kT0, kT0 + 5 * kStep,
                 {Eq("__name__", kForecast), Eq("value_type", "yhat")})
                .size(),
            1u);
}

TEST(Server, ReadOfExactlyTheSampleLimitIsServedAndOneSampleMoreIsNot) {
  // Eight series on both shards, which read their points side by side and
  // count them down from one budget: 80 yhat samples up to the last point.
  const std::vector<std::string> instances = {"a", "b", "c", "d", "e", "f", "g", "h"};
  const int64_t last = kT0 + 9 * kStep;
  const std::vector<PbMatcher> yhat = {Eq("__name__", kForecast), Eq("value_type", "yhat")};
  for (const size_t limit : {80, 79}) {
    InProcessAdapter adapter({.read_sample_limit = limit});
    WriteSeries(adapter.port(), instances, 0, 10);
    prometheus::ReadRequest request;
    *request.add_queries() = MakeQuery(kT0, last, yhat);
    absl::StatusOr<HttpResult> r = kad::testing::PostRead(adapter.port(), request);
    ASSERT_TRUE(r.ok()) << r.status();
    if (limit == 79) {
      EXPECT_EQ(r->status, 413) << r->body;
      continue;
    }
    EXPECT_EQ(r->status, 200) << r->body;
    const std::vector<SeriesData> got = Read(adapter.port(), kT0, last, yhat);
    ASSERT_EQ(got.size(), instances.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(LabelOf(got[i], "instance"), instances[i]) << "sorted by labels";
      EXPECT_EQ(got[i].samples.size(), 10u);
    }
  }
}

TEST(Server, MetricsShowForecastGaugesAndSelfMetrics) {
  InProcessAdapter adapter;
  WriteSeries(adapter.port(), {"x"}, 0, 10);
  absl::StatusOr<HttpResult> r = HttpCall(adapter.port(), "GET", "/metrics");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->Header("content-type"), HasSubstr("text/plain"));
  EXPECT_THAT(r->body, HasSubstr("# TYPE predicted_node_load_holt_winters gauge\n"));
  for (const char* type : {"yhat", "yhat_lower", "yhat_upper", "anomaly", "anomaly_score"}) {
    const std::string series = Gauge("x", type);
    EXPECT_TRUE(FindMetric(r->body, series).has_value()) << series;
  }
  EXPECT_EQ(FindMetric(r->body, "kad_ready"), 1);
  EXPECT_EQ(FindMetric(r->body, "kad_samples_modelled_total"), 10);
  EXPECT_THAT(r->body, HasSubstr("kad_http_request_duration_seconds_count{"
                                 "handler=\"write\",code=\"204\"} 1"));
}

TEST(Server, MetricsShowEachFamilyOnceWithTheLinesOfEveryShard) {
  TestOptions options;
  options.config = R"(version: "v1alpha"
prometheus_metric_list:
  - metric_query: "node_load1{job='node'}"
    predicted_metric_name: predicted_node_load
    models:
      - kind: holt_winters
      - kind: robust_zscore
)";
  InProcessAdapter adapter(options);
  // Enough series that both shards hold some of each family.
  std::vector<std::string> instances;
  for (int i = 0; i < 16; ++i) instances.push_back(absl::StrCat("i", i));
  WriteSeries(adapter.port(), instances, 0, 10);
  absl::StatusOr<HttpResult> r = HttpCall(adapter.port(), "GET", "/metrics");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, 200);
  std::map<std::string, int> type_lines;
  std::map<std::string, int> samples;
  std::string family;  // of the last TYPE line
  std::istringstream lines(r->body);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("# TYPE ")) {
      family = line.substr(7, line.find(' ', 7) - 7);
      ++type_lines[family];
    } else if (line.starts_with("predicted_node_load")) {
      const std::string name = line.substr(0, line.find('{'));
      EXPECT_EQ(name, family) << "a gauge away from its family's TYPE line: " << line;
      ++samples[name];
    }
  }
  for (const char* name :
       {"predicted_node_load_holt_winters", "predicted_node_load_robust_zscore"}) {
    EXPECT_EQ(type_lines[name], 1) << name;
    EXPECT_EQ(samples[name], 16 * 5) << name;  // a line per series and value type
  }
}

TEST(Server, MetricsLeaveOutTheForecastGaugesWhenAskedTo) {
  InProcessAdapter adapter;
  WriteSeries(adapter.port(), {"x"}, 0, 10);
  absl::StatusOr<HttpResult> without =
      HttpCall(adapter.port(), "GET", "/metrics?forecast_gauges=false");
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_EQ(without->status, 200);
  EXPECT_THAT(without->body, Not(HasSubstr(kForecast)));
  EXPECT_EQ(FindMetric(without->body, "kad_ready"), 1);
  EXPECT_EQ(FindMetric(without->body, "kad_active_series"), 1);
  absl::StatusOr<HttpResult> with =
      HttpCall(adapter.port(), "GET", "/metrics?forecast_gauges=true");
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_TRUE(FindMetric(with->body, Gauge("x", "yhat")).has_value());
  for (const char* bad : {"/metrics?forecast_gauges=no", "/metrics?forecast_gauges=",
                          "/metrics?forecast_gauges=false&forecast_gauges=true"}) {
    absl::StatusOr<HttpResult> r = HttpCall(adapter.port(), "GET", bad);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 400) << bad;
    ExpectOneLineReason(*r);
    EXPECT_THAT(r->body, HasSubstr("forecast_gauges")) << bad;
  }
}

TEST(Server, RegexMatchersAreFullyAnchoredRe2) {
  InProcessAdapter adapter;
  const uint16_t port = adapter.port();
  WriteSeries(port, {"node1", "node12", "xnode1"}, 0, 5);
  auto instances = [&](std::string regex) {
    std::vector<std::string> out;
    for (const SeriesData& s :
         Read(port, kT0, kT0 + 4 * kStep,
              {Matcher(PbMatcher::RE, "instance", std::move(regex)), Eq("value_type", "yhat")})) {
      out.push_back(LabelOf(s, "instance"));
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(instances("node1"), V({"node1"}));
  EXPECT_EQ(instances("node\\d+"), V({"node1", "node12"}));
  EXPECT_EQ(instances("node1|xnode1"), V({"node1", "xnode1"}));
  EXPECT_EQ(instances(".*node1"), V({"node1", "xnode1"}));
  EXPECT_EQ(instances("(?i)NODE1"), V({"node1"}));
  prometheus::ReadRequest bad;
  *bad.add_queries() = MakeQuery(kT0, kT0 + kStep, {Matcher(PbMatcher::RE, "instance", "(")});
  absl::StatusOr<HttpResult> r = kad::testing::PostRead(port, bad);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 400);
  ExpectOneLineReason(*r);
}

}  // namespace
}  // namespace kad::adapter
