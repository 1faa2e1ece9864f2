// Per-sample cost of every model kind with default arguments, on a realistic
// series: a daily sine with noise at 15 s steps (100,000 samples, about 17
// days, generated once and replayed with time moving on). Each kind gets
// Observe/<kind> (update cost, with the serialised state size as counter
// state_bytes) and Predict/<kind> (a forecast 1 to 60 minutes ahead of a
// model that has seen the whole series).
//
//   model_bench --benchmark_filter=Observe
#include <cmath>
#include <cstdint>
#include <memory>
#include <numbers>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "benchmark/benchmark.h"
#include "models/registry.h"

namespace {

constexpr int64_t kStepMs = 15'000;
constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kStartMs = 1'700'000'000'000;
constexpr size_t kSamples = 100'000;
constexpr int64_t kSpanMs = static_cast<int64_t>(kSamples) * kStepMs;

const std::vector<double>& Series() {
  static const std::vector<double> series = [] {
    std::mt19937_64 rng(42);
    std::normal_distribution<double> noise(0, 2);
    std::vector<double> values;
    for (size_t i = 0; i < kSamples; ++i) {
      const double t = static_cast<double>(static_cast<int64_t>(i) * kStepMs);
      values.push_back(100 + 20 * std::sin(2 * std::numbers::pi * t / kDayMs) + noise(rng));
    }
    return values;
  }();
  return series;
}

std::unique_ptr<kad::models::Forecaster> NewModel(benchmark::State& state, std::string_view kind) {
  absl::StatusOr<kad::models::ModelFactory> factory = kad::models::MakeModelFactory(kind, {});
  if (!factory.ok()) {
    state.SkipWithError(std::string(factory.status().message()).c_str());
    return nullptr;
  }
  return factory->New();
}

// Observes the whole series once, from kStartMs; returns the time after it.
int64_t WarmUp(kad::models::Forecaster& model) {
  const std::vector<double>& series = Series();
  for (size_t i = 0; i < kSamples; ++i) {
    model.Observe(kStartMs + static_cast<int64_t>(i) * kStepMs, series[i]);
  }
  return kStartMs + kSpanMs;
}

void BM_Observe(benchmark::State& state, std::string_view kind) {
  std::unique_ptr<kad::models::Forecaster> model = NewModel(state, kind);
  if (model == nullptr) return;
  const std::vector<double>& series = Series();
  int64_t t0 = kStartMs;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(model->Observe(t0 + static_cast<int64_t>(i) * kStepMs, series[i]));
    if (++i == kSamples) {
      i = 0;
      t0 += kSpanMs;
    }
  }
  state.SetItemsProcessed(state.iterations());
  std::string bytes;
  model->SerializeTo(&bytes);
  state.counters["state_bytes"] = static_cast<double>(bytes.size());
}

void BM_Predict(benchmark::State& state, std::string_view kind) {
  std::unique_ptr<kad::models::Forecaster> model = NewModel(state, kind);
  if (model == nullptr) return;
  const int64_t now = WarmUp(*model);
  int64_t minutes = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(model->Predict(now + (minutes + 1) * 60'000));
    minutes = (minutes + 1) % 60;
  }
  state.SetItemsProcessed(state.iterations());
}

// Every kind the registry knows, so new kinds are measured without an edit.
const bool registered = [] {
  for (std::string_view kind : kad::models::ModelKinds()) {
    benchmark::RegisterBenchmark(("Observe/" + std::string(kind)).c_str(), BM_Observe, kind);
    benchmark::RegisterBenchmark(("Predict/" + std::string(kind)).c_str(), BM_Predict, kind);
  }
  return true;
}();

}  // namespace
