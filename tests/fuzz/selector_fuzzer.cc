// Fuzz target: the PromQL selector parser (adapter/selector.h ParseSelector).
//
//   build-fuzz/tests/fuzz/selector_fuzzer tests/fuzz/corpus/selector
//
// Properties: errors are InvalidArgument; a parsed selector keeps its text,
// has at least one matcher that does not match the empty string (so it never
// matches an empty label set), has a range exactly when it has rate() or
// irate(), and can be evaluated against labels built from its own matchers.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "adapter/labels.h"
#include "adapter/selector.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view promql(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<kad::adapter::Selector> selector = kad::adapter::ParseSelector(promql);
  if (!selector.ok()) {
    FUZZ_CHECK(selector.status().code() == absl::StatusCode::kInvalidArgument,
               selector.status().ToString());
    return 0;
  }
  FUZZ_CHECK(selector->text == promql, selector->text);
  FUZZ_CHECK(!selector->matchers.empty(), promql);
  FUZZ_CHECK(!selector->Matches(kad::adapter::Labels()), promql);
  FUZZ_CHECK(
      (selector->function == kad::adapter::RangeFunction::kNone) == (selector->range_ms == 0),
      promql);
  FUZZ_CHECK(selector->range_ms >= 0, promql);
  // Labels named and valued as the matchers say, sorted by name: exercises
  // every matcher (and its regex) on a value it was written with.
  std::map<std::string, std::string> by_name;
  for (const kad::adapter::LabelMatcher& m : selector->matchers) by_name[m.name()] = m.value();
  kad::adapter::Labels labels;
  for (const auto& [name, value] : by_name) labels.push_back({name, value});
  selector->Matches(labels);
  return 0;
}
