// One PromQL label matcher (job="node", mode!~"idle|iowait") and the AND of
// several, with Prometheus semantics: a missing label reads as "".
//
//   absl::StatusOr<LabelMatcher> m = LabelMatcher::Make(MatchType::kRegex,
//   "job", "node.*"); m->Matches("node_exporter");   // true: regexes are
//   anchored at both ends
//
// Immutable once made; copies share the compiled regex. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "adapter/labels.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace kad::adapter {

enum class MatchType { kEqual, kNotEqual, kRegex, kNotRegex };

class LabelMatcher {
 public:
  // InvalidArgument for a regex RE2 rejects (the message names the label and
  // the regex). Regexes use RE2 syntax and are fully anchored, ^(?:re)$, as
  // in Prometheus.
  static absl::StatusOr<LabelMatcher> Make(MatchType type, std::string name, std::string value);

  // `value` "" stands for a missing label.
  bool Matches(std::string_view value) const;

  MatchType type() const { return type_; }
  const std::string& name() const { return name_; }
  const std::string& value() const { return value_; }

  // As PromQL writes it: job=~"a.*".
  std::string ToString() const;

 private:
  LabelMatcher(MatchType type, std::string name, std::string value)
      : type_(type), name_(std::move(name)), value_(std::move(value)) {}

  bool MatchesRegex(std::string_view value) const;

  MatchType type_;
  std::string name_;
  std::string value_;
  // Regexes that are a literal or an alternation of literals ("a|b|c", the
  // common case in dashboards) are matched by set lookup instead of RE2.
  std::vector<std::string> literals_;
  // Null for kEqual, kNotEqual and regexes answered by `literals_`.
  std::shared_ptr<const re2::RE2> regex_;
};

// True when every matcher matches (AND), a missing label read as "".
bool MatchesAll(const std::vector<LabelMatcher>& matchers, const Labels& labels);

}  // namespace kad::adapter
