// Command-line flags, Prometheus style: --name=value or --name value,
// booleans as --name, --name=true or --name=false.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kad::adapter {

struct Flags {
  std::string config_file = "environment.yaml";
  std::string activities_file;  // "" = activities only in the config file
  std::string scripts_dir = "scripts";
  bool activities_dry_run = false;
  int64_t activities_max_concurrent = 4;
  int64_t activities_queue_size = 1000;
  std::string listen_address = ":9201";
  std::string web_config_file;  // "" = plain HTTP, no authentication
  int64_t read_timeout_ms = 60'000;
  std::string storage_path = "data";
  int64_t retention_ms = int64_t{15} * 24 * 3600 * 1000;
  bool sync_writes = false;
  std::string log_level = "info";
  int64_t max_body_bytes = int64_t{32} << 20;
  int64_t max_uncompressed_bytes = int64_t{64} << 20;
  int64_t read_sample_limit = 10'000'000;
  int64_t read_series_limit = 100'000;
  int64_t shards = 2;
  int64_t checkpoint_interval_ms = 60'000;
  int64_t write_queue_bytes = int64_t{256} << 20;
  int64_t max_series = 2'000'000;
  bool help = false;
  bool version = false;
};

// InvalidArgument naming the flag for an unknown flag or a bad value.
absl::StatusOr<Flags> ParseFlags(int argc, const char* const* argv);
// The --help text.
std::string FlagsHelp();
// The --version text for `version` (the CMake project version), in
// Prometheus' layout: "k8s-anomaly-detector, version 0.1.0" and build lines.
std::string VersionText(std::string_view version);

}  // namespace kad::adapter
