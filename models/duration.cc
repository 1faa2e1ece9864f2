#include "models/duration.h"

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kad::models {
namespace {

struct Unit {
  std::string_view name;
  int64_t ms;
};

// Largest first: a term's unit must come after the previous term's.
constexpr std::array<Unit, 7> kUnits = {{
    {"y", 365 * 86'400'000LL},
    {"w", 7 * 86'400'000LL},
    {"d", 86'400'000LL},
    {"h", 3'600'000LL},
    {"m", 60'000LL},
    {"s", 1'000LL},
    {"ms", 1LL},
}};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLetter(char c) { return c >= 'a' && c <= 'z'; }

absl::Status Invalid(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid duration \"", std::string(text), "\": ", std::string(why),
                   " (write terms like 15s, 5m, 1h30m, 1d; units ms, s, m, h, d, w, y)"));
}

}  // namespace

absl::StatusOr<int64_t> ParseDurationMs(std::string_view text) {
  if (text.empty()) return Invalid(text, "empty");
  if (text.front() == '-') return Invalid(text, "negative");
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t total = 0;
  size_t pos = 0;
  size_t next_unit = 0;  // index into kUnits of the smallest unit still allowed
  while (pos < text.size()) {
    if (!IsDigit(text[pos])) {
      return Invalid(text,
                     absl::StrCat("expected a number at \"", std::string(text.substr(pos)), "\""));
    }
    int64_t number = 0;
    for (; pos < text.size() && IsDigit(text[pos]); ++pos) {
      const int digit = text[pos] - '0';
      if (number > (kMax - digit) / 10) return Invalid(text, "too large");
      number = number * 10 + digit;
    }
    const size_t unit_start = pos;
    while (pos < text.size() && IsLetter(text[pos])) ++pos;
    const std::string_view unit_name = text.substr(unit_start, pos - unit_start);
    if (unit_name.empty()) {
      // Only a bare integer, the whole text, means seconds.
      if (unit_start != text.size() || total != 0 || next_unit != 0) {
        return Invalid(text, absl::StrCat("missing unit after ", number));
      }
      if (number > kMax / 1000) return Invalid(text, "too large");
      return number * 1000;
    }
    size_t u = 0;
    while (u < kUnits.size() && kUnits[u].name != unit_name) ++u;
    if (u == kUnits.size()) {
      return Invalid(text, absl::StrCat("unknown unit \"", std::string(unit_name), "\""));
    }
    if (u < next_unit) {
      return Invalid(text, absl::StrCat("unit \"", std::string(unit_name),
                                        "\" out of order or repeated; "
                                        "write the largest unit first"));
    }
    next_unit = u + 1;
    if (number > kMax / kUnits[u].ms) return Invalid(text, "too large");
    const int64_t term = number * kUnits[u].ms;
    if (total > kMax - term) return Invalid(text, "too large");
    total += term;
  }
  return total;
}

}  // namespace kad::models
