// LabelIndex: for each label pair, the forecast series of one shard that
// carry it (an inverted index), so that a read looks only at the series its
// most selective equality matcher names instead of at every series of the
// shard: a dashboard asking for one pod among 100,000 series reads one.
//
// Pairs are keyed by a 64-bit hash of name and value. A collision only adds
// candidates, and the caller checks every candidate against every matcher,
// so it costs time, never a wrong answer. Series are added one by one and
// removed by rebuilding (Clear() then Add() each remaining series): they go
// away in bulk and rarely (expiry, reload).
//
// Memory: 8 bytes per label of each series in a list shared with other
// series, about 32 bytes for a pair only one series carries (a list of one
// lives inside the table's slot).
//
//   index.Add(series);                       // when the shard makes it
//   auto c = index.Candidates(matchers);     // nullopt: no usable matcher
//   for (const ForecastSeries* s : c.value_or(all)) { check every matcher }
//
// Not thread-safe: it belongs to the shard whose series it holds.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "adapter/forecast_series.h"
#include "adapter/label_matcher.h"

namespace kad::adapter {

class LabelIndex {
 public:
  // `series` must outlive its place in the index.
  void Add(const ForecastSeries& series);
  void Clear() { lists_.clear(); }

  // The series that can match every one of `matchers`: the shortest list
  // among the equality matchers with a non-empty value (a series must carry
  // that pair), in the order they were added; nullopt when no matcher is
  // such, so that any series may match.
  std::optional<std::span<const ForecastSeries* const>> Candidates(
      std::span<const LabelMatcher* const> matchers) const;

 private:
  using List = absl::InlinedVector<const ForecastSeries*, 1>;
  absl::flat_hash_map<uint64_t, List> lists_;
};

}  // namespace kad::adapter
