// Tests for the zero-copy io.prometheus.write.v2.Request decoder, with the
// generated protobuf parser as the oracle.
#include "proto/write_request_v2.h"

#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/unknown_field_set.h>

#include <bit>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "prometheus/remote.pb.h"
#include "prometheus/write_v2.pb.h"
#include "proto/write_request.h"
#include "tests/proto/wire_writer.h"
#include "tests/support/remote_client.h"

namespace {

namespace v2 = io::prometheus::write::v2;
using kad::proto::DecodeWriteRequest;
using kad::proto::DecodeWriteRequestV2;
using kad::proto::LabelView;
using kad::proto::MetricType;
using kad::proto::SampleView;
using kad::proto::WriteRequestView;
using kad::testing::AppendFixed64;
using kad::testing::AppendLengthDelimited;
using kad::testing::AppendTag;
using kad::testing::AppendVarint;
using kad::testing::WriteRequestV2Builder;

// The symbol a ref points at, as the oracle sees it.
std::string_view SymbolOf(const v2::Request& req, uint32_t ref) {
  return ref < static_cast<uint32_t>(req.symbols_size()) ? std::string_view(req.symbols(ref))
                                                         : std::string_view();
}

// Compares every decoded field with what the generated parser produced.
void ExpectMatchesOracle(const v2::Request& want, const WriteRequestView& got) {
  ASSERT_EQ(got.symbols.size(), static_cast<size_t>(want.symbols_size()));
  for (int i = 0; i < want.symbols_size(); ++i) EXPECT_EQ(got.symbols[i], want.symbols(i));
  ASSERT_EQ(got.series.size(), static_cast<size_t>(want.timeseries_size()));
  ASSERT_EQ(got.series_metadata.size(), got.series.size());
  size_t histograms = 0;
  size_t exemplars = 0;
  for (int i = 0; i < want.timeseries_size(); ++i) {
    const v2::TimeSeries& ts = want.timeseries(i);
    const auto labels = got.LabelsOf(got.series[i]);
    ASSERT_EQ(labels.size() * 2, static_cast<size_t>(ts.labels_refs_size())) << i;
    for (size_t j = 0; j < labels.size(); ++j) {
      EXPECT_EQ(labels[j].name, SymbolOf(want, ts.labels_refs(2 * j))) << i << "/" << j;
      EXPECT_EQ(labels[j].value, SymbolOf(want, ts.labels_refs(2 * j + 1))) << i << "/" << j;
    }
    const auto samples = got.SamplesOf(got.series[i]);
    ASSERT_EQ(samples.size(), static_cast<size_t>(ts.samples_size())) << i;
    for (int j = 0; j < ts.samples_size(); ++j) {
      EXPECT_EQ(samples[j].timestamp_ms, ts.samples(j).timestamp());
      EXPECT_EQ(std::bit_cast<uint64_t>(samples[j].value),
                std::bit_cast<uint64_t>(ts.samples(j).value()));
    }
    const kad::proto::SeriesMetadataView& m = got.series_metadata[i];
    const int type = ts.metadata().type();
    EXPECT_EQ(static_cast<int>(m.type), type <= 7 ? type : 0) << i;
    EXPECT_EQ(m.help, SymbolOf(want, ts.metadata().help_ref())) << i;
    EXPECT_EQ(m.unit, SymbolOf(want, ts.metadata().unit_ref())) << i;
    EXPECT_EQ(m.created_timestamp_ms, ts.created_timestamp()) << i;
    histograms += ts.histograms_size();
    exemplars += ts.exemplars_size();
  }
  EXPECT_EQ(got.histogram_count, histograms);
  EXPECT_EQ(got.exemplar_count, exemplars);
  EXPECT_TRUE(got.metadata.empty());  // 1.0's per-family metadata
}

constexpr const char* kLabelNames[] = {"__name__", "container", "instance",
                                       "job",      "namespace", "pod"};
constexpr std::string_view kLabelValues[] = {
    "node_load1",       "kube-system", "10.0.0.1:9100", "",
    "ünïcødé ✓ 日本語", "a\nb\"c",     "🙂",          std::string_view("nul\0byte", 8)};

double InterestingValue(std::mt19937_64& rng) {
  switch (rng() % 6) {
    case 0:
      return std::bit_cast<double>(uint64_t{0x7ff0000000000002});  // stale
    case 1:
      return std::bit_cast<double>(uint64_t{0x7ff8000000000001});
    case 2:
      return -0.0;
    case 3:
      return std::numeric_limits<double>::infinity();
    default:
      return std::uniform_real_distribution<double>(-1e9, 1e9)(rng);
  }
}

v2::Request RandomRequest(uint64_t seed) {
  std::mt19937_64 rng(seed);
  WriteRequestV2Builder b;
  const int num_series = static_cast<int>(rng() % 8);
  for (int i = 0; i < num_series; ++i) {
    kad::testing::LabelPairs labels;
    const int num_labels = 1 + static_cast<int>(rng() % 6);
    for (int k = 0; k < num_labels; ++k) {
      labels.emplace_back(kLabelNames[k],
                          std::string(kLabelValues[rng() % std::size(kLabelValues)]));
    }
    v2::TimeSeries* ts = b.AddSeries(std::move(labels));
    const int num_samples = static_cast<int>(rng() % 4);
    for (int j = 0; j < num_samples; ++j) {
      v2::Sample* s = ts->add_samples();
      s->set_value(InterestingValue(rng));
      s->set_timestamp(static_cast<int64_t>(rng()) >> (rng() % 64));
    }
    if (rng() % 3 == 0) {
      v2::Exemplar* e = ts->add_exemplars();
      e->add_labels_refs(b.Symbol("trace_id"));
      e->add_labels_refs(b.Symbol("abc" + std::to_string(rng() % 5)));
      e->set_value(1.5);
      e->set_timestamp(1700000000000);
    }
    if (rng() % 4 == 0) {
      v2::Histogram* h = ts->add_histograms();
      h->set_count_int(10);
      h->set_sum(12.5);
      h->set_schema(-2);
      h->add_positive_spans()->set_length(2);
      h->add_positive_deltas(3);
      h->add_positive_deltas(-1);
      h->set_timestamp(1700000000000);
    }
    if (rng() % 4 != 0) {
      v2::Metadata* m = ts->mutable_metadata();
      m->set_type(static_cast<v2::Metadata::MetricType>(rng() % 8));
      if (rng() % 2) m->set_help_ref(b.Symbol("Help text " + std::to_string(rng() % 3)));
      if (rng() % 2) m->set_unit_ref(b.Symbol("seconds"));
    }
    if (rng() % 3 == 0) ts->set_created_timestamp(static_cast<int64_t>(rng() >> 20));
  }
  return b.request();
}

// A request with unknown fields of every proto3 wire type at every level.
v2::Request RequestWithUnknownFields() {
  WriteRequestV2Builder b;
  v2::TimeSeries* ts = b.Add({{"__name__", "up"}}, 42, 1);
  ts->mutable_metadata()->set_type(v2::Metadata::METRIC_TYPE_GAUGE);
  ts->add_exemplars()->set_value(2);
  v2::Request req = b.request();
  req.MergeFrom(RandomRequest(7));
  auto add_unknowns = [](google::protobuf::Message* m) {
    auto* unknown = m->GetReflection()->MutableUnknownFields(m);
    unknown->AddVarint(90, 12345678901);
    unknown->AddFixed32(91, 0xdeadbeef);
    unknown->AddFixed64(92, 0x0123456789abcdef);
    unknown->AddLengthDelimited(93, "ignored");
  };
  add_unknowns(&req);
  v2::TimeSeries* first = req.mutable_timeseries(0);
  add_unknowns(first);
  add_unknowns(first->mutable_samples(0));
  add_unknowns(first->mutable_metadata());
  add_unknowns(first->mutable_exemplars(0));
  return req;
}

TEST(DecodeWriteRequestV2, MatchesGeneratedParserOnVariedRequests) {
  WriteRequestView view;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    const std::string body = RandomRequest(seed).SerializeAsString();
    v2::Request oracle;
    ASSERT_TRUE(oracle.ParseFromString(body));
    const absl::Status status = DecodeWriteRequestV2(body, &view);
    ASSERT_TRUE(status.ok()) << "seed " << seed << ": " << status;
    ExpectMatchesOracle(oracle, view);
  }
}

TEST(DecodeWriteRequestV2, SkipsUnknownFieldsAtEveryLevel) {
  const std::string body = RequestWithUnknownFields().SerializeAsString();
  v2::Request oracle;
  ASSERT_TRUE(oracle.ParseFromString(body));
  WriteRequestView view;
  const absl::Status status = DecodeWriteRequestV2(body, &view);
  ASSERT_TRUE(status.ok()) << status;
  ExpectMatchesOracle(oracle, view);
  EXPECT_EQ(view.LabelsOf(view.series[0])[0].value, "up");
  EXPECT_EQ(view.series_metadata[0].type, MetricType::kGauge);
}

TEST(DecodeWriteRequestV2, DecodesToTheSameViewAsThe1_0Request) {
  kad::testing::WriteRequestBuilder v1;
  for (int i = 0; i < 50; ++i) {
    v1.Add({{"__name__", "node_load1"}, {"instance", "h" + std::to_string(i % 7)}, {"job", "n"}},
           1000 * i, i * 0.25);
  }
  WriteRequestV2Builder b;
  b.AddAll(v1.request());
  const std::string body1 = v1.request().SerializeAsString();
  const std::string body2 = b.request().SerializeAsString();
  ASSERT_LT(body2.size(), body1.size());  // what interning is for
  WriteRequestView view1, view2;
  ASSERT_TRUE(DecodeWriteRequest(body1, &view1).ok());
  ASSERT_TRUE(DecodeWriteRequestV2(body2, &view2).ok());
  ASSERT_EQ(view1.series.size(), view2.series.size());
  for (size_t i = 0; i < view1.series.size(); ++i) {
    const auto l1 = view1.LabelsOf(view1.series[i]);
    const auto l2 = view2.LabelsOf(view2.series[i]);
    ASSERT_EQ(l1.size(), l2.size());
    for (size_t j = 0; j < l1.size(); ++j) {
      EXPECT_EQ(l1[j].name, l2[j].name);
      EXPECT_EQ(l1[j].value, l2[j].value);
    }
    const auto s1 = view1.SamplesOf(view1.series[i]);
    const auto s2 = view2.SamplesOf(view2.series[i]);
    ASSERT_EQ(s1.size(), 1u);
    ASSERT_EQ(s2.size(), 1u);
    EXPECT_EQ(s1[0].timestamp_ms, s2[0].timestamp_ms);
    EXPECT_EQ(s1[0].value, s2[0].value);
  }
}

TEST(DecodeWriteRequestV2, DecodesMetadataAndCreatedTimestampPerSeries) {
  WriteRequestV2Builder b;
  v2::TimeSeries* ts = b.Add({{"__name__", "http_requests_total"}}, 5000, 17);
  ts->set_created_timestamp(1234);
  v2::Metadata* m = ts->mutable_metadata();
  m->set_type(v2::Metadata::METRIC_TYPE_COUNTER);
  m->set_help_ref(b.Symbol("Requests served."));
  m->set_unit_ref(b.Symbol("requests"));
  b.Add({{"__name__", "temperature"}}, 5000, 21);  // no metadata at all
  const std::string body = b.request().SerializeAsString();
  WriteRequestView view;
  ASSERT_TRUE(DecodeWriteRequestV2(body, &view).ok());
  ASSERT_EQ(view.series_metadata.size(), 2u);
  EXPECT_EQ(view.series_metadata[0].type, MetricType::kCounter);
  EXPECT_EQ(view.series_metadata[0].help, "Requests served.");
  EXPECT_EQ(view.series_metadata[0].unit, "requests");
  EXPECT_EQ(view.series_metadata[0].created_timestamp_ms, 1234);
  EXPECT_EQ(view.series_metadata[1].type, MetricType::kUnknown);
  EXPECT_EQ(view.series_metadata[1].help, "");
  EXPECT_EQ(view.series_metadata[1].created_timestamp_ms, 0);
}

TEST(DecodeWriteRequestV2, ReadsMetricTypesFromNewerSendersAsUnknown) {
  std::string metadata;
  AppendTag(1, 0, &metadata);
  AppendVarint(42, &metadata);
  std::string series;
  AppendLengthDelimited(5, metadata, &series);
  std::string body;
  AppendLengthDelimited(4, "", &body);
  AppendLengthDelimited(5, series, &body);
  WriteRequestView view;
  ASSERT_TRUE(DecodeWriteRequestV2(body, &view).ok());
  ASSERT_EQ(view.series_metadata.size(), 1u);
  EXPECT_EQ(view.series_metadata[0].type, MetricType::kUnknown);
}

// symbols "", "__name__", "up", "job", "node"; refs 1..4 make
// {__name__="up", job="node"}.
std::string Symbols() {
  std::string body;
  for (std::string_view s : {"", "__name__", "up", "job", "node"}) {
    AppendLengthDelimited(4, s, &body);
  }
  return body;
}

std::string OneSample(double value, int64_t t) {
  std::string sample;
  AppendFixed64(1, std::bit_cast<uint64_t>(value), &sample);
  AppendTag(2, 0, &sample);
  AppendVarint(static_cast<uint64_t>(t), &sample);
  return sample;
}

TEST(DecodeWriteRequestV2, AcceptsUnpackedAndSplitRefsAndSymbolsAfterSeries) {
  // Label refs unpacked, packed, and a pair split across runs, around the
  // sample; the symbols come after the series that uses them.
  std::string series;
  AppendTag(1, 0, &series);
  AppendVarint(1, &series);
  AppendLengthDelimited(1, std::string("\x02\x03", 2), &series);
  AppendLengthDelimited(2, OneSample(0.5, 7000), &series);
  AppendTag(1, 0, &series);
  AppendVarint(4, &series);
  std::string body;
  AppendLengthDelimited(5, series, &body);
  body += Symbols();

  v2::Request oracle;
  ASSERT_TRUE(oracle.ParseFromString(body));
  ASSERT_EQ(oracle.timeseries(0).labels_refs_size(), 4);
  WriteRequestView view;
  const absl::Status status = DecodeWriteRequestV2(body, &view);
  ASSERT_TRUE(status.ok()) << status;
  ExpectMatchesOracle(oracle, view);
  ASSERT_EQ(view.labels.size(), 2u);
  EXPECT_EQ(view.labels[1].name, "job");
  EXPECT_EQ(view.labels[1].value, "node");
  EXPECT_EQ(view.samples[0].timestamp_ms, 7000);
}

TEST(DecodeWriteRequestV2, TruncatesWideRefsAsProtobufDoes) {
  std::string series;
  std::string refs;
  AppendVarint((uint64_t{1} << 32) | 1, &refs);  // reads as uint32 1
  AppendVarint(2, &refs);
  AppendLengthDelimited(1, refs, &series);
  std::string body = Symbols();
  AppendLengthDelimited(5, series, &body);
  v2::Request oracle;
  ASSERT_TRUE(oracle.ParseFromString(body));
  WriteRequestView view;
  ASSERT_TRUE(DecodeWriteRequestV2(body, &view).ok());
  ExpectMatchesOracle(oracle, view);
  EXPECT_EQ(view.labels[0].name, "__name__");
}

// A body whose one series has the given packed label refs (and a sample).
std::string BodyWithLabelRefs(std::vector<uint64_t> label_refs) {
  std::string refs;
  for (uint64_t r : label_refs) AppendVarint(r, &refs);
  std::string series;
  AppendLengthDelimited(1, refs, &series);
  AppendLengthDelimited(2, OneSample(1, 1), &series);
  std::string body = Symbols();
  AppendLengthDelimited(5, series, &body);
  return body;
}

void ExpectRejected(const std::string& body, std::string_view reason) {
  WriteRequestView view;
  const absl::Status status = DecodeWriteRequestV2(body, &view);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(std::string(status.message()).find(reason), std::string::npos) << status;
  EXPECT_EQ(status.message().find('\n'), std::string::npos) << status;
  // Nothing of a rejected request is left to ingest.
  EXPECT_TRUE(view.series.empty());
  EXPECT_TRUE(view.labels.empty());
  EXPECT_TRUE(view.samples.empty());
  EXPECT_TRUE(view.symbols.empty());
}

TEST(DecodeWriteRequestV2, RejectsLabelRefOutsideTheSymbols) {
  WriteRequestView control;
  ASSERT_TRUE(DecodeWriteRequestV2(BodyWithLabelRefs({1, 2, 3, 4}), &control).ok());
  ExpectRejected(BodyWithLabelRefs({1, 2, 3, 5}), "label ref 5 of series 0 is outside");
  ExpectRejected(BodyWithLabelRefs({1, 2, 1000000, 4}), "(5 symbols)");
}

TEST(DecodeWriteRequestV2, RejectsOddLabelRefCount) {
  ExpectRejected(BodyWithLabelRefs({1, 2, 3}), "odd number of label refs");
}

TEST(DecodeWriteRequestV2, RejectsLabelRefsWithoutSymbols) {
  std::string series;
  AppendLengthDelimited(1, std::string("\x00\x00", 2), &series);
  std::string body;
  AppendLengthDelimited(5, series, &body);
  ExpectRejected(body, "(0 symbols)");
}

TEST(DecodeWriteRequestV2, RejectsMetadataRefsOutsideTheSymbols) {
  for (uint32_t field : {3u, 4u}) {
    std::string metadata;
    AppendTag(1, 0, &metadata);
    AppendVarint(1, &metadata);
    AppendTag(field, 0, &metadata);
    AppendVarint(9, &metadata);
    std::string series;
    AppendLengthDelimited(1, std::string("\x01\x02", 2), &series);
    AppendLengthDelimited(5, metadata, &series);
    std::string body = Symbols();
    AppendLengthDelimited(5, series, &body);
    ExpectRejected(body, field == 3 ? "help_ref 9" : "unit_ref 9");
  }
}

TEST(DecodeWriteRequestV2, RejectsBadExemplarRefs) {
  for (const std::string& refs : {std::string("\x01\x07", 2), std::string("\x01", 1)}) {
    std::string exemplar;
    AppendLengthDelimited(1, refs, &exemplar);
    AppendFixed64(2, std::bit_cast<uint64_t>(1.0), &exemplar);
    std::string series;
    AppendLengthDelimited(1, std::string("\x01\x02", 2), &series);
    AppendLengthDelimited(4, exemplar, &series);
    std::string body = Symbols();
    AppendLengthDelimited(5, series, &body);
    ExpectRejected(body, refs.size() == 2 ? "exemplar label ref 7" : "odd number");
  }
}

TEST(DecodeWriteRequestV2, Rejects1_0BodyAsUnimplemented) {
  kad::testing::WriteRequestBuilder v1;
  v1.Add({{"__name__", "up"}}, 1000, 1);
  const std::string body = v1.request().SerializeAsString();
  v2::Request oracle;
  ASSERT_TRUE(oracle.ParseFromString(body));
  EXPECT_EQ(oracle.timeseries_size(), 0);  // why the check is needed
  WriteRequestView view;
  const absl::Status status = DecodeWriteRequestV2(body, &view);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented) << status;
  EXPECT_NE(status.message().find("prometheus.WriteRequest"), std::string::npos) << status;
}

TEST(DecodeWriteRequestV2, CountsHistogramsAndExemplarsWithoutSamples) {
  WriteRequestV2Builder b;
  v2::TimeSeries* ts = b.AddSeries({{"__name__", "rpc_latency_seconds"}});
  for (int i = 0; i < 3; ++i) ts->add_histograms()->set_count_float(i + 0.5);
  for (int i = 0; i < 2; ++i) ts->add_exemplars()->set_value(i);
  WriteRequestView view;
  ASSERT_TRUE(DecodeWriteRequestV2(b.request().SerializeAsString(), &view).ok());
  ASSERT_EQ(view.series.size(), 1u);
  EXPECT_TRUE(view.SamplesOf(view.series[0]).empty());
  EXPECT_EQ(view.histogram_count, 3u);
  EXPECT_EQ(view.exemplar_count, 2u);
}

TEST(DecodeWriteRequestV2, EmptyBodyIsAnEmptyRequest) {
  WriteRequestView view;
  ASSERT_TRUE(DecodeWriteRequestV2("", &view).ok());
  EXPECT_TRUE(view.series.empty());
}

TEST(DecodeWriteRequestV2, ViewsPointIntoTheBodyAndVectorsAreReused) {
  WriteRequestV2Builder big;
  for (int i = 0; i < 500; ++i) big.Add({{"i", std::to_string(i)}}, i, i);
  const std::string big_body = big.request().SerializeAsString();
  const std::string small_body = RandomRequest(3).SerializeAsString();
  WriteRequestView view;
  ASSERT_TRUE(DecodeWriteRequestV2(big_body, &view).ok());
  const std::string_view value = view.labels[499].value;
  EXPECT_GE(value.data(), big_body.data());
  EXPECT_LE(value.data() + value.size(), big_body.data() + big_body.size());
  const LabelView* labels_data = view.labels.data();
  const SampleView* samples_data = view.samples.data();
  const std::string_view* symbols_data = view.symbols.data();
  ASSERT_TRUE(DecodeWriteRequestV2(small_body, &view).ok());
  ASSERT_TRUE(DecodeWriteRequestV2(big_body, &view).ok());
  EXPECT_EQ(view.labels.data(), labels_data);
  EXPECT_EQ(view.samples.data(), samples_data);
  EXPECT_EQ(view.symbols.data(), symbols_data);
  EXPECT_EQ(view.series.size(), 500u);
}

TEST(DecodeWriteRequestV2, LabelHashDependsOnLabelsNotOnSymbolOrder) {
  auto hash_of = [](const WriteRequestV2Builder& b) {
    const std::string body = b.request().SerializeAsString();
    WriteRequestView view;
    EXPECT_TRUE(DecodeWriteRequestV2(body, &view).ok());
    return view.series.back().label_hash;
  };
  WriteRequestV2Builder a;
  a.Add({{"__name__", "up"}, {"job", "node"}}, 1, 1);
  WriteRequestV2Builder b;  // other symbols first: other refs, same labels
  b.Symbol("zzz");
  b.Symbol("node");
  b.Add({{"__name__", "up"}, {"job", "node"}}, 2, 5);
  WriteRequestV2Builder c;
  c.Add({{"__name__", "up"}, {"job", "nodf"}}, 1, 1);
  WriteRequestV2Builder d;
  d.Add({{"__name__", "up"}, {"jo", "bnode"}}, 1, 1);
  EXPECT_EQ(hash_of(a), hash_of(b));
  EXPECT_NE(hash_of(a), hash_of(c));
  EXPECT_NE(hash_of(a), hash_of(d));
}

TEST(DecodeWriteRequestV2, EveryTruncationFailsCleanlyOrAgreesWithOracle) {
  v2::Request req = RequestWithUnknownFields();
  req.MergeFrom(RandomRequest(11));
  const std::string body = req.SerializeAsString();
  ASSERT_GT(body.size(), 300u);
  google::protobuf::LogSilencer silence_oracle;
  WriteRequestView view;
  int accepted = 0;
  for (size_t n = 0; n < body.size(); ++n) {
    // A fresh copy, so reads past the prefix would hit the sanitizer or
    // garbage instead of the rest of the valid body.
    const std::string prefix = body.substr(0, n);
    const absl::Status status = DecodeWriteRequestV2(prefix, &view);
    v2::Request oracle;
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

TEST(DecodeWriteRequestV2, CorruptedBytesNeverCrashAndAgreeWhenBothAccept) {
  const std::string body = RandomRequest(21).SerializeAsString();
  ASSERT_GT(body.size(), 100u);
  google::protobuf::LogSilencer silence_oracle;
  std::mt19937_64 rng(99);
  WriteRequestView view;
  int both_accepted = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    for (int k = 0; k < 4; ++k) {
      std::string corrupt = body;
      corrupt[i] = static_cast<char>(rng());
      const absl::Status status = DecodeWriteRequestV2(corrupt, &view);
      v2::Request oracle;
      if (status.ok() && oracle.ParseFromString(corrupt)) {
        ++both_accepted;
        ExpectMatchesOracle(oracle, view);
      } else if (!status.ok()) {
        EXPECT_TRUE(status.code() == absl::StatusCode::kInvalidArgument ||
                    status.code() == absl::StatusCode::kUnimplemented)
            << status;
      }
    }
  }
  EXPECT_GT(both_accepted, 0);
}

TEST(DecodeWriteRequestV2, RejectsKnownFieldWithWrongWireType) {
  std::string body;
  AppendTag(4, 0, &body);  // symbols as a varint
  AppendVarint(3, &body);
  WriteRequestView view;
  const absl::Status status = DecodeWriteRequestV2(body, &view);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("Request.symbols"), std::string::npos) << status;
  EXPECT_NE(status.message().find("io.prometheus.write.v2.Request"), std::string::npos);
}

}  // namespace
