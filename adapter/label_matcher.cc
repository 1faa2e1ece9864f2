#include "adapter/label_matcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "re2/re2.h"

namespace kad::adapter {
namespace {

// True when `re` contains no regex syntax apart from '|', so that it means
// exactly "one of these strings".
bool IsLiteralAlternation(std::string_view re) {
  constexpr std::string_view kMeta = "\\.+*?()[]{}^$";
  return re.find_first_of(kMeta) == std::string_view::npos;
}

const char* OperatorOf(MatchType type) {
  switch (type) {
    case MatchType::kEqual:
      return "=";
    case MatchType::kNotEqual:
      return "!=";
    case MatchType::kRegex:
      return "=~";
    case MatchType::kNotRegex:
      return "!~";
  }
  return "?";
}

// A double-quoted PromQL string that parses back to `s`.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
  out += '"';
  return out;
}

}  // namespace

absl::StatusOr<LabelMatcher> LabelMatcher::Make(MatchType type, std::string name,
                                                std::string value) {
  LabelMatcher m(type, std::move(name), std::move(value));
  if (type != MatchType::kRegex && type != MatchType::kNotRegex) return m;
  if (IsLiteralAlternation(m.value_)) {
    m.literals_ = absl::StrSplit(m.value_, '|');
    return m;
  }
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_shared<const RE2>(absl::StrCat("^(?:", m.value_, ")$"), options);
  if (!re->ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid regex ", Quote(m.value_), " for label ", m.name_, ": ", re->error()));
  }
  m.regex_ = std::move(re);
  return m;
}

bool LabelMatcher::MatchesRegex(std::string_view value) const {
  if (regex_ == nullptr) {
    return std::find(literals_.begin(), literals_.end(), value) != literals_.end();
  }
  return RE2::FullMatch(value, *regex_);
}

bool LabelMatcher::Matches(std::string_view value) const {
  switch (type_) {
    case MatchType::kEqual:
      return value == value_;
    case MatchType::kNotEqual:
      return value != value_;
    case MatchType::kRegex:
      return MatchesRegex(value);
    case MatchType::kNotRegex:
      return !MatchesRegex(value);
  }
  return false;
}

std::string LabelMatcher::ToString() const {
  return absl::StrCat(name_, OperatorOf(type_), Quote(value_));
}

bool MatchesAll(const std::vector<LabelMatcher>& matchers, const Labels& labels) {
  return std::all_of(matchers.begin(), matchers.end(),
                     [&](const LabelMatcher& m) { return m.Matches(GetLabel(labels, m.name())); });
}

}  // namespace kad::adapter
