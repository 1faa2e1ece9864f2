// Turns a counter's samples into the per-second rate that PromQL's rate()
// or irate() over `range` gives at each sample, in-stream and O(1) amortised:
//   rate:  (increase over the samples inside the range) / (their time span)
//   irate: (increase between the last two samples) / (their time gap)
// Counter resets (a value lower than the previous one) count as a restart
// from zero, as in PromQL. Unlike PromQL's rate(), the increase is not
// extrapolated to the range's edges.
//
// Owned by one forecast series; not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <utility>

#include "adapter/selector.h"

namespace kad::adapter {

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

}  // namespace kad::adapter
