// What an activity is (a script run when a forecast band breaks) and the
// anomaly it is run for. Plain data; the adapter fills it from the config.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kad::activities {

struct ActivitySpec {
  std::string name;  // = predicted_metric_name + "_" + kind
  // Absolute path of the script, already resolved inside the scripts
  // directory by ResolveScript().
  std::string script_path;
  // Empty: run the script with /bin/sh. Otherwise the interpreter, e.g.
  // "python3" (looked up in PATH) for python_file activities.
  std::string interpreter;
  // Argument templates, each expanded to exactly one argv element.
  std::vector<std::string> args;
  // Default: 60 s. SIGTERM to the process group at the timeout, SIGKILL
  // kill_grace_ms later.
  int64_t timeout_ms = 60'000;
  int64_t kill_grace_ms = 5'000;
  // Extra environment variables (config `env:`), added to the clean one.
  std::vector<std::pair<std::string, std::string>> env;
  // Default: "" (the adapter's user). Otherwise run as this user (needs root).
  std::string run_as_user;
  // Default: 1. Runs of this activity at once.
  int max_concurrent = 1;
};

// The anomaly an activity runs for.
struct AnomalyContext {
  std::string metric;                                       // the input series' metric name
  std::vector<std::pair<std::string, std::string>> labels;  // input labels, sorted
  double value = 0;
  double yhat = 0;
  double yhat_lower = 0;
  double yhat_upper = 0;
  double anomaly_score = 0;
  int64_t timestamp_ms = 0;
};

}  // namespace kad::activities
