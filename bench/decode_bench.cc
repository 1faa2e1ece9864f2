// Per-sample cost of decoding a remote-write body: the hand-written
// zero-copy decoder against the generated protobuf parser (reused message),
// on the shape Prometheus 2.42 sends: 2,000 TimeSeries entries with one
// sample each and ~8 Kubernetes-style labels.
//
//   decode_bench --benchmark_filter=Decode
#include <string>

#include "benchmark/benchmark.h"
#include "prometheus/remote.pb.h"
#include "proto/write_request.h"

namespace {

constexpr int kEntries = 2000;

std::string RealisticBody() {
  prometheus::WriteRequest req;
  for (int i = 0; i < kEntries; ++i) {
    prometheus::TimeSeries* ts = req.add_timeseries();
    const int pod = i % 400;
    const std::pair<const char*, std::string> labels[] = {
        {"__name__",
         i % 2 ? "container_cpu_usage_seconds_total" : "container_memory_working_set_bytes"},
        {"container", "app-" + std::to_string(pod % 7)},
        {"cpu", "total"},
        {"instance", "10.1." + std::to_string(pod / 50) + "." + std::to_string(pod) + ":10250"},
        {"job", "kubernetes-cadvisor"},
        {"namespace", "team-" + std::to_string(pod % 13)},
        {"node", "node-" + std::to_string(pod % 25)},
        {"pod", "checkout-7d9f8b6c5-" + std::to_string(100000 + pod)},
    };
    for (const auto& [name, value] : labels) {
      prometheus::Label* l = ts->add_labels();
      l->set_name(name);
      l->set_value(value);
    }
    prometheus::Sample* s = ts->add_samples();
    s->set_value(12345.678 + i);
    s->set_timestamp(1700000000000 + 15000 * (i / 400));
  }
  return req.SerializeAsString();
}

void BM_DecodeWriteRequest(benchmark::State& state) {
  const std::string body = RealisticBody();
  kad::proto::WriteRequestView view;
  for (auto _ : state) {
    if (!kad::proto::DecodeWriteRequest(body, &view).ok()) {
      state.SkipWithError("decode failed");
      break;
    }
    benchmark::DoNotOptimize(view.samples.data());
  }
  state.SetItemsProcessed(state.iterations() * kEntries);
  state.SetBytesProcessed(state.iterations() * body.size());
}
BENCHMARK(BM_DecodeWriteRequest);

void BM_GeneratedParserReused(benchmark::State& state) {
  const std::string body = RealisticBody();
  prometheus::WriteRequest req;
  for (auto _ : state) {
    if (!req.ParseFromString(body)) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(req.timeseries_size());
  }
  state.SetItemsProcessed(state.iterations() * kEntries);
  state.SetBytesProcessed(state.iterations() * body.size());
}
BENCHMARK(BM_GeneratedParserReused);

}  // namespace
