#include "adapter/flags.h"

#include <functional>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "adapter/absl_view.h"
#include "models/duration.h"

namespace kad::adapter {
namespace {

using Setter = std::function<absl::Status(Flags&, std::string_view)>;

struct FlagSpec {
  std::string_view name;
  std::string_view help;
  bool boolean;
  Setter set;
};

Setter String(std::string Flags::*field) {
  return [field](Flags& f, std::string_view v) {
    f.*field = std::string(v);
    return absl::OkStatus();
  };
}

Setter Bool(bool Flags::*field) {
  return [field](Flags& f, std::string_view v) {
    if (v == "true" || v == "1")
      f.*field = true;
    else if (v == "false" || v == "0")
      f.*field = false;
    else
      return absl::InvalidArgumentError("expects true or false");
    return absl::OkStatus();
  };
}

Setter Positive(int64_t Flags::*field) {
  return [field](Flags& f, std::string_view v) {
    double d;  // accepts 5e7, as Prometheus' sample limit does
    if (!absl::SimpleAtod(AbslView(v), &d) || d < 1 || d > 9e18) {
      return absl::InvalidArgumentError("expects a positive number");
    }
    f.*field = static_cast<int64_t>(d);
    return absl::OkStatus();
  };
}

Setter Duration(int64_t Flags::*field) {
  return [field](Flags& f, std::string_view v) {
    absl::StatusOr<int64_t> ms = models::ParseDurationMs(v);
    if (!ms.ok()) return ms.status();
    if (*ms <= 0) return absl::InvalidArgumentError("expects a positive duration");
    f.*field = *ms;
    return absl::OkStatus();
  };
}

const std::vector<FlagSpec>& Specs() {
  static const std::vector<FlagSpec> specs = {
      {"config.file", "environment.yaml: metrics to model (may also hold activities)", false,
       String(&Flags::config_file)},
      {"activities.file", "activities.yaml: scripts to run on anomalies (optional)", false,
       String(&Flags::activities_file)},
      {"activities.scripts-dir", "folder activity scripts must be in (nothing outside it runs)",
       false, String(&Flags::scripts_dir)},
      {"activities.dry-run", "log the activities that would run instead of running them", true,
       Bool(&Flags::activities_dry_run)},
      {"activities.max-concurrent", "activity runs at once, all activities together", false,
       Positive(&Flags::activities_max_concurrent)},
      {"activities.queue-size", "activity runs waiting to start; more are dropped and counted",
       false, Positive(&Flags::activities_queue_size)},
      {"web.listen-address", "address to serve remote write/read and /metrics on", false,
       String(&Flags::listen_address)},
      {"web.config.file", "TLS and authentication, in Prometheus' web config format (optional)",
       false, String(&Flags::web_config_file)},
      {"web.read-timeout",
       "time a request (headers and body) has to arrive; idle connections close after it", false,
       Duration(&Flags::read_timeout_ms)},
      {"web.max-request-bytes", "largest compressed request body; larger gets 413", false,
       Positive(&Flags::max_body_bytes)},
      {"web.max-uncompressed-bytes", "largest uncompressed request body; larger gets 413", false,
       Positive(&Flags::max_uncompressed_bytes)},
      {"storage.path", "folder of the RocksDB that holds series, models and forecasts", false,
       String(&Flags::storage_path)},
      {"storage.retention", "how long forecast points are kept (e.g. 15d)", false,
       Duration(&Flags::retention_ms)},
      {"storage.sync-writes", "fsync every acknowledged write (survives power loss)", true,
       Bool(&Flags::sync_writes)},
      {"storage.checkpoint-interval", "how often changed models are saved", false,
       Duration(&Flags::checkpoint_interval_ms)},
      {"storage.write-queue-bytes",
       "remote-write bytes waiting for the model threads; beyond it writes get 503", false,
       Positive(&Flags::write_queue_bytes)},
      {"storage.max-series",
       "forecast series held at most; new series beyond it are dropped and counted", false,
       Positive(&Flags::max_series)},
      {"storage.remote.read-sample-limit", "most samples one remote read may return", false,
       Positive(&Flags::read_sample_limit)},
      {"storage.remote.read-series-limit", "most series one remote-read query may return", false,
       Positive(&Flags::read_series_limit)},
      {"shards", "model threads; each owns a hash share of the series", false,
       Positive(&Flags::shards)},
      {"log.level", "debug, info, warn or error", false, String(&Flags::log_level)},
      {"help", "show this help", true, Bool(&Flags::help)},
      {"version", "show the version", true, Bool(&Flags::version)},
  };
  return specs;
}

}  // namespace

absl::StatusOr<Flags> ParseFlags(int argc, const char* const* argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.substr(0, 2) != "--") {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", AbslView(arg), "\"; see --help"));
    }
    arg.remove_prefix(2);
    const size_t eq = arg.find('=');
    const std::string_view name = arg.substr(0, eq);
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& s : Specs()) {
      if (s.name == name) spec = &s;
    }
    if (spec == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", AbslView(name), "; see --help"));
    }
    std::string_view value;
    if (eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
    } else if (spec->boolean) {
      value = "true";
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("flag --", AbslView(name), " needs a value"));
    }
    if (absl::Status s = spec->set(flags, value); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", AbslView(name), "=", AbslView(value), ": ", s.message()));
    }
  }
  return flags;
}

std::string FlagsHelp() {
  std::string out =
      "usage: k8s-anomaly-detector [flags]\n\n"
      "Streaming forecasts and anomaly detection for Prometheus (remote write in,\n"
      "remote read out). SIGHUP or POST /-/reload re-reads the config files and\n"
      "the web config file.\n"
      "Flags:\n";
  for (const FlagSpec& s : Specs()) {
    absl::StrAppend(&out, absl::StrFormat("  --%-34s %s\n", AbslView(s.name), AbslView(s.help)));
  }
  return out;
}

std::string VersionText(std::string_view version) {
#if defined(__x86_64__)
  constexpr std::string_view kArch = "amd64";
#elif defined(__aarch64__)
  constexpr std::string_view kArch = "arm64";
#else
  constexpr std::string_view kArch = "unknown";
#endif
  return absl::StrCat("k8s-anomaly-detector, version ", AbslView(version), "\n",
                      "  compiler:         ", __VERSION__, " (C++ ", __cplusplus, ")\n",
                      "  platform:         linux/", AbslView(kArch), "\n");
}

}  // namespace kad::adapter
