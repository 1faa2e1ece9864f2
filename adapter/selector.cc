#include "adapter/selector.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "adapter/absl_view.h"
#include "models/duration.h"

namespace kad::adapter {
namespace {

constexpr absl::string_view kSupported =
    "metric_query must be a series selector such as "
    "node_load1{job=\"node\",mode!~\"idle|iowait\"}, optionally inside "
    "rate(...[5m]) or irate(...[5m])";

bool IsNameStart(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
}

bool IsNameChar(char c, bool allow_colon) {
  return IsNameStart(c, allow_colon) || (c >= '0' && c <= '9');
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// A recursive-descent parser over the whole query; `pos_` only moves forward
// except for the one-identifier backtrack between `f(` and `name{`.
class Parser {
 public:
  explicit Parser(absl::string_view query) : query_(query) {}

  absl::StatusOr<Selector> Parse() {
    Selector s;
    s.text = std::string(query_);
    SkipSpace();
    if (AtEnd()) return Invalid("the query is empty");
    const size_t start = pos_;
    const absl::string_view function = Name(/*allow_colon=*/true);
    SkipSpace();
    if (!function.empty() && Peek() == '(') {
      if (function == "rate") {
        s.function = RangeFunction::kRate;
      } else if (function == "irate") {
        s.function = RangeFunction::kIrate;
      } else {
        return Unsupported(absl::StrCat(function, "() is not supported"));
      }
      ++pos_;
      absl::Status st = VectorSelector(&s.matchers);
      if (!st.ok()) return st;
      SkipSpace();
      if (!Consume('[')) {
        return Unsupported(
            absl::StrCat(function, "() needs a range such as [5m] after its selector"));
      }
      absl::StatusOr<int64_t> range = Range();
      if (!range.ok()) return range.status();
      s.range_ms = *range;
      SkipSpace();
      if (!Consume(')')) {
        return Unsupported(absl::StrCat("found \"", query_.substr(pos_), "\" where ", function,
                                        "() should close with ')'"));
      }
    } else {
      pos_ = start;
      absl::Status st = VectorSelector(&s.matchers);
      if (!st.ok()) return st;
      SkipSpace();
      if (Peek() == '[') {
        return Unsupported("a range such as [5m] is only supported inside rate() or irate()");
      }
    }
    SkipSpace();
    if (!AtEnd()) {
      return Unsupported(absl::StrCat("found \"", query_.substr(pos_),
                                      "\" after the series selector (operators, offset, @ and "
                                      "aggregations are not supported)"));
    }
    bool selective = false;
    for (const LabelMatcher& m : s.matchers) selective |= !m.Matches("");
    if (!selective) {
      return Unsupported(
          "it matches every series; as in Prometheus, at least one matcher "
          "must not match the empty string, such as a metric name");
    }
    return s;
  }

 private:
  bool AtEnd() const { return pos_ >= query_.size(); }
  char Peek() const { return AtEnd() ? '\0' : query_[pos_]; }

  bool Consume(char c) {
    if (Peek() != c || AtEnd()) return false;
    ++pos_;
    return true;
  }

  // Consumes `op` if the input continues with it.
  bool Consume(absl::string_view op) {
    if (query_.substr(pos_, op.size()) != op) return false;
    pos_ += op.size();
    return true;
  }

  void SkipSpace() {
    while (!AtEnd() && absl::ascii_isspace(static_cast<unsigned char>(query_[pos_]))) {
      ++pos_;
    }
  }

  // A metric name (colons allowed) or a label name; "" when none starts here.
  absl::string_view Name(bool allow_colon) {
    const size_t start = pos_;
    if (AtEnd() || !IsNameStart(query_[pos_], allow_colon)) return {};
    while (!AtEnd() && IsNameChar(query_[pos_], allow_colon)) ++pos_;
    return query_.substr(start, pos_ - start);
  }

  absl::Status Unsupported(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported PromQL \"", query_, "\": ", what, "; ", kSupported));
  }

  absl::Status Invalid(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid PromQL \"", query_, "\" at character ", pos_ + 1, ": ", what));
  }

  // name, name{...} or {...}.
  absl::Status VectorSelector(std::vector<LabelMatcher>* matchers) {
    SkipSpace();
    const absl::string_view name = Name(/*allow_colon=*/true);
    if (!name.empty()) {
      absl::StatusOr<LabelMatcher> m =
          LabelMatcher::Make(MatchType::kEqual, "__name__", std::string(name));
      if (!m.ok()) return m.status();
      matchers->push_back(*std::move(m));
      SkipSpace();
    }
    if (Consume('{')) return MatcherList(/*has_name=*/!name.empty(), matchers);
    if (name.empty()) {
      return Unsupported(
          absl::StrCat("expected a metric name or '{' at \"", query_.substr(pos_), "\""));
    }
    return absl::OkStatus();
  }

  // After '{': matchers separated by commas, an optional trailing comma, '}'.
  absl::Status MatcherList(bool has_name, std::vector<LabelMatcher>* out) {
    while (true) {
      SkipSpace();
      if (Consume('}')) return absl::OkStatus();
      const absl::string_view label = Name(/*allow_colon=*/false);
      if (label.empty()) return Invalid("expected a label name or '}'");
      if (label == "__name__" && has_name) {
        return Invalid("the metric name is given twice");
      }
      SkipSpace();
      MatchType type;
      if (Consume("=~")) {
        type = MatchType::kRegex;
      } else if (Consume("!~")) {
        type = MatchType::kNotRegex;
      } else if (Consume("!=")) {
        type = MatchType::kNotEqual;
      } else if (Consume("=")) {
        type = MatchType::kEqual;
      } else {
        return Invalid(absl::StrCat("expected =, !=, =~ or !~ after label ", label));
      }
      SkipSpace();
      absl::StatusOr<std::string> value = QuotedString();
      if (!value.ok()) return value.status();
      absl::StatusOr<LabelMatcher> m =
          LabelMatcher::Make(type, std::string(label), *std::move(value));
      if (!m.ok()) return Invalid(m.status().message());
      out->push_back(*std::move(m));
      SkipSpace();
      if (Consume(',')) continue;
      if (Consume('}')) return absl::OkStatus();
      return Invalid("expected ',' or '}' after a matcher");
    }
  }

  absl::StatusOr<std::string> QuotedString() {
    const char quote = Peek();
    if (quote != '"' && quote != '\'' && quote != '`') {
      return Invalid("expected a label value quoted with \", ' or `");
    }
    const size_t open = pos_++;
    std::string out;
    while (true) {
      if (AtEnd() || (quote != '`' && query_[pos_] == '\n')) {
        pos_ = open;
        return Invalid("unterminated string");
      }
      const char c = query_[pos_++];
      if (c == quote) return out;
      if (c == '\\' && quote != '`') {
        absl::Status st = Escape(&out);
        if (!st.ok()) return st;
      } else {
        out += c;
      }
    }
  }

  // After a backslash: Go's escapes, as PromQL reads them.
  absl::Status Escape(std::string* out) {
    if (AtEnd()) return Invalid("unterminated string");
    const char c = query_[pos_++];
    switch (c) {
      case 'a':
        *out += '\a';
        return absl::OkStatus();
      case 'b':
        *out += '\b';
        return absl::OkStatus();
      case 'f':
        *out += '\f';
        return absl::OkStatus();
      case 'n':
        *out += '\n';
        return absl::OkStatus();
      case 'r':
        *out += '\r';
        return absl::OkStatus();
      case 't':
        *out += '\t';
        return absl::OkStatus();
      case 'v':
        *out += '\v';
        return absl::OkStatus();
      case '\\':
      case '\'':
      case '"':
        *out += c;
        return absl::OkStatus();
      case 'x':
        return HexEscape(2, /*code_point=*/false, out);
      case 'u':
        return HexEscape(4, /*code_point=*/true, out);
      case 'U':
        return HexEscape(8, /*code_point=*/true, out);
      default:
        break;
    }
    if (c >= '0' && c <= '7') {
      int v = c - '0';
      for (int i = 0; i < 2; ++i) {
        if (AtEnd() || query_[pos_] < '0' || query_[pos_] > '7') {
          return Invalid("an octal escape needs three digits");
        }
        v = v * 8 + (query_[pos_++] - '0');
      }
      if (v > 255) return Invalid("octal escape above \\377");
      *out += static_cast<char>(v);
      return absl::OkStatus();
    }
    --pos_;
    return Invalid(absl::StrCat("unknown escape \\", std::string(1, c)));
  }

  absl::Status HexEscape(int digits, bool code_point, std::string* out) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      const int d = AtEnd() ? -1 : HexValue(query_[pos_]);
      if (d < 0) {
        return Invalid(absl::StrCat("escape needs ", digits, " hex digits"));
      }
      v = v * 16 + d;
      ++pos_;
    }
    if (!code_point) {
      *out += static_cast<char>(v);
    } else if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
      return Invalid("escape is not a valid Unicode code point");
    } else {
      AppendUtf8(v, out);
    }
    return absl::OkStatus();
  }

  // After '[': a duration, then ']'.
  absl::StatusOr<int64_t> Range() {
    const size_t close = query_.find(']', pos_);
    if (close == absl::string_view::npos) return Invalid("unterminated range");
    const absl::string_view text = absl::StripAsciiWhitespace(query_.substr(pos_, close - pos_));
    absl::StatusOr<int64_t> ms = models::ParseDurationMs(StdView(text));
    if (!ms.ok()) {
      return Invalid(absl::StrCat("bad range [", text, "]: ", ms.status().message()));
    }
    if (*ms <= 0) return Invalid("the range must be positive");
    pos_ = close + 1;
    return *ms;
  }

  absl::string_view query_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<Selector> ParseSelector(std::string_view promql) {
  return Parser(AbslView(promql)).Parse();
}

}  // namespace kad::adapter
