// Runs one activity to completion: its own process group, a clean
// environment, argv only (never a shell string built from labels), a
// timeout that takes the whole group down, the output tail kept.
//
// Blocking: call it from a dispatcher worker, never a network or shard
// thread. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "activities/activity.h"

namespace kad::activities {

enum class RunOutcome { kSuccess, kFailure, kTimeout };
const char* RunOutcomeName(RunOutcome outcome);  // "success", "failure", "timeout"

struct RunResult {
  RunOutcome outcome = RunOutcome::kFailure;
  int exit_code = -1;  // -1 when killed by a signal or not started
  int signal = 0;      // the signal that ended it, if any
  int64_t duration_ms = 0;
  std::string output;  // last 4 KiB of stdout and stderr, interleaved
  std::string error;   // why it could not start, if it did not
};

// The argv the activity runs with: interpreter (or /bin/sh), the script,
// then each expanded argument.
std::vector<std::string> BuildArgv(const ActivitySpec& spec, const AnomalyContext& context);

// The environment: PATH (inherited, or a default), the anomaly variables
//   KAD_ACTIVITY, KAD_METRIC, KAD_LABELS (JSON object), KAD_VALUE, KAD_YHAT,
//   KAD_YHAT_LOWER, KAD_YHAT_UPPER, KAD_ANOMALY_SCORE, KAD_TIMESTAMP
// and the activity's own env. Nothing else is inherited.
std::vector<std::string> BuildEnvironment(const ActivitySpec& spec, const AnomalyContext& context);

RunResult RunActivity(const ActivitySpec& spec, const AnomalyContext& context);

}  // namespace kad::activities
