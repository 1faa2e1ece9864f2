// Counters: CounterRate turns a counter's samples into the per-second rate
// that PromQL's rate() or irate() over `range` gives at each sample,
// in-stream and O(1) amortised:
//   rate:  (increase over the samples inside the range) / (their time span)
//   irate: (increase between the last two samples) / (their time gap)
// Counter resets (a value lower than the previous one) count as a restart
// from zero, as in PromQL. Unlike PromQL's rate(), the increase is not
// extrapolated to the range's edges.
//
// CounterFamilies remembers the metric families remote-write metadata says
// are counters (1.0: MetricMetadata entries; 2.0: each series' metadata), so
// that series a metric_query selects without rate()/irate() are modelled as
// rate(m[5m]) (kCounterRateRangeMs).
//
//   CounterRate rate(RangeFunction::kRate, 300'000);
//   std::optional<double> r = rate.Next(t_ms, value);  // nothing at first
//   CounterFamilies counters(100'000);
//   counters.Learn({"http_requests"}, &learned);
//   counters.Contains("http_requests_total");          // true
//
// CounterRate is owned by one forecast series and not thread-safe;
// CounterFamilies is thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "adapter/selector.h"

namespace kad::adapter {

// The range of the rate() a counter selected without rate()/irate() is
// modelled as: PromQL users' usual rate(m[5m]), which spans 20 samples at a
// 15 s scrape interval and so smooths scrape jitter.
inline constexpr int64_t kCounterRateRangeMs = 300'000;

class CounterRate {
 public:
  CounterRate(RangeFunction function, int64_t range_ms)
      : function_(function), range_ms_(range_ms) {}

  // The rate at t_ms, or nothing until two samples fall inside the range.
  // Samples at or before the previous one are ignored.
  std::optional<double> Next(int64_t t_ms, double value);

 private:
  RangeFunction function_;
  int64_t range_ms_;
  double reset_offset_ = 0;  // sum of the values lost at resets
  double last_raw_ = 0;
  // (t, reset-adjusted counter) of the samples inside the range, oldest first.
  std::deque<std::pair<int64_t, double>> window_;
};

// True when series named `name` belong to one of `families`: the family
// itself, or the family plus "_total" (OpenMetrics names a counter family
// without the suffix its samples carry).
bool InCounterFamily(std::string_view name, const absl::flat_hash_set<std::string>& families);

class CounterFamilies {
 public:
  // At most `limit` families are remembered; later ones are refused.
  explicit CounterFamilies(size_t limit) : limit_(limit) {}

  // Remembers `families`; appends those not known before to `*learned`.
  // Returns false when the limit refused some of them.
  bool Learn(std::span<const std::string_view> families, std::vector<std::string>* learned);
  // True when series named `name` belong to a remembered counter family.
  bool Contains(std::string_view name) const;

 private:
  const size_t limit_;
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> families_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kad::adapter
