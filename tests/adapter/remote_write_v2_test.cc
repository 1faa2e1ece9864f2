// Remote write 2.0 through the real server: content-type negotiation, the
// X-Prometheus-Remote-Write-*-Written headers, ref validation, and the
// forecasts of a 2.0 body against those of the same samples sent as 1.0.
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/write_v2.pb.h"
#include "proto/snappy_codec.h"
#include "tests/adapter/in_process_adapter.h"
#include "tests/support/http_client.h"
#include "tests/support/remote_client.h"

namespace kad::adapter {
namespace {

namespace v2 = io::prometheus::write::v2;
using ::kad::testing::DiffSeries;
using ::kad::testing::HttpCall;
using ::kad::testing::HttpHeaders;
using ::kad::testing::HttpResult;
using ::kad::testing::LabelPairs;
using ::kad::testing::MakeQuery;
using ::kad::testing::Matcher;
using ::kad::testing::ReadChunked;
using ::kad::testing::RemoteWrite;
using ::kad::testing::RemoteWriteV2;
using ::kad::testing::RemoteWriteV2Headers;
using ::kad::testing::SeriesData;
using ::kad::testing::SnappyBody;
using ::kad::testing::WriteRequestBuilder;
using ::kad::testing::WriteRequestV2Builder;
using ::testing::HasSubstr;
using testing::InProcessAdapter;
using testing::kHour;
using testing::kStep;
using testing::kT0;
using testing::Metric;

constexpr char kForecast[] = "predicted_node_load_holt_winters";
constexpr char kSamplesWritten[] = "x-prometheus-remote-write-samples-written";
constexpr char kHistogramsWritten[] = "x-prometheus-remote-write-histograms-written";
constexpr char kExemplarsWritten[] = "x-prometheus-remote-write-exemplars-written";

LabelPairs NodeLoad(std::string instance) {
  return {{"__name__", "node_load1"},
          {"cluster", "a"},
          {"instance", std::move(instance)},
          {"job", "node"}};
}

double Load(int i) { return 2 + std::sin(i * 0.05) + 0.1 * ((i * 7919) % 13); }

// Samples first .. first+count-1 of two instances, as Prometheus 2.42 sends them.
WriteRequestBuilder Batch(int first, int count) {
  WriteRequestBuilder b;
  for (int i = first; i < first + count; ++i) {
    for (const char* instance : {"x", "y"}) b.Add(NodeLoad(instance), kT0 + i * kStep, Load(i));
  }
  return b;
}

std::vector<SeriesData> Forecasts(uint16_t port, int64_t end) {
  absl::StatusOr<std::vector<SeriesData>> got = ReadChunked(
      port, MakeQuery(kT0, end, {Matcher(prometheus::LabelMatcher::EQ, "__name__", kForecast)}));
  EXPECT_TRUE(got.ok()) << got.status();
  return got.value_or(std::vector<SeriesData>{});
}

void ExpectWritten(const HttpResult& r, int samples, int histograms, int exemplars) {
  EXPECT_EQ(r.Header(kSamplesWritten), std::to_string(samples));
  EXPECT_EQ(r.Header(kHistogramsWritten), std::to_string(histograms));
  EXPECT_EQ(r.Header(kExemplarsWritten), std::to_string(exemplars));
}

// An error body is one line saying what was wrong.
void ExpectOneLineReason(const HttpResult& r) {
  EXPECT_GT(r.body.size(), 10u) << r.body;
  EXPECT_EQ(r.body.find('\n'), r.body.size() - 1) << r.body;
}

absl::StatusOr<HttpResult> PostWrite(uint16_t port, std::string compressed_body,
                                     HttpHeaders headers) {
  return HttpCall(port, "POST", "/api/v1/write", std::move(compressed_body), std::move(headers));
}

TEST(RemoteWriteV2, ForecastsEqualThoseOfTheSameSamplesSentAs1_0) {
  InProcessAdapter v1_adapter;
  InProcessAdapter v2_adapter;
  constexpr int kBatches = 6;
  constexpr int kPerBatch = 40;
  for (int batch = 0; batch < kBatches; ++batch) {
    const WriteRequestBuilder v1 = Batch(batch * kPerBatch, kPerBatch);
    absl::StatusOr<HttpResult> r1 = RemoteWrite(v1_adapter.port(), v1.request());
    ASSERT_TRUE(r1.ok()) << r1.status();
    ASSERT_EQ(r1->status, 204) << r1->body;
    // 1.0 senders do not read the headers; 1.0 answers stay as they were.
    EXPECT_EQ(r1->Header(kSamplesWritten), "");

    WriteRequestV2Builder v2;
    v2.AddAll(v1.request());
    absl::StatusOr<HttpResult> r2 = RemoteWriteV2(v2_adapter.port(), v2.request());
    ASSERT_TRUE(r2.ok()) << r2.status();
    ASSERT_EQ(r2->status, 204) << r2->body;
    ExpectWritten(*r2, 2 * kPerBatch, 0, 0);
  }
  const int64_t end = kT0 + kBatches * kPerBatch * kStep + kHour;
  const std::vector<SeriesData> want = Forecasts(v1_adapter.port(), end);
  ASSERT_EQ(want.size(), 10u);  // 2 instances x 5 value types
  ASSERT_GT(want[0].samples.size(), static_cast<size_t>(kBatches * kPerBatch) - 5);
  EXPECT_EQ(DiffSeries(Forecasts(v2_adapter.port(), end), want), "");
  EXPECT_EQ(Metric(v2_adapter.port(), "kad_samples_modelled_total"),
            Metric(v1_adapter.port(), "kad_samples_modelled_total"));
}

TEST(RemoteWriteV2, HistogramsAndExemplarsAreAcceptedAndCounted) {
  InProcessAdapter adapter;
  WriteRequestV2Builder b;
  v2::TimeSeries* load = b.Add(NodeLoad("x"), kT0, 1.5);
  load->mutable_metadata()->set_type(v2::Metadata::METRIC_TYPE_GAUGE);
  v2::Exemplar* e = load->add_exemplars();
  e->add_labels_refs(b.Symbol("trace_id"));
  e->add_labels_refs(b.Symbol("4bf92f3577b34da6"));
  e->set_value(1.5);
  e->set_timestamp(kT0);
  v2::TimeSeries* latency = b.AddSeries({{"__name__", "rpc_latency_seconds"}, {"job", "api"}});
  latency->mutable_metadata()->set_type(v2::Metadata::METRIC_TYPE_HISTOGRAM);
  latency->set_created_timestamp(kT0 - kHour);
  for (int i = 0; i < 3; ++i) {
    v2::Histogram* h = latency->add_histograms();
    h->set_count_int(10 + i);
    h->set_sum(4.5 + i);
    h->set_schema(3);
    h->add_positive_spans()->set_length(1);
    h->add_positive_deltas(10 + i);
    h->set_timestamp(kT0 + i * kStep);
  }
  absl::StatusOr<HttpResult> r = RemoteWriteV2(adapter.port(), b.request());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 204) << r->body;
  ExpectWritten(*r, 1, 3, 1);
  EXPECT_EQ(Metric(adapter.port(), "kad_samples_received_total"), 4);
  EXPECT_EQ(Metric(adapter.port(), "kad_samples_modelled_total"), 1);
  EXPECT_EQ(Metric(adapter.port(), "kad_samples_rejected_total{reason=\"native_histogram\"}"), 3);
}

TEST(RemoteWriteV2, EmptyRequestWritesNothingAndSaysSo) {
  InProcessAdapter adapter;
  absl::StatusOr<HttpResult> r = RemoteWriteV2(adapter.port(), WriteRequestV2Builder().request());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 204) << r->body;
  ExpectWritten(*r, 0, 0, 0);
}

// A 2.0 body whose one series has the given label refs over the symbols
// "", "__name__", "node_load1", "job", "node".
std::string BodyWithRefs(std::vector<uint32_t> refs) {
  v2::Request req;
  for (const char* s : {"", "__name__", "node_load1", "job", "node"}) req.add_symbols(s);
  v2::TimeSeries* ts = req.add_timeseries();
  for (uint32_t ref : refs) ts->add_labels_refs(ref);
  v2::Sample* sample = ts->add_samples();
  sample->set_timestamp(kT0);
  sample->set_value(1);
  return SnappyBody(req);
}

TEST(RemoteWriteV2, BadLabelRefsAreBadRequestAndStoreNothing) {
  InProcessAdapter adapter;
  for (const std::vector<uint32_t>& refs :
       {std::vector<uint32_t>{1, 2, 3, 5}, std::vector<uint32_t>{1, 2, 3}}) {
    absl::StatusOr<HttpResult> r =
        PostWrite(adapter.port(), BodyWithRefs(refs), RemoteWriteV2Headers());
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 400) << r->body;
    ExpectOneLineReason(*r);
    EXPECT_THAT(r->body, refs.size() == 4 ? HasSubstr("label ref 5") : HasSubstr("odd number"));
    ExpectWritten(*r, 0, 0, 0);
  }
  EXPECT_EQ(Metric(adapter.port(), "kad_samples_received_total"), 0);
  EXPECT_EQ(Metric(adapter.port(), "kad_active_series"), 0);
  // The control: the same body with good refs is written.
  absl::StatusOr<HttpResult> r =
      PostWrite(adapter.port(), BodyWithRefs({1, 2, 3, 4}), RemoteWriteV2Headers());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 204) << r->body;
  ExpectWritten(*r, 1, 0, 0);
}

TEST(RemoteWriteV2, UnknownProtoMessageIsUnsupportedMediaNamingTheAcceptedOnes) {
  InProcessAdapter adapter;
  for (const char* content_type :
       {"application/x-protobuf;proto=io.prometheus.write.v3.Request",
        "application/x-protobuf; proto=\"prometheus.ReadRequest\"", "application/json"}) {
    absl::StatusOr<HttpResult> r = PostWrite(adapter.port(), BodyWithRefs({1, 2, 3, 4}),
                                             {{"Content-Encoding", "snappy"},
                                              {"Content-Type", content_type},
                                              {"X-Prometheus-Remote-Write-Version", "2.0.0"}});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 415) << content_type << ": " << r->body;
    ExpectOneLineReason(*r);
    EXPECT_THAT(r->body, HasSubstr("proto=prometheus.WriteRequest"));
    EXPECT_THAT(r->body, HasSubstr("proto=io.prometheus.write.v2.Request"));
  }
  EXPECT_EQ(Metric(adapter.port(), "kad_samples_received_total"), 0);
}

TEST(RemoteWriteV2, OtherEncodingOrMismatchedVersionIsUnsupportedMedia) {
  InProcessAdapter adapter;
  HttpHeaders gzip = RemoteWriteV2Headers();
  gzip[0] = {"Content-Encoding", "gzip"};
  HttpHeaders v1_version = RemoteWriteV2Headers();
  v1_version[2] = {"X-Prometheus-Remote-Write-Version", "0.1.0"};
  HttpHeaders v3 = RemoteWriteV2Headers();
  v3[2] = {"X-Prometheus-Remote-Write-Version", "3.0.0"};
  for (const HttpHeaders& headers : {gzip, v1_version, v3}) {
    absl::StatusOr<HttpResult> r = PostWrite(adapter.port(), BodyWithRefs({1, 2, 3, 4}), headers);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 415) << r->body;
    ExpectOneLineReason(*r);
  }
  EXPECT_EQ(Metric(adapter.port(), "kad_samples_received_total"), 0);
}

TEST(RemoteWriteV2, OneZeroBodyUnderTheTwoZeroContentTypeIsNeverAcknowledged) {
  InProcessAdapter adapter;
  const std::string body = SnappyBody(Batch(0, 1).request());
  absl::StatusOr<HttpResult> r = PostWrite(adapter.port(), body, RemoteWriteV2Headers());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 415) << r->body;
  ExpectOneLineReason(*r);
  ExpectWritten(*r, 0, 0, 0);
  EXPECT_EQ(Metric(adapter.port(), "kad_samples_received_total"), 0);
}

TEST(RemoteWriteV2, ExplicitOneZeroProtoStillDecodesAsOneZero) {
  InProcessAdapter adapter;
  absl::StatusOr<HttpResult> r =
      PostWrite(adapter.port(), SnappyBody(Batch(0, 3).request()),
                {{"Content-Encoding", "snappy"},
                 {"Content-Type", "application/x-protobuf;proto=prometheus.WriteRequest"},
                 {"X-Prometheus-Remote-Write-Version", "0.1.0"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 204) << r->body;
  EXPECT_EQ(r->Header(kSamplesWritten), "");
  EXPECT_EQ(Metric(adapter.port(), "kad_samples_received_total"), 6);
}

}  // namespace
}  // namespace kad::adapter
