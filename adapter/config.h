// The adapter's configuration: environment.yaml (which series to forecast,
// with which models) and activities.yaml (what to run on an anomaly), in the
// original Python system's format, loaded and validated in one step.
//
//   absl::StatusOr<Config> c = LoadConfig("environment.yaml",
//   "activities.yaml"); for (const std::string& w : c->warnings) LOG(WARNING)
//   << w;
//
// A plain value, built once at startup; thread-safe to read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "adapter/selector.h"
#include "models/registry.h"

namespace kad::adapter {

struct ModelConfig {
  std::string kind;
  models::ModelArgs args;        // as written, nested keys joined with dots
  models::ModelFactory factory;  // built and validated from kind and args
};

// One entry of prometheus_metric_list.
struct MetricConfig {
  std::string metric_query;  // as written
  Selector selector;
  // Required; a valid metric name, unique across entries (the output series
  // are named predicted_metric_name + "_" + kind).
  std::string predicted_metric_name;
  // What clears this entry's activity locks: onRetrain, onAnomalyChangeStatus.
  // Default: {"onRetrain"}.
  std::vector<std::string> events;
  // One forecaster per kind per series; kinds unique within the entry.
  // Default: one model of models::DefaultModelKind() with no args.
  std::vector<ModelConfig> models;
  // How far past the last sample the forecast reaches.
  // Default: the top-level forecast_horizon.
  int64_t forecast_horizon_ms = 0;
};

// One entry of activities: run shell_file or python_file (exactly one is
// set) with `args` when a series of the forecast named `name` breaks its band.
struct ActivityConfig {
  std::string name;
  std::string shell_file;
  std::string python_file;
  // Argument templates ("{{ labels.pod }}", ...), validated at load.
  std::vector<std::string> args;
  // command.interpreter, for python_file. Default: "python3" (from PATH).
  std::string interpreter = "python3";
  // timeout. Default: 60 s.
  int64_t timeout_ms = 60'000;
  // env: extra environment variables for the script.
  std::vector<std::pair<std::string, std::string>> env;
  // lock_scope: "series" (one lock per input series) or "activity" (one
  // lock for all series: a cluster-wide action). Default: "series".
  bool lock_per_activity = false;
  // run_as_user. Default: "" (the adapter's own user).
  std::string run_as_user;
  // max_concurrent: runs of this activity at once. Default: 1.
  int max_concurrent = 1;
};

struct Config {
  std::string version;  // "v1alpha", the only one. Default: "v1alpha"
  std::vector<MetricConfig> metrics;
  // retrain_scheduling_seconds: the period of the onRetrain event.
  // Default: 480 s.
  int64_t retrain_interval_ms = 480'000;
  // forecast_horizon. Default: 1h.
  int64_t forecast_horizon_ms = 3'600'000;
  // series_ttl: a forecast series whose input sent no sample for this long
  // is removed from memory and storage (its points with it). Default: 1d.
  int64_t series_ttl_ms = int64_t{24} * 3'600'000;
  std::vector<ActivityConfig> activities;
  // One line per ignored key of the original system or activity that names
  // no forecast, with its file and line.
  std::vector<std::string> warnings;
};

// Reads environment.yaml and the optional activities.yaml ("" = none). One
// file may hold both top-level keys. Errors are InvalidArgument (NotFound
// for a missing file) naming file, line and the offending key or entry.
absl::StatusOr<Config> LoadConfig(const std::string& config_path,
                                  const std::string& activities_path);

// The same from YAML text, for tests; error messages name the texts
// "environment.yaml" and "activities.yaml". `activities_yaml` may be "".
absl::StatusOr<Config> ParseConfig(std::string_view config_yaml, std::string_view activities_yaml);

}  // namespace kad::adapter
