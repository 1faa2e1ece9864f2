#include "activities/arg_template.h"

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kad::activities {
namespace {

constexpr std::string_view kOpen = "{{";
constexpr std::string_view kClose = "}}";
constexpr std::string_view kLabelPrefix = "labels.";
constexpr std::string_view kKnownNames =
    "labels.<name>, metric, value, yhat, yhat_lower, yhat_upper, anomaly_score, timestamp";

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Prometheus label name syntax: [a-zA-Z_][a-zA-Z0-9_]*.
bool IsLabelName(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string Number(double v) { return absl::StrFormat("%.17g", v); }

std::string Seconds(int64_t ms) {
  const char* sign = ms < 0 ? "-" : "";
  const uint64_t abs_ms = ms < 0 ? 0 - static_cast<uint64_t>(ms) : static_cast<uint64_t>(ms);
  return absl::StrFormat("%s%d.%03d", sign, abs_ms / 1000, abs_ms % 1000);
}

// The value of placeholder `name`, or nullopt when no such placeholder
// exists. Validation calls it with an empty context, so validity and
// expansion can never disagree about which names exist.
std::optional<std::string> Lookup(std::string_view name, const AnomalyContext& c) {
  if (name.substr(0, kLabelPrefix.size()) == kLabelPrefix) {
    const std::string_view label = name.substr(kLabelPrefix.size());
    if (!IsLabelName(label)) return std::nullopt;
    for (const auto& [key, value] : c.labels) {
      if (key == label) return value;
    }
    return std::string();
  }
  if (name == "metric") return c.metric;
  if (name == "value") return Number(c.value);
  if (name == "yhat") return Number(c.yhat);
  if (name == "yhat_lower") return Number(c.yhat_lower);
  if (name == "yhat_upper") return Number(c.yhat_upper);
  if (name == "anomaly_score") return Number(c.anomaly_score);
  if (name == "timestamp") return Seconds(c.timestamp_ms);
  return std::nullopt;
}

// Walks `text`, appending literal text and expanded placeholders to `out`.
// An error stops the walk; the rest of the text is then appended as is.
absl::Status Expand(std::string_view text, const AnomalyContext& context, std::string* out) {
  while (!text.empty()) {
    const size_t open = text.find(kOpen);
    out->append(text.substr(0, open));
    if (open == std::string_view::npos) return absl::OkStatus();
    text.remove_prefix(open);
    const size_t close = text.find(kClose, kOpen.size());
    if (close == std::string_view::npos) {
      out->append(text);
      return absl::InvalidArgumentError(absl::StrCat(
          "argument template has an unterminated placeholder \"", AbslView(text),
          "\": close it with }} (write {{ value }}; known names: ", AbslView(kKnownNames), ")"));
    }
    const std::string_view placeholder = text.substr(0, close + kClose.size());
    const std::string_view name = Trim(text.substr(kOpen.size(), close - kOpen.size()));
    std::optional<std::string> value = Lookup(name, context);
    if (!value) {
      out->append(text);
      return absl::InvalidArgumentError(
          absl::StrCat("argument template has an unknown placeholder \"", AbslView(placeholder),
                       "\"; known names: ", AbslView(kKnownNames)));
    }
    out->append(*value);
    text.remove_prefix(placeholder.size());
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateArgTemplate(std::string_view text) {
  std::string ignored;
  return Expand(text, AnomalyContext(), &ignored);
}

std::string ExpandArgTemplate(std::string_view text, const AnomalyContext& context) {
  std::string out;
  // Templates are validated when the config loads; a bad one that gets here
  // anyway keeps its text from the bad placeholder on, rather than vanish.
  Expand(text, context, &out).IgnoreError();
  return out;
}

}  // namespace kad::activities
