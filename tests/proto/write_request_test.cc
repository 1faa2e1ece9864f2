// Tests for the zero-copy WriteRequest decoder, with the generated protobuf
// parser as the oracle.
#include "proto/write_request.h"

#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/unknown_field_set.h>

#include <bit>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "prometheus/remote.pb.h"
#include "prometheus/types.pb.h"
#include "tests/proto/wire_writer.h"

namespace {

using kad::proto::DecodeWriteRequest;
using kad::proto::LabelView;
using kad::proto::MetricType;
using kad::proto::SampleView;
using kad::proto::WriteRequestView;
using kad::testing::AppendFixed64;
using kad::testing::AppendLengthDelimited;
using kad::testing::AppendTag;
using kad::testing::AppendVarint;

// Compares every decoded field with what the generated parser produced.
void ExpectMatchesOracle(const prometheus::WriteRequest& want, const WriteRequestView& got) {
  ASSERT_EQ(got.series.size(), static_cast<size_t>(want.timeseries_size()));
  size_t histograms = 0;
  size_t exemplars = 0;
  for (int i = 0; i < want.timeseries_size(); ++i) {
    const prometheus::TimeSeries& ts = want.timeseries(i);
    const auto labels = got.LabelsOf(got.series[i]);
    ASSERT_EQ(labels.size(), static_cast<size_t>(ts.labels_size())) << i;
    for (int j = 0; j < ts.labels_size(); ++j) {
      EXPECT_EQ(labels[j].name, ts.labels(j).name()) << i << "/" << j;
      EXPECT_EQ(labels[j].value, ts.labels(j).value()) << i << "/" << j;
    }
    const auto samples = got.SamplesOf(got.series[i]);
    ASSERT_EQ(samples.size(), static_cast<size_t>(ts.samples_size())) << i;
    for (int j = 0; j < ts.samples_size(); ++j) {
      EXPECT_EQ(samples[j].timestamp_ms, ts.samples(j).timestamp());
      EXPECT_EQ(std::bit_cast<uint64_t>(samples[j].value),
                std::bit_cast<uint64_t>(ts.samples(j).value()));
    }
    histograms += ts.histograms_size();
    exemplars += ts.exemplars_size();
  }
  EXPECT_EQ(got.histogram_count, histograms);
  EXPECT_EQ(got.exemplar_count, exemplars);
  ASSERT_EQ(got.metadata.size(), static_cast<size_t>(want.metadata_size()));
  for (int i = 0; i < want.metadata_size(); ++i) {
    const int type = want.metadata(i).type();
    // Enum values this decoder does not know read as unknown.
    const int want_type = type <= 7 ? type : 0;
    EXPECT_EQ(static_cast<int>(got.metadata[i].type), want_type);
    EXPECT_EQ(got.metadata[i].family_name, want.metadata(i).metric_family_name());
  }
}

constexpr const char* kLabelNames[] = {"__name__", "container", "instance",
                                       "job",      "namespace", "pod"};
constexpr std::string_view kLabelValues[] = {
    "node_load1",       "kube-system", "10.0.0.1:9100", "",
    "ünïcødé ✓ 日本語", "a\nb\"c",     "🙂",          std::string_view("nul\0byte", 8)};

double InterestingValue(std::mt19937_64& rng) {
  switch (rng() % 8) {
    case 0:
      return std::bit_cast<double>(uint64_t{0x7ff0000000000002});  // stale
    case 1:
      return std::bit_cast<double>(uint64_t{0x7ff8000000000001});
    case 2:
      return -0.0;
    case 3:
      return std::numeric_limits<double>::infinity();
    case 4:
      return std::numeric_limits<double>::denorm_min();
    default:
      return std::uniform_real_distribution<double>(-1e9, 1e9)(rng);
  }
}

void AddRandomLabels(std::mt19937_64& rng, prometheus::TimeSeries* ts) {
  const int n = 1 + static_cast<int>(rng() % 6);
  for (int i = 0; i < n; ++i) {
    prometheus::Label* label = ts->add_labels();
    label->set_name(kLabelNames[i]);
    label->set_value(std::string(kLabelValues[rng() % std::size(kLabelValues)]));
  }
}

prometheus::WriteRequest RandomRequest(uint64_t seed) {
  std::mt19937_64 rng(seed);
  prometheus::WriteRequest req;
  const int num_series = static_cast<int>(rng() % 8);
  for (int i = 0; i < num_series; ++i) {
    if (i > 0 && rng() % 4 == 0) {  // the same series again, as Prometheus does
      *req.add_timeseries() = req.timeseries(i - 1);
      continue;
    }
    prometheus::TimeSeries* ts = req.add_timeseries();
    AddRandomLabels(rng, ts);
    const int num_samples = static_cast<int>(rng() % 4);
    for (int j = 0; j < num_samples; ++j) {
      prometheus::Sample* s = ts->add_samples();
      s->set_value(InterestingValue(rng));
      s->set_timestamp(static_cast<int64_t>(rng()) >> (rng() % 64));
    }
    if (rng() % 3 == 0) {
      prometheus::Exemplar* e = ts->add_exemplars();
      e->add_labels()->set_name("trace_id");
      e->mutable_labels(0)->set_value("abc123");
      e->set_value(1.5);
      e->set_timestamp(1700000000000);
    }
    if (rng() % 3 == 0) {
      prometheus::Histogram* h = ts->add_histograms();
      h->set_count_int(10);
      h->set_sum(12.5);
      h->set_schema(-2);
      h->add_positive_spans()->set_length(2);
      h->add_positive_deltas(3);
      h->add_positive_deltas(-1);
      h->set_timestamp(1700000000000);
    }
  }
  const int num_metadata = static_cast<int>(rng() % 3);
  for (int i = 0; i < num_metadata; ++i) {
    prometheus::MetricMetadata* m = req.add_metadata();
    m->set_type(static_cast<prometheus::MetricMetadata::MetricType>(rng() % 8));
    m->set_metric_family_name(std::string(kLabelValues[rng() % std::size(kLabelValues)]));
    m->set_help("Help text.");
    m->set_unit("seconds");
  }
  return req;
}

// A request with unknown fields of every proto3 wire type at every level.
prometheus::WriteRequest RequestWithUnknownFields() {
  prometheus::WriteRequest req = RandomRequest(7);
  auto add_unknowns = [](google::protobuf::Message* m) {
    auto* unknown = m->GetReflection()->MutableUnknownFields(m);
    unknown->AddVarint(90, 12345678901);
    unknown->AddFixed32(91, 0xdeadbeef);
    unknown->AddFixed64(92, 0x0123456789abcdef);
    unknown->AddLengthDelimited(93, "ignored");
  };
  add_unknowns(&req);
  // Field 2 is reserved in WriteRequest: a reader must skip it too.
  req.GetReflection()->MutableUnknownFields(&req)->AddLengthDelimited(2, "x");
  prometheus::TimeSeries* ts = req.add_timeseries();
  ts->add_labels()->set_name("__name__");
  ts->mutable_labels(0)->set_value("up");
  ts->add_samples()->set_value(1);
  ts->mutable_samples(0)->set_timestamp(42);
  add_unknowns(ts);
  add_unknowns(ts->mutable_labels(0));
  add_unknowns(ts->mutable_samples(0));
  prometheus::MetricMetadata* m = req.add_metadata();
  m->set_type(prometheus::MetricMetadata::GAUGE);
  m->set_metric_family_name("up");
  add_unknowns(m);
  return req;
}

TEST(DecodeWriteRequest, MatchesGeneratedParserOnVariedRequests) {
  WriteRequestView view;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const prometheus::WriteRequest req = RandomRequest(seed);
    const std::string body = req.SerializeAsString();
    prometheus::WriteRequest oracle;
    ASSERT_TRUE(oracle.ParseFromString(body));
    ASSERT_TRUE(DecodeWriteRequest(body, &view).ok()) << "seed " << seed;
    ExpectMatchesOracle(oracle, view);
  }
}

TEST(DecodeWriteRequest, SkipsUnknownFieldsAtEveryLevel) {
  const std::string body = RequestWithUnknownFields().SerializeAsString();
  prometheus::WriteRequest oracle;
  ASSERT_TRUE(oracle.ParseFromString(body));
  WriteRequestView view;
  const absl::Status status = DecodeWriteRequest(body, &view);
  ASSERT_TRUE(status.ok()) << status;
  ExpectMatchesOracle(oracle, view);
  ASSERT_FALSE(view.series.empty());
  EXPECT_EQ(view.LabelsOf(view.series.back())[0].value, "up");
  EXPECT_EQ(view.SamplesOf(view.series.back())[0].timestamp_ms, 42);
}

TEST(DecodeWriteRequest, DecodesMetadataOnlyRequest) {
  prometheus::WriteRequest req;
  for (int type = 0; type <= 7; ++type) {
    prometheus::MetricMetadata* m = req.add_metadata();
    m->set_type(static_cast<prometheus::MetricMetadata::MetricType>(type));
    m->set_metric_family_name("family_" + std::to_string(type));
    m->set_help("help");
  }
  const std::string body = req.SerializeAsString();  // the views point here
  WriteRequestView view;
  ASSERT_TRUE(DecodeWriteRequest(body, &view).ok());
  EXPECT_TRUE(view.series.empty());
  ASSERT_EQ(view.metadata.size(), 8u);
  EXPECT_EQ(view.metadata[1].type, MetricType::kCounter);
  EXPECT_EQ(view.metadata[7].type, MetricType::kStateset);
  EXPECT_EQ(view.metadata[7].family_name, "family_7");
}

TEST(DecodeWriteRequest, ReadsMetadataTypesFromNewerSendersAsUnknown) {
  std::string metadata;
  AppendTag(1, 0, &metadata);
  AppendVarint(42, &metadata);
  AppendLengthDelimited(2, "future_family", &metadata);
  std::string body;
  AppendLengthDelimited(3, metadata, &body);
  WriteRequestView view;
  ASSERT_TRUE(DecodeWriteRequest(body, &view).ok());
  ASSERT_EQ(view.metadata.size(), 1u);
  EXPECT_EQ(view.metadata[0].type, MetricType::kUnknown);
  EXPECT_EQ(view.metadata[0].family_name, "future_family");
}

TEST(DecodeWriteRequest, CountsHistogramsAndExemplarsWithoutSamples) {
  prometheus::WriteRequest req;
  prometheus::TimeSeries* ts = req.add_timeseries();
  ts->add_labels()->set_name("__name__");
  ts->mutable_labels(0)->set_value("rpc_latency_seconds");
  for (int i = 0; i < 3; ++i) ts->add_histograms()->set_count_float(i + 0.5);
  for (int i = 0; i < 2; ++i) ts->add_exemplars()->set_value(i);
  WriteRequestView view;
  ASSERT_TRUE(DecodeWriteRequest(req.SerializeAsString(), &view).ok());
  ASSERT_EQ(view.series.size(), 1u);
  EXPECT_TRUE(view.SamplesOf(view.series[0]).empty());
  EXPECT_EQ(view.histogram_count, 3u);
  EXPECT_EQ(view.exemplar_count, 2u);
}

TEST(DecodeWriteRequest, AcceptsSampleFieldsInAnyOrderAndRepeated) {
  // timestamp before value, then value again: the last value wins, as in
  // protobuf's merge semantics.
  std::string sample;
  AppendTag(2, 0, &sample);
  AppendVarint(static_cast<uint64_t>(int64_t{-5000}), &sample);
  AppendFixed64(1, std::bit_cast<uint64_t>(1.0), &sample);
  AppendFixed64(1, std::bit_cast<uint64_t>(2.5), &sample);
  std::string series;
  AppendLengthDelimited(2, sample, &series);
  std::string label;
  AppendLengthDelimited(2, "v", &label);  // value before name
  AppendLengthDelimited(1, "n", &label);
  AppendLengthDelimited(1, label, &series);
  std::string body;
  AppendLengthDelimited(1, series, &body);

  prometheus::WriteRequest oracle;
  ASSERT_TRUE(oracle.ParseFromString(body));
  WriteRequestView view;
  ASSERT_TRUE(DecodeWriteRequest(body, &view).ok());
  ExpectMatchesOracle(oracle, view);
  EXPECT_EQ(view.samples[0].timestamp_ms, -5000);
  EXPECT_EQ(view.samples[0].value, 2.5);
  EXPECT_EQ(view.labels[0].name, "n");
}

TEST(DecodeWriteRequest, EmptyBodyIsAnEmptyRequest) {
  WriteRequestView view;
  ASSERT_TRUE(DecodeWriteRequest("", &view).ok());
  EXPECT_TRUE(view.series.empty());
  EXPECT_TRUE(view.metadata.empty());
}

TEST(DecodeWriteRequest, ViewsPointIntoTheBody) {
  prometheus::WriteRequest req;
  req.add_timeseries()->add_labels()->set_name("job");
  req.mutable_timeseries(0)->mutable_labels(0)->set_value("node");
  const std::string body = req.SerializeAsString();
  WriteRequestView view;
  ASSERT_TRUE(DecodeWriteRequest(body, &view).ok());
  const std::string_view value = view.labels[0].value;
  EXPECT_GE(value.data(), body.data());
  EXPECT_LE(value.data() + value.size(), body.data() + body.size());
}

TEST(DecodeWriteRequest, ReusesVectorCapacityAcrossDecodes) {
  prometheus::WriteRequest big;
  for (int i = 0; i < 500; ++i) {
    prometheus::TimeSeries* ts = big.add_timeseries();
    ts->add_labels()->set_name("i");
    ts->mutable_labels(0)->set_value(std::to_string(i));
    ts->add_samples()->set_value(i);
  }
  const std::string big_body = big.SerializeAsString();
  const std::string small_body = RandomRequest(3).SerializeAsString();
  WriteRequestView view;
  ASSERT_TRUE(DecodeWriteRequest(big_body, &view).ok());
  const LabelView* labels_data = view.labels.data();
  const SampleView* samples_data = view.samples.data();
  ASSERT_TRUE(DecodeWriteRequest(small_body, &view).ok());
  ASSERT_TRUE(DecodeWriteRequest(big_body, &view).ok());
  EXPECT_EQ(view.labels.data(), labels_data);
  EXPECT_EQ(view.samples.data(), samples_data);
  EXPECT_EQ(view.series.size(), 500u);
}

TEST(DecodeWriteRequest, EveryTruncationFailsCleanlyOrAgreesWithOracle) {
  prometheus::WriteRequest req = RequestWithUnknownFields();
  req.MergeFrom(RandomRequest(11));
  const std::string body = req.SerializeAsString();
  ASSERT_GT(body.size(), 300u);
  // The oracle logs each string it finds cut in the middle of a character.
  google::protobuf::LogSilencer silence_oracle;
  WriteRequestView view;
  int accepted = 0;
  for (size_t n = 0; n < body.size(); ++n) {
    // A fresh copy, so reads past the prefix would hit the sanitizer or
    // garbage instead of the rest of the valid body.
    const std::string prefix = body.substr(0, n);
    const absl::Status status = DecodeWriteRequest(prefix, &view);
    prometheus::WriteRequest oracle;
    const bool oracle_ok = oracle.ParseFromString(prefix);
    ASSERT_EQ(status.ok(), oracle_ok) << "prefix " << n << ": " << status;
    if (status.ok()) {
      ++accepted;
      ExpectMatchesOracle(oracle, view);
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << n;
      EXPECT_NE(status.message().find("byte offset"), std::string::npos);
      EXPECT_TRUE(view.series.empty());
    }
  }
  EXPECT_GT(accepted, 1);  // cuts between top-level fields are valid bodies
}

TEST(DecodeWriteRequest, CorruptedBytesNeverCrashAndAgreeWhenBothAccept) {
  const std::string body = RandomRequest(21).SerializeAsString();
  ASSERT_GT(body.size(), 100u);
  // The oracle logs every invalid UTF-8 string it meets.
  google::protobuf::LogSilencer silence_oracle;
  std::mt19937_64 rng(99);
  WriteRequestView view;
  for (size_t i = 0; i < body.size(); ++i) {
    for (int k = 0; k < 4; ++k) {
      std::string corrupt = body;
      corrupt[i] = static_cast<char>(rng());
      const absl::Status status = DecodeWriteRequest(corrupt, &view);
      prometheus::WriteRequest oracle;
      if (status.ok() && oracle.ParseFromString(corrupt)) {
        ExpectMatchesOracle(oracle, view);
      } else if (!status.ok()) {
        EXPECT_TRUE(status.code() == absl::StatusCode::kInvalidArgument ||
                    status.code() == absl::StatusCode::kUnimplemented)
            << status;
      }
    }
  }
}

TEST(DecodeWriteRequest, RejectsGroupAndUndefinedWireTypes) {
  for (uint32_t wire_type : {3u, 4u, 6u, 7u}) {
    std::string top;
    AppendTag(9, wire_type, &top);
    WriteRequestView view;
    absl::Status status = DecodeWriteRequest(top, &view);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find("wire type"), std::string::npos) << status;
    EXPECT_NE(status.message().find("byte offset 0"), std::string::npos) << status;

    std::string series;
    AppendLengthDelimited(1, "\x0a\x01n", &series);  // label {name: "n"}
    AppendTag(9, wire_type, &series);
    std::string body;
    AppendLengthDelimited(1, series, &body);
    status = DecodeWriteRequest(body, &view);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    // Offset 2 (outer tag and length) + 5 (the label field).
    EXPECT_NE(status.message().find("byte offset 7"), std::string::npos) << status;
  }
}

TEST(DecodeWriteRequest, RejectsKnownFieldWithWrongWireType) {
  std::string body;
  AppendTag(1, 0, &body);  // timeseries as a varint
  AppendVarint(3, &body);
  WriteRequestView view;
  const absl::Status status = DecodeWriteRequest(body, &view);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("WriteRequest.timeseries"), std::string::npos) << status;
}

TEST(DecodeWriteRequest, RejectsOverlongVarint) {
  std::string sample;
  AppendTag(2, 0, &sample);
  sample.append(10, '\xff');
  sample.push_back('\x01');  // an 11th byte
  std::string series;
  AppendLengthDelimited(2, sample, &series);
  std::string body;
  AppendLengthDelimited(1, series, &body);
  WriteRequestView view;
  const absl::Status status = DecodeWriteRequest(body, &view);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("varint"), std::string::npos) << status;
}

TEST(DecodeWriteRequest, RejectsLengthPastTheEnd) {
  std::string body;
  AppendTag(1, 2, &body);
  AppendVarint(1000, &body);
  body.append("short");
  WriteRequestView view;
  const absl::Status status = DecodeWriteRequest(body, &view);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("length 1000"), std::string::npos) << status;
  EXPECT_NE(status.message().find("byte offset 1"), std::string::npos) << status;
}

TEST(DecodeWriteRequest, RejectsFieldNumberZero) {
  WriteRequestView view;
  const absl::Status status = DecodeWriteRequest(std::string("\x02\x00", 2), &view);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("field number 0"), std::string::npos) << status;
}

TEST(DecodeWriteRequest, RejectsRemoteWrite2BodyAsUnimplemented) {
  // io.prometheus.write.v2.Request: symbols (4) then a timeseries (5) that
  // refers to them. A 1.0 parser sees only unknown fields here.
  std::string body;
  AppendLengthDelimited(4, "", &body);
  AppendLengthDelimited(4, "__name__", &body);
  AppendLengthDelimited(4, "up", &body);
  std::string series;
  AppendLengthDelimited(1, std::string("\x01\x02", 2), &series);  // packed refs
  AppendLengthDelimited(5, series, &body);
  prometheus::WriteRequest v1;
  ASSERT_TRUE(v1.ParseFromString(body));
  EXPECT_EQ(v1.timeseries_size(), 0);  // why the check is needed

  WriteRequestView view;
  const absl::Status status = DecodeWriteRequest(body, &view);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(status.message().find("2.0"), std::string::npos) << status;
}

// Builds a one-series request with the given labels and one sample.
std::string SeriesBody(std::vector<std::pair<std::string, std::string>> labels, double value,
                       int64_t t) {
  prometheus::WriteRequest req;
  prometheus::TimeSeries* ts = req.add_timeseries();
  for (const auto& [name, val] : labels) {
    prometheus::Label* l = ts->add_labels();
    l->set_name(name);
    l->set_value(val);
  }
  ts->add_samples()->set_value(value);
  ts->mutable_samples(0)->set_timestamp(t);
  return req.SerializeAsString();
}

uint64_t HashOf(const std::string& body) {
  WriteRequestView view;
  EXPECT_TRUE(DecodeWriteRequest(body, &view).ok());
  EXPECT_EQ(view.series.size(), 1u);
  return view.series.empty() ? 0 : view.series[0].label_hash;
}

TEST(DecodeWriteRequest, LabelHashDependsOnLabelsOnly) {
  const std::vector<std::pair<std::string, std::string>> labels = {
      {"__name__", "up"}, {"instance", "a:9100"}, {"job", "node"}};
  EXPECT_EQ(HashOf(SeriesBody(labels, 1, 1000)), HashOf(SeriesBody(labels, 0, 2000)));

  const uint64_t base = HashOf(SeriesBody(labels, 1, 1000));
  auto changed = labels;
  changed[1].second = "b:9100";
  EXPECT_NE(HashOf(SeriesBody(changed, 1, 1000)), base);
  changed = labels;
  changed.pop_back();
  EXPECT_NE(HashOf(SeriesBody(changed, 1, 1000)), base);
  // Moving bytes across the name/value or label boundary changes the hash.
  EXPECT_NE(HashOf(SeriesBody({{"ab", "c"}}, 1, 1)), HashOf(SeriesBody({{"a", "bc"}}, 1, 1)));
  EXPECT_NE(HashOf(SeriesBody({{"a", "b"}, {"c", "d"}}, 1, 1)),
            HashOf(SeriesBody({{"a", "bc"}, {"", "d"}}, 1, 1)));
}

TEST(DecodeWriteRequest, RepeatedSeriesInOneRequestHashEqual) {
  prometheus::WriteRequest req;
  prometheus::TimeSeries* first = req.add_timeseries();
  for (const char* name : {"__name__", "job", "pod"}) {
    prometheus::Label* l = first->add_labels();
    l->set_name(name);
    l->set_value("v");
  }
  first->add_samples()->set_value(1);
  prometheus::TimeSeries copy = *first;
  copy.mutable_samples(0)->set_value(123);
  copy.mutable_samples(0)->set_timestamp(15000);
  prometheus::TimeSeries* other = req.add_timeseries();
  *other = copy;
  other->mutable_labels(2)->set_value("w");
  *req.add_timeseries() = copy;
  WriteRequestView view;
  ASSERT_TRUE(DecodeWriteRequest(req.SerializeAsString(), &view).ok());
  ASSERT_EQ(view.series.size(), 3u);
  EXPECT_EQ(view.series[0].label_hash, view.series[2].label_hash);
  EXPECT_NE(view.series[0].label_hash, view.series[1].label_hash);
}

}  // namespace
