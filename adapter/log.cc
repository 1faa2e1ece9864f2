#include "adapter/log.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace kad::adapter {
namespace {

constexpr absl::string_view kLevelNames[] = {"debug", "info", "warn", "error"};

// logfmt: bare when safe, else double-quoted with \" and \\ escaped.
void AppendValue(std::string* out, absl::string_view v) {
  bool bare = !v.empty();
  for (char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\') bare = false;
  }
  if (bare) {
    out->append(v.data(), v.size());
    return;
  }
  out->push_back('"');
  for (char c : v) {
    if (c == '"' || c == '\\') out->push_back('\\');
    if (c == '\n') {
      out->append("\\n");
      continue;
    }
    out->push_back(c);
  }
  out->push_back('"');
}

}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view text) {
  for (int i = 0; i < 4; ++i) {
    if (text == kLevelNames[i]) return static_cast<LogLevel>(i);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log level \"", text, "\": use debug, info, warn or error"));
}

void Logger::Log(LogLevel level, absl::string_view msg, Fields fields) const {
  if (!Enabled(level)) return;
  std::string line = absl::StrCat(
      "ts=", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
      " level=", kLevelNames[static_cast<int>(level)], " msg=");
  AppendValue(&line, msg);
  for (const auto& [key, value] : fields) {
    absl::StrAppend(&line, " ", key, "=");
    AppendValue(&line, value);
  }
  line.push_back('\n');
  (void)!write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace kad::adapter
