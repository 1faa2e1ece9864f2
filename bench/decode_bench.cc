// Per-sample cost of decoding a remote-write body: the hand-written
// zero-copy decoders (1.0 and 2.0) against the generated protobuf parsers
// (reused message), on the shape Prometheus sends: 2,000 TimeSeries entries
// with one sample each and ~8 Kubernetes-style labels (2.0: interned in the
// symbols table).
//
//   decode_bench --benchmark_filter=Decode
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "prometheus/remote.pb.h"
#include "prometheus/write_v2.pb.h"
#include "proto/write_request.h"
#include "proto/write_request_v2.h"

namespace {

constexpr int kEntries = 2000;

// The labels of entry i: 400 pods, two metrics.
std::vector<std::pair<std::string, std::string>> LabelsOf(int i) {
  const int pod = i % 400;
  return {
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
}

double ValueOf(int i) { return 12345.678 + i; }
int64_t TimestampOf(int i) { return 1700000000000 + 15000 * (i / 400); }

std::string RealisticBody() {
  prometheus::WriteRequest req;
  for (int i = 0; i < kEntries; ++i) {
    prometheus::TimeSeries* ts = req.add_timeseries();
    for (const auto& [name, value] : LabelsOf(i)) {
      prometheus::Label* l = ts->add_labels();
      l->set_name(name);
      l->set_value(value);
    }
    prometheus::Sample* s = ts->add_samples();
    s->set_value(ValueOf(i));
    s->set_timestamp(TimestampOf(i));
  }
  return req.SerializeAsString();
}

// The same entries as remote write 2.0.
std::string RealisticBodyV2() {
  io::prometheus::write::v2::Request req;
  std::map<std::string, uint32_t> refs;
  auto ref = [&](const std::string& symbol) {
    const auto [it, added] = refs.try_emplace(symbol, req.symbols_size());
    if (added) req.add_symbols(symbol);
    return it->second;
  };
  ref("");
  for (int i = 0; i < kEntries; ++i) {
    io::prometheus::write::v2::TimeSeries* ts = req.add_timeseries();
    for (const auto& [name, value] : LabelsOf(i)) {
      ts->add_labels_refs(ref(name));
      ts->add_labels_refs(ref(value));
    }
    io::prometheus::write::v2::Sample* s = ts->add_samples();
    s->set_value(ValueOf(i));
    s->set_timestamp(TimestampOf(i));
    ts->mutable_metadata()->set_type(i % 2
                                         ? io::prometheus::write::v2::Metadata::METRIC_TYPE_COUNTER
                                         : io::prometheus::write::v2::Metadata::METRIC_TYPE_GAUGE);
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

void BM_DecodeWriteRequestV2(benchmark::State& state) {
  const std::string body = RealisticBodyV2();
  kad::proto::WriteRequestView view;
  for (auto _ : state) {
    if (!kad::proto::DecodeWriteRequestV2(body, &view).ok()) {
      state.SkipWithError("decode failed");
      break;
    }
    benchmark::DoNotOptimize(view.samples.data());
  }
  state.SetItemsProcessed(state.iterations() * kEntries);
  state.SetBytesProcessed(state.iterations() * body.size());
}
BENCHMARK(BM_DecodeWriteRequestV2);

void BM_GeneratedParserV2Reused(benchmark::State& state) {
  const std::string body = RealisticBodyV2();
  io::prometheus::write::v2::Request req;
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
BENCHMARK(BM_GeneratedParserV2Reused);

}  // namespace
