#include "adapter/counter_rate.h"

namespace kad::adapter {

std::optional<double> CounterRate::Next(int64_t t_ms, double value) {
  if (!window_.empty() && t_ms <= window_.back().first) return std::nullopt;
  if (!window_.empty() && value < last_raw_) reset_offset_ += last_raw_;
  last_raw_ = value;
  window_.emplace_back(t_ms, value + reset_offset_);
  while (window_.size() > 2 && window_.front().first < t_ms - range_ms_) window_.pop_front();
  if (window_.front().first < t_ms - range_ms_) window_.pop_front();
  if (window_.size() < 2) return std::nullopt;
  const auto& [t0, c0] =
      function_ == RangeFunction::kIrate ? window_[window_.size() - 2] : window_.front();
  const auto& [t1, c1] = window_.back();
  return (c1 - c0) * 1000.0 / static_cast<double>(t1 - t0);
}

}  // namespace kad::adapter
