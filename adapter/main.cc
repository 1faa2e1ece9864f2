// k8s-anomaly-detector: wires the parts together and owns shutdown.
// Everything here is construction order; behaviour lives in the libraries.
#include <csignal>
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "adapter/absl_view.h"
#include "adapter/activity_engine.h"
#include "adapter/api.h"
#include "adapter/clock.h"
#include "adapter/config.h"
#include "adapter/engine.h"
#include "adapter/flags.h"
#include "adapter/http_server.h"
#include "adapter/log.h"
#include "adapter/malloc_tuning.h"
#include "adapter/self_metrics.h"
#include "google/protobuf/stubs/logging.h"
#include "storage/store.h"

namespace {

using namespace kad::adapter;

int Fail(const Logger& log, absl::string_view what, const absl::Status& status) {
  log.Error(what, {{"err", status.message()}});
  return 1;
}

int Run(int argc, char** argv) {
  // protobuf logs a line of its own for each message with a string that is
  // not UTF-8: any client could flood the log. Such a request is refused
  // with a 400 that says why; the log line adds nothing.
  google::protobuf::SetLogHandler(nullptr);
  TuneMalloc();

  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<Flags> flags = ParseFlags(argc, argv);
  if (!flags.ok()) {
    std::fprintf(stderr, "%s\n", std::string(flags.status().message()).c_str());
    return 2;
  }
  if (flags->help) {
    std::fputs(FlagsHelp().c_str(), stdout);
    return 0;
  }
  if (flags->version) {
    std::fputs(VersionText(KAD_VERSION).c_str(), stdout);
    return 0;
  }
  absl::StatusOr<LogLevel> level = ParseLogLevel(flags->log_level);
  if (!level.ok()) {
    std::fprintf(stderr, "flag --log.level: %s\n", std::string(level.status().message()).c_str());
    return 2;
  }
  const Logger log(*level);

  absl::StatusOr<Config> config = LoadConfig(flags->config_file, flags->activities_file);
  if (!config.ok()) return Fail(log, "cannot load the configuration", config.status());
  for (const std::string& warning : config->warnings) log.Warn(warning);

  kad::storage::StoreOptions store_options;
  store_options.path = flags->storage_path;
  store_options.retention_ms = flags->retention_ms;
  store_options.sync_writes = flags->sync_writes;
  store_options.log = [&log](std::string_view line) {
    log.Warn("rocksdb", {{"msg", AbslView(line)}});
  };
  absl::StatusOr<std::unique_ptr<kad::storage::Store>> store =
      kad::storage::Store::Open(store_options);
  if (!store.ok()) return Fail(log, "cannot open storage", store.status());

  EngineOptions engine_options;
  engine_options.shards = static_cast<int>(flags->shards);
  engine_options.shard.checkpoint_interval_ms = flags->checkpoint_interval_ms;
  engine_options.shard.retrain_interval_ms = config->retrain_interval_ms;
  engine_options.read_sample_limit = static_cast<size_t>(flags->read_sample_limit);
  engine_options.read_series_limit = static_cast<size_t>(flags->read_series_limit);
  engine_options.max_sample_age_ms = flags->retention_ms;
  engine_options.max_queued_bytes = static_cast<size_t>(flags->write_queue_bytes);
  engine_options.max_series = flags->max_series;
  if (absl::Status s = engine_options.Validate(); !s.ok()) return Fail(log, "bad options", s);

  ActivityOptions activity_options;
  activity_options.scripts_dir = flags->scripts_dir;
  activity_options.dry_run = flags->activities_dry_run;
  activity_options.max_concurrent = static_cast<int>(flags->activities_max_concurrent);
  activity_options.queue_size = static_cast<size_t>(flags->activities_queue_size);
  absl::StatusOr<std::unique_ptr<ActivityEngine>> activities =
      ActivityEngine::Create(*config, activity_options, store->get(), &log);
  if (!activities.ok()) return Fail(log, "cannot set up activities", activities.status());

  const SystemClock clock;
  SelfMetrics metrics;
  Engine engine(*config, engine_options, store->get(), &clock, &metrics, activities->get(), &log);
  ApiOptions api_options;
  api_options.max_uncompressed_bytes = static_cast<size_t>(flags->max_uncompressed_bytes);
  ConfigReloader reloader(flags->config_file, flags->activities_file, &engine, &metrics, &clock,
                          &log);
  auto api = std::make_unique<Api>(api_options, &engine, store->get(), &metrics, activities->get(),
                                   &log, &reloader);
  HttpServerOptions server_options;
  server_options.listen_address = flags->listen_address;
  server_options.max_body_bytes = static_cast<size_t>(flags->max_body_bytes);
  server_options.io_timeout = std::chrono::milliseconds(flags->read_timeout_ms);
  server_options.web_config_file = flags->web_config_file;
  HttpServer server(
      server_options,
      [&api](HttpRequest&& r, Respond respond) { api->Handle(std::move(r), std::move(respond)); },
      &log);
  if (absl::Status s = server.Start(); !s.ok()) return Fail(log, "cannot serve", s);
  if (!flags->web_config_file.empty()) {
    reloader.AlsoReload([&server] { return server.ReloadWebConfig(); });
  }

  log.Info("starting k8s-anomaly-detector",
           {{"version", KAD_VERSION},
            {"config", flags->config_file},
            {"activities", flags->activities_file},
            {"scripts_dir", flags->scripts_dir},
            {"dry_run", flags->activities_dry_run ? "true" : "false"},
            {"metrics", absl::StrCat(config->metrics.size())},
            {"listen_address", flags->listen_address},
            {"port", absl::StrCat(server.port())},
            {"storage_path", flags->storage_path}});
  // /-/healthy answers during the load; /-/ready and the API once it is done.
  if (absl::Status s = engine.Load(); !s.ok()) return Fail(log, "cannot load stored state", s);
  engine.Start();
  api->SetReady();
  log.Info("ready", {{"series", absl::StrCat(engine.num_series())}});

  int signal = 0;
  while (sigwait(&signals, &signal) == 0 && signal == SIGHUP) (void)reloader.Reload();
  log.Info("shutting down", {{"signal", absl::StrCat(signal)}});
  server.Stop();
  api.reset();          // waits for running reads, which need the shards
  engine.Stop();        // checkpoints every changed model
  activities->reset();  // waits for running scripts
  if (absl::Status s = (*store)->Flush(); !s.ok())
    log.Error("flush failed", {{"err", s.message()}});
  log.Info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ReexecWithHugePages(argv);
  return Run(argc, argv);
}
