// The hand-written ReadResponse encoder against the generated message: the
// same bytes, and the generated parser reads back what was written.
#include "proto/read_response.h"

#include <bit>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "prometheus/remote.pb.h"

namespace kad::proto {
namespace {

using LabelPair = ReadResponseWriter::LabelPair;
using SamplePair = ReadResponseWriter::SamplePair;

struct Series {
  std::vector<LabelPair> labels;
  std::vector<SamplePair> samples;
};

// What the generated code serialises for `results`.
std::string Generated(const std::vector<std::vector<Series>>& results) {
  prometheus::ReadResponse response;
  for (const std::vector<Series>& result : results) {
    prometheus::QueryResult* r = response.add_results();
    for (const Series& s : result) {
      prometheus::TimeSeries* ts = r->add_timeseries();
      for (const auto& [name, value] : s.labels) {
        prometheus::Label* l = ts->add_labels();
        l->set_name(std::string(name));
        l->set_value(std::string(value));
      }
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
  ReadResponseWriter w;
  for (const std::vector<Series>& result : results) {
    w.BeginResult();
    for (const Series& s : result) w.AddSeries(s.labels, s.samples);
  }
  return w.Finish();
}

TEST(ReadResponseWriter, WritesTheGeneratedBytes) {
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
}

TEST(ReadResponseWriter, NoResultsIsAnEmptyMessageAndFinishEmptiesTheWriter) {
  ReadResponseWriter w;
  EXPECT_EQ(w.Finish(), "");
  w.BeginResult();
  w.AddSeries(std::vector<LabelPair>{{"__name__", "a"}}, std::vector<SamplePair>{{1, 2}});
  const std::string first = w.Finish();
  EXPECT_EQ(first, Generated({{{{{"__name__", "a"}}, {{1, 2}}}}}));
  w.BeginResult();
  EXPECT_EQ(w.Finish(), Generated({{}}));
}

}  // namespace
}  // namespace kad::proto
