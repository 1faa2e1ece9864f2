// The adapter's own metrics, rendered in the Prometheus text format on
// GET /metrics next to the forecast gauges.
//
// Counters are lock-free atomics bumped from shard and network threads; the
// request-duration histogram takes a mutex per request. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace kad::adapter {

// Why a received sample did not update a model.
enum class SampleOutcome {
  kModelled,         // updated a model
  kNotSelected,      // no metric_query selects the series (dropped)
  kOutOfOrder,       // timestamp before the series' last one
  kDuplicate,        // timestamp equal to the series' last one (a re-sent batch)
  kNonFinite,        // NaN (other than the stale marker) or +-Inf
  kStale,            // the stale marker: ends the series, not a value
  kInvalidLabels,    // unsorted, repeated, empty-valued or non-UTF-8 labels
  kNativeHistogram,  // a native histogram sample: accepted, not modelled
  kSeriesLimit,      // a new series beyond --storage.max-series (dropped)
  kNum,
};

// Gauges owned by others, sampled when /metrics is rendered.
struct GaugeSnapshot {
  int64_t active_series = 0;
  int64_t max_series = 0;
  uint64_t write_queue_bytes = 0;
  uint64_t storage_bytes = 0;
  int64_t checkpointed_ms = 0;
  bool ready = false;
};

class SelfMetrics {
 public:
  void AddReceived(uint64_t n) { received_.fetch_add(n, std::memory_order_relaxed); }
  void Add(SampleOutcome outcome, uint64_t n) {
    outcomes_[static_cast<int>(outcome)].fetch_add(n, std::memory_order_relaxed);
  }
  // Forecast series removed after series_ttl without a sample.
  void AddExpired(uint64_t n) { expired_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Count(SampleOutcome outcome) const {
    return outcomes_[static_cast<int>(outcome)].load(std::memory_order_relaxed);
  }
  void ObserveRequest(std::string_view handler, int code, double seconds);
  // The outcome of loading the config files (at start and on each reload).
  void ConfigLoaded(bool success, int64_t now_ms) {
    config_ok_.store(success, std::memory_order_relaxed);
    if (success) config_ok_ms_.store(now_ms, std::memory_order_relaxed);
  }

  // Appends the self metrics in the text exposition format.
  void RenderTo(const GaugeSnapshot& gauges, std::string* out) const;

 private:
  static constexpr std::array<double, 11> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                      0.5,   1,    2.5,   5,    10};
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};  // non-cumulative
    uint64_t count = 0;
    double sum = 0;
  };

  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> expired_{0};
  std::array<std::atomic<uint64_t>, static_cast<int>(SampleOutcome::kNum)> outcomes_{};
  std::atomic<bool> config_ok_{false};
  std::atomic<int64_t> config_ok_ms_{0};
  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, int>, Histogram> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kad::adapter
