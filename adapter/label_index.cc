#include "adapter/label_index.h"

#include <string_view>

#include "absl/hash/hash.h"
#include "adapter/absl_view.h"

namespace kad::adapter {
namespace {

uint64_t PairKey(std::string_view name, std::string_view value) {
  return absl::HashOf(AbslView(name), AbslView(value));
}

}  // namespace

void LabelIndex::Add(const ForecastSeries& series) {
  for (const LabelView l : series.labels()) lists_[PairKey(l.name, l.value)].push_back(&series);
}

std::optional<std::span<const ForecastSeries* const>> LabelIndex::Candidates(
    std::span<const LabelMatcher* const> matchers) const {
  std::optional<std::span<const ForecastSeries* const>> best;
  for (const LabelMatcher* m : matchers) {
    if (m->type() != MatchType::kEqual || m->value().empty()) continue;
    const auto found = lists_.find(PairKey(m->name(), m->value()));
    if (found == lists_.end()) return std::span<const ForecastSeries* const>();
    if (!best.has_value() || found->second.size() < best->size()) {
      best = std::span<const ForecastSeries* const>(found->second.data(), found->second.size());
    }
  }
  return best;
}

}  // namespace kad::adapter
