// Prometheus-style durations ("15s", "5m", "1h30m", "1d", "1w", "250ms").
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace kad::models {

// Milliseconds in `text`: one or more <integer><unit> terms, units
// ms, s, m, h, d (24h), w (7d), y (365d), largest first as Prometheus
// requires. A bare integer is seconds (the original config's
// "retrain_scheduling_seconds: 480"). InvalidArgument otherwise.
absl::StatusOr<int64_t> ParseDurationMs(std::string_view text);

}  // namespace kad::models
