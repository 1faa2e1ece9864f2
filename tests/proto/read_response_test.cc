// The hand-written series writer against the generated messages: the same
// bytes for SAMPLES and STREAMED_XOR_CHUNKS answers, and the generated
// parser reads back what was written.
#include "proto/read_response.h"

#include <bit>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "prometheus/remote.pb.h"
#include "proto/chunked_read.h"

namespace kad::proto {
namespace {

using LabelPair = SeriesWriter::LabelPair;
using SamplePair = std::pair<int64_t, double>;

struct Series {
  std::vector<LabelPair> labels;
  std::vector<SamplePair> samples;
};

void CopyLabels(const Series& s, google::protobuf::RepeatedPtrField<prometheus::Label>* out) {
  for (const auto& [name, value] : s.labels) {
    prometheus::Label* l = out->Add();
    l->set_name(std::string(name));
    l->set_value(std::string(value));
  }
}

// What the generated code serialises for `results`.
std::string Generated(const std::vector<std::vector<Series>>& results) {
  prometheus::ReadResponse response;
  for (const std::vector<Series>& result : results) {
    prometheus::QueryResult* r = response.add_results();
    for (const Series& s : result) {
      prometheus::TimeSeries* ts = r->add_timeseries();
      CopyLabels(s, ts->mutable_labels());
      for (const auto& [t, v] : s.samples) {
        prometheus::Sample* sample = ts->add_samples();
        sample->set_timestamp(t);
        sample->set_value(v);
      }
    }
  }
  return response.SerializeAsString();
}

std::string Written(const std::vector<std::vector<Series>>& results) {
  std::string message;
  SeriesWriter w;
  for (const std::vector<Series>& result : results) {
    std::string series;
    for (const Series& s : result) {
      w.Begin(s.labels);
      for (const auto& [t, v] : s.samples) w.AddSample(t, v);
      w.AppendTo(&series);
    }
    AppendQueryResultHeader(series.size(), &message);
    message.append(series);
  }
  return message;
}

TEST(SeriesWriter, WritesTheGeneratedReadResponse) {
  const double nan = std::bit_cast<double>(uint64_t{0x7ff8dead0000beef});
  std::vector<SamplePair> long_series;
  for (int i = 0; i < 300; ++i) long_series.emplace_back(1'700'000'000'000 + i * 15'000, i * 0.1);
  const std::vector<std::vector<Series>> results = {
      {{{{"__name__", "up"}, {"job", "node"}}, {{1000, 1.0}, {2000, 0.0}}},
       // Zero and negative timestamps, -0.0, NaN payloads, infinities.
       {{{"__name__", "x"}},
        {{0, -0.0},
         {-1, nan},
         {std::numeric_limits<int64_t>::min(), std::numeric_limits<double>::infinity()},
         {std::numeric_limits<int64_t>::max(), -1e308}}},
       // No samples; a label with an empty value (not sent by us, but encodable).
       {{{"__name__", "empty"}, {"a", ""}}, {}},
       {{{"__name__", std::string_view("long")}}, long_series}},
      {},  // a query that matched nothing
      {{{{"__name__", "second"}}, {{5, 5.5}}}},
  };
  EXPECT_EQ(Written(results), Generated(results));
  prometheus::ReadResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(Written(results)));
  ASSERT_EQ(parsed.results_size(), 3);
  EXPECT_EQ(parsed.results(0).timeseries(3).samples_size(), 300);
  EXPECT_EQ(parsed.results(0).timeseries(1).samples(2).timestamp(),
            std::numeric_limits<int64_t>::min());
  EXPECT_EQ(parsed.results(1).timeseries_size(), 0);
  EXPECT_EQ(parsed.results(2).timeseries(0).labels(0).value(), "second");
  EXPECT_EQ(Written({}), "");
}

struct Chunk {
  int64_t min_t;
  int64_t max_t;
  std::string data;
};

TEST(SeriesWriter, WritesTheGeneratedChunkedReadResponseFrames) {
  const std::vector<LabelPair> labels = {{"__name__", "up"}, {"pod", "a-1"}};
  const std::vector<Chunk> chunks = {
      {-5, 0, std::string("\x00\x01\x09", 3)},
      {0, 0, std::string()},
      {1, std::numeric_limits<int64_t>::max(), std::string(300, 'c')}};
  for (const int64_t query : {int64_t{0}, int64_t{1}, int64_t{200}}) {
    prometheus::ChunkedReadResponse want;
    want.set_query_index(query);
    prometheus::ChunkedSeries* series = want.add_chunked_series();
    CopyLabels({labels, {}}, series->mutable_labels());
    SeriesWriter w;
    w.Begin(labels);
    for (const Chunk& c : chunks) {
      prometheus::Chunk* chunk = series->add_chunks();
      chunk->set_min_time_ms(c.min_t);
      chunk->set_max_time_ms(c.max_t);
      chunk->set_type(prometheus::Chunk::XOR);
      chunk->set_data(c.data);
      w.AddChunk(c.min_t, c.max_t, c.data);
    }
    std::string framed = "before";
    w.AppendFrame(query, &framed);
    std::string expected = "before";
    AppendChunkedFrame(want.SerializeAsString(), &expected);
    EXPECT_EQ(framed, expected) << query;
    // The next frame of a long series: the same labels, the chunks after.
    EXPECT_GT(w.data_bytes(), 300u);
    w.ClearData();
    EXPECT_EQ(w.data_bytes(), 0u);
    w.AddChunk(7, 8, "x");
    std::string next;
    w.AppendFrame(query, &next);
    prometheus::ChunkedReadResponse more = want;
    more.mutable_chunked_series(0)->clear_chunks();
    prometheus::Chunk* chunk = more.mutable_chunked_series(0)->add_chunks();
    chunk->set_min_time_ms(7);
    chunk->set_max_time_ms(8);
    chunk->set_type(prometheus::Chunk::XOR);
    chunk->set_data("x");
    std::string expected_next;
    AppendChunkedFrame(more.SerializeAsString(), &expected_next);
    EXPECT_EQ(next, expected_next) << query;
  }
}

}  // namespace
}  // namespace kad::proto
