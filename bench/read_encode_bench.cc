// Remote-read encode cost per sample: what the shards do with the stored
// chunks of what a Grafana panel asks for -- 1,000 forecast series of one
// value type over an hour of 15 s points, stored in blocks of 120 points --
// and the response built from them: SAMPLES (decode, TimeSeries, snappy)
// and STREAMED_XOR_CHUNKS (the stored chunks, framed). Arg 0: the hour is
// whole blocks; arg 1: it cuts into each series' first and last block, whose
// points in range are decoded (and re-encoded when streamed).
//
//   read_encode_bench --benchmark_repetitions=3
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "adapter/forecast_series.h"
#include "adapter/malloc_tuning.h"
#include "adapter/read_answer.h"
#include "adapter/remote_read.h"
#include "benchmark/benchmark.h"
#include "storage/block_codec.h"

namespace {

using kad::adapter::EncodeLabels;
using kad::adapter::LabelsView;
using kad::adapter::QueryAnswer;
using kad::adapter::ReadFormat;
using kad::adapter::SeriesEncoder;

constexpr int64_t kStartMs = 1'700'000'000'000;
constexpr int64_t kStepMs = 15'000;
constexpr int kBlockPoints = 120;
constexpr int kBlocks = 3;  // an hour and a half stored; the read takes an hour
constexpr int kSeries = 1000;
constexpr int kYhat = 0;  // value type

// A stored block as the store hands it out: its yhat chunk and time span.
struct StoredChunk {
  int64_t min_time_ms;
  int64_t max_time_ms;
  uint32_t count;
  std::string chunk;
};

struct StoredSeries {
  std::string labels;  // EncodeLabels', as a forecast series keeps them
  std::vector<StoredChunk> blocks;
};

std::vector<StoredSeries> Stored() {
  std::vector<StoredSeries> out(kSeries);
  for (int s = 0; s < kSeries; ++s) {
    out[s].labels =
        EncodeLabels({{"__name__", "bench_holt_winters"},
                      {"container", "app"},
                      {"instance", absl::StrCat("10.0.", s / 250, ".", s % 250, ":8080")},
                      {"job", "kubernetes-pods"},
                      {"namespace", absl::StrCat("team-", s / 100)},
                      {"pod", absl::StrCat("checkout-5d8f9b7c4-", s)},
                      {"source_metric", "container_memory_working_set_bytes"}});
    const double level = 2.5e8 * (1 + 0.01 * s);
    for (int b = 0; b < kBlocks; ++b) {
      kad::storage::OpenBlock block;
      for (int i = b * kBlockPoints; i < (b + 1) * kBlockPoints; ++i) {
        const double yhat = level * (1 + 0.3 * std::sin(i * 0.01 + s)) + 1e5 * std::cos(i * 0.7);
        block.Append({.timestamp_ms = kStartMs + i * kStepMs + s,
                      .value = yhat * 1.01,
                      .yhat = yhat,
                      .yhat_lower = yhat - 3e6,
                      .yhat_upper = yhat + 3e6,
                      .anomaly_score = 0.3,
                      .anomaly = false});
      }
      out[s].blocks.push_back({block.first_timestamp(), block.last_timestamp(), block.count(),
                               std::string(block.Chunk(kad::adapter::ColumnOf(kYhat)))});
    }
  }
  return out;
}

// One shard's work on every series, as Engine::ReadPoints does it.
QueryAnswer Encode(const std::vector<StoredSeries>& stored, const ReadFormat& format,
                   int64_t from_ms, int64_t to_ms) {
  QueryAnswer answer;
  answer.parts.resize(1);
  std::string& bytes = answer.parts[0];
  SeriesEncoder enc(format);
  for (const StoredSeries& s : stored) {
    enc.Begin(LabelsView(s.labels), kYhat);
    size_t added = 0;
    for (const StoredChunk& c : s.blocks) {
      if (c.max_time_ms < from_ms || c.min_time_ms > to_ms) continue;
      const kad::storage::ChunkSet set{.min_time_ms = c.min_time_ms,
                                       .max_time_ms = c.max_time_ms,
                                       .count = c.count,
                                       .from_ms = from_ms,
                                       .to_ms = to_ms};
      enc.Add(set, c.chunk, &added);
    }
    const size_t offset = bytes.size();
    enc.End(&bytes);
    answer.order.push_back({0, offset, bytes.size() - offset});
    answer.bytes += bytes.size() - offset;
  }
  return answer;
}

// The hour read: whole blocks (arg 0), or cutting the first and last one.
std::pair<int64_t, int64_t> Range(int64_t cut) {
  const int64_t first = cut == 0 ? kBlockPoints : kBlockPoints / 2;
  return {kStartMs + first * kStepMs, kStartMs + (first + 240) * kStepMs - 1};
}

// As main() does, before the benchmarks' threads start.
const bool kMallocTuned = (kad::adapter::TuneMalloc(), true);

void Samples(benchmark::State& state) {
  const std::vector<StoredSeries> stored = Stored();
  const auto [from, to] = Range(state.range(0));
  for (auto _ : state) {
    const std::vector<QueryAnswer> answers = {Encode(stored, ReadFormat{}, from, to)};
    kad::adapter::HttpResponse response = kad::adapter::SamplesResponse(answers);
    benchmark::DoNotOptimize(response.body().data());
  }
  state.SetItemsProcessed(state.iterations() * kSeries * 240);
}
BENCHMARK(Samples)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void StreamedXorChunks(benchmark::State& state) {
  const std::vector<StoredSeries> stored = Stored();
  const auto [from, to] = Range(state.range(0));
  for (auto _ : state) {
    const std::vector<QueryAnswer> answers = {
        Encode(stored, ReadFormat{.streamed = true}, from, to)};
    kad::adapter::HttpResponse response = kad::adapter::ChunkedResponse(answers);
    benchmark::DoNotOptimize(response.body().data());
  }
  state.SetItemsProcessed(state.iterations() * kSeries * 240);
}
BENCHMARK(StreamedXorChunks)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
