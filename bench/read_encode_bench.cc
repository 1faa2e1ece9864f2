// Remote-read encode cost per sample: the adapter's two response encodings
// (SAMPLES, a snappy ReadResponse; STREAMED_XOR_CHUNKS, framed XOR chunks)
// of what a Grafana panel asks for -- 1,000 forecast series of one value
// type over an hour of 15 s points, forecasts with realistic bits.
//
//   read_encode_bench --benchmark_repetitions=3
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "adapter/engine.h"
#include "adapter/remote_read.h"
#include "benchmark/benchmark.h"

namespace {

using kad::adapter::ReadSeries;

constexpr int64_t kStartMs = 1'700'000'000'000;
constexpr int64_t kStepMs = 15'000;
constexpr int kPointsPerSeries = 240;  // one hour

std::vector<std::vector<ReadSeries>> Results(int series) {
  std::vector<ReadSeries> out;
  out.reserve(series);
  for (int s = 0; s < series; ++s) {
    ReadSeries r;
    r.labels = {{"__name__", "bench_holt_winters"},
                {"container", "app"},
                {"instance", absl::StrCat("10.0.", s / 250, ".", s % 250, ":8080")},
                {"job", "kubernetes-pods"},
                {"namespace", absl::StrCat("team-", s / 100)},
                {"pod", absl::StrCat("checkout-5d8f9b7c4-", s)},
                {"source_metric", "container_memory_working_set_bytes"},
                {"value_type", "yhat"}};
    for (int i = 0; i < kPointsPerSeries; ++i) {
      const double level = 2.5e8 * (1 + 0.01 * s);
      r.samples.emplace_back(kStartMs + i * kStepMs + s,
                             level * (1 + 0.3 * std::sin(i * 0.01 + s)) + 1e5 * std::cos(i * 0.7));
    }
    out.push_back(std::move(r));
  }
  return {out};
}

void Samples(benchmark::State& state) {
  const auto results = Results(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    kad::adapter::HttpResponse response = kad::adapter::SamplesResponse(results);
    benchmark::DoNotOptimize(response.body().data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0) * kPointsPerSeries);
}
BENCHMARK(Samples)->Arg(1)->Arg(1000)->Unit(benchmark::kMicrosecond);

void StreamedXorChunks(benchmark::State& state) {
  const auto results = Results(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    kad::adapter::HttpResponse response = kad::adapter::ChunkedResponse(results, 1 << 20);
    benchmark::DoNotOptimize(response.body().data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0) * kPointsPerSeries);
}
BENCHMARK(StreamedXorChunks)->Arg(1)->Arg(1000)->Unit(benchmark::kMicrosecond);

}  // namespace
