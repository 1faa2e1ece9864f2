// A logfmt logger writing one line per event to stderr:
//   ts=2026-11-24T12:00:00.000Z level=info msg="listening" address=:9201
// Thread-safe (one write(2) per line). Owned by main() and passed down.
#pragma once

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kad::adapter {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug", "info", "warn", "error" (Prometheus' --log.level values).
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view text);

class Logger {
 public:
  using Fields = std::initializer_list<std::pair<absl::string_view, absl::string_view>>;

  explicit Logger(LogLevel level) : level_(level) {}

  bool Enabled(LogLevel level) const { return level >= level_; }
  void Log(LogLevel level, absl::string_view msg, Fields fields = {}) const;
  void Debug(absl::string_view msg, Fields fields = {}) const {
    Log(LogLevel::kDebug, msg, fields);
  }
  void Info(absl::string_view msg, Fields fields = {}) const { Log(LogLevel::kInfo, msg, fields); }
  void Warn(absl::string_view msg, Fields fields = {}) const { Log(LogLevel::kWarn, msg, fields); }
  void Error(absl::string_view msg, Fields fields = {}) const {
    Log(LogLevel::kError, msg, fields);
  }

 private:
  LogLevel level_;
};

}  // namespace kad::adapter
