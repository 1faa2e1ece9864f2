#include "adapter/counter_rate.h"

#include "adapter/absl_view.h"

namespace kad::adapter {
namespace {

constexpr std::string_view kTotalSuffix = "_total";

}  // namespace

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

bool InCounterFamily(std::string_view name, const absl::flat_hash_set<std::string>& families) {
  if (families.contains(AbslView(name))) return true;
  return name.ends_with(kTotalSuffix) &&
         families.contains(AbslView(name.substr(0, name.size() - kTotalSuffix.size())));
}

bool CounterFamilies::Learn(std::span<const std::string_view> families,
                            std::vector<std::string>* learned) {
  bool all = true;
  absl::MutexLock lock(&mu_);
  for (std::string_view family : families) {
    if (families_.contains(AbslView(family))) continue;
    if (families_.size() >= limit_) {
      all = false;
      continue;
    }
    families_.emplace(family);
    learned->emplace_back(family);
  }
  return all;
}

bool CounterFamilies::Contains(std::string_view name) const {
  absl::ReaderMutexLock lock(&mu_);
  return InCounterFamily(name, families_);
}

}  // namespace kad::adapter
