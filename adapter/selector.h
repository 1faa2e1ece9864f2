// The `metric_query` of a config entry: a PromQL series selector, optionally
// inside rate(...[range]) or irate(...[range]), parsed into label matchers.
//
//   absl::StatusOr<Selector> s =
//   ParseSelector("rate(http_requests_total{code=~'5..'}[5m])"); s->function ==
//   RangeFunction::kRate;  s->range_ms == 300'000; s->Matches(series_labels);
//
// A plain value; thread-safe to read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "adapter/label_matcher.h"
#include "adapter/labels.h"

namespace kad::adapter {

enum class RangeFunction { kNone, kRate, kIrate };

struct Selector {
  std::string text;                    // as written in the config
  std::vector<LabelMatcher> matchers;  // a metric name becomes __name__="name"
  RangeFunction function = RangeFunction::kNone;
  int64_t range_ms = 0;  // the [5m] of rate()/irate(); 0 without a function
  bool Matches(const Labels& labels) const { return MatchesAll(matchers, labels); }
};

// Parses a PromQL series selector: `name`, `name{...}` or `{...}` with
// matchers =, !=, =~, !~; label values quoted with "", '' or `` (Go escapes
// such as \" \' \\ \n \t \xHH \uXXXX in "" and '', none in backticks);
// optional whitespace; a trailing comma. Also `rate(<selector>[<duration>])`
// and `irate(...)`.
//
// Anything else is InvalidArgument quoting the query and saying what is
// supported: other functions, aggregations, binary operators, offset, @, a
// range without rate()/irate(), and selectors that match everything such as
// {} or {job=~".*"} (Prometheus requires at least one matcher that does not
// match the empty string).
absl::StatusOr<Selector> ParseSelector(std::string_view promql);

}  // namespace kad::adapter
