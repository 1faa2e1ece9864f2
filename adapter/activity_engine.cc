#include "adapter/activity_engine.h"

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "activities/json.h"
#include "activities/script_path.h"
#include "adapter/absl_view.h"

namespace kad::adapter {
namespace {

constexpr char kKeySeparator = '\n';  // never in an activity (metric) name
constexpr double kDurationBuckets[] = {0.1, 0.5, 1, 5, 10, 30, 60, 300};
constexpr size_t kNumBuckets = sizeof(kDurationBuckets) / sizeof(kDurationBuckets[0]);

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<std::pair<std::string, std::string>> Pairs(const Labels& labels) {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(labels.size());
  for (const Label& l : labels) out.emplace_back(l.name, l.value);
  return out;
}

void AppendLock(std::string* out, const LockInfo& lock) {
  out->append("{\"activity\":");
  activities::AppendJsonString(out, lock.activity);
  out->append(",\"series\":");
  activities::AppendJsonObject(out, Pairs(lock.series));
  absl::StrAppend(out, ",\"since_ms\":", lock.since_ms, "}");
}

bool SameBinding(const ActivityBinding& a, const ActivityBinding& b) {
  const activities::ActivitySpec& x = a.spec;
  const activities::ActivitySpec& y = b.spec;
  return x.name == y.name && x.script_path == y.script_path && x.interpreter == y.interpreter &&
         x.args == y.args && x.timeout_ms == y.timeout_ms && x.kill_grace_ms == y.kill_grace_ms &&
         x.env == y.env && x.run_as_user == y.run_as_user && x.max_concurrent == y.max_concurrent &&
         a.lock_per_activity == b.lock_per_activity && a.clear_on_retrain == b.clear_on_retrain &&
         a.clear_on_recovery == b.clear_on_recovery;
}

}  // namespace

absl::StatusOr<ActivityEngine::Bindings> ActivityEngine::MakeBindings(
    const Config& config, const ActivityOptions& options) {
  Bindings bindings;
  for (const ActivityConfig& a : config.activities) {
    const std::string& file = a.shell_file.empty() ? a.python_file : a.shell_file;
    absl::StatusOr<std::string> path = activities::ResolveScript(options.scripts_dir, file);
    if (!path.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("activity ", a.name, ": ", path.status().message()));
    }
    auto binding = std::make_shared<ActivityBinding>();
    binding->spec.name = a.name;
    binding->spec.script_path = *path;
    binding->spec.interpreter = a.python_file.empty() ? "" : a.interpreter;
    binding->spec.args = a.args;
    binding->spec.timeout_ms = a.timeout_ms;
    binding->spec.env = a.env;
    binding->spec.run_as_user = a.run_as_user;
    binding->spec.max_concurrent = a.max_concurrent;
    binding->lock_per_activity = a.lock_per_activity;
    for (const MetricConfig& m : config.metrics) {
      for (const ModelConfig& model : m.models) {
        if (absl::StrCat(m.predicted_metric_name, "_", model.kind) != a.name) continue;
        for (const std::string& event : m.events) {
          binding->clear_on_retrain |= event == "onRetrain";
          binding->clear_on_recovery |= event == "onAnomalyChangeStatus";
        }
      }
    }
    bindings.emplace(a.name, std::move(binding));
  }
  return bindings;
}

absl::StatusOr<std::unique_ptr<ActivityEngine>> ActivityEngine::Create(
    const Config& config, const ActivityOptions& options, storage::Store* store,
    const Logger* log) {
  std::unique_ptr<ActivityEngine> engine(new ActivityEngine(options, store, log));
  absl::StatusOr<Bindings> bindings = MakeBindings(config, options);
  if (!bindings.ok()) return bindings.status();
  {
    absl::MutexLock l(&engine->mu_);
    engine->bindings_ = *std::move(bindings);
  }

  absl::Status status = store->ForEachLock([&](std::string_view key, std::string_view value) {
    const size_t sep = key.find(kKeySeparator);
    if (sep == std::string_view::npos) return;
    LockInfo lock;
    lock.activity = std::string(key.substr(0, sep));
    absl::StatusOr<Labels> series = DecodeLabels(key.substr(sep + 1));
    if (!series.ok() || !absl::SimpleAtoi(AbslView(value), &lock.since_ms)) return;
    lock.series = *std::move(series);
    absl::MutexLock l(&engine->mu_);
    engine->locks_.emplace(std::string(key), std::move(lock));
  });
  if (!status.ok()) return status;

  activities::DispatcherOptions dispatch;
  dispatch.max_concurrent = options.max_concurrent;
  dispatch.queue_size = options.queue_size;
  dispatch.dry_run = options.dry_run;
  ActivityEngine* self = engine.get();
  engine->dispatcher_ = std::make_unique<activities::Dispatcher>(
      dispatch,
      activities::DispatcherHooks{
          .on_start = [self](const activities::Job& job) { self->Started(job); },
          .on_finish = [self](const activities::Job& job,
                              const activities::RunResult& r) { self->Finished(job, r); }});
  return engine;
}

ActivityEngine::ActivityEngine(const ActivityOptions& options, storage::Store* store,
                               const Logger* log)
    : options_(options), store_(store), log_(log) {}

ActivityEngine::~ActivityEngine() { dispatcher_.reset(); }

const ActivityBinding* ActivityEngine::Find(std::string_view forecast_name) const {
  absl::MutexLock l(&mu_);
  auto it = bindings_.find(forecast_name);
  return it == bindings_.end() ? nullptr : it->second.get();
}

absl::Status ActivityEngine::Reload(const Config& config) {
  absl::StatusOr<Bindings> bindings = MakeBindings(config, options_);
  if (!bindings.ok()) return bindings.status();
  absl::MutexLock l(&mu_);
  for (auto& [name, binding] : *bindings) {
    auto it = bindings_.find(name);
    if (it != bindings_.end() && SameBinding(*it->second, *binding)) binding = it->second;
  }
  for (auto& [name, binding] : bindings_) {
    auto it = bindings->find(name);
    if (it == bindings->end() || it->second != binding) retired_.push_back(std::move(binding));
  }
  bindings_ = *std::move(bindings);
  return absl::OkStatus();
}

std::string ActivityEngine::LockKey(const ActivityBinding& binding, const Labels& input) const {
  return absl::StrCat(binding.spec.name, std::string(1, kKeySeparator),
                      binding.lock_per_activity ? std::string() : EncodeLabels(input));
}

void ActivityEngine::OnVerdict(const ActivityBinding& binding, const Labels& input,
                               const storage::ForecastPoint& point, bool was_anomaly) {
  if (!point.anomaly) {
    if (was_anomaly && binding.clear_on_recovery) ClearLock(LockKey(binding, input));
    return;
  }
  std::string key = LockKey(binding, input);
  {
    absl::MutexLock l(&mu_);
    if (locks_.contains(key)) return;
    locks_.emplace(key, LockInfo{binding.spec.name, binding.lock_per_activity ? Labels() : input,
                                 point.timestamp_ms});
  }
  activities::AnomalyContext context{.metric = "",
                                     .labels = {},
                                     .value = point.value,
                                     .yhat = point.yhat,
                                     .yhat_lower = point.yhat_lower,
                                     .yhat_upper = point.yhat_upper,
                                     .anomaly_score = point.anomaly_score,
                                     .timestamp_ms = point.timestamp_ms};
  for (const Label& l : input) {
    if (l.name == "__name__") {
      context.metric = l.value;
    } else {
      context.labels.emplace_back(l.name, l.value);
    }
  }
  if (!dispatcher_->Submit({.activity = &binding.spec, .context = context, .lock_key = key})) {
    log_->Warn("activity queue full: run dropped", {{"activity", binding.spec.name}});
    absl::MutexLock l(&mu_);
    locks_.erase(key);
    ++runs_[{binding.spec.name, "dropped"}];
  }
}

void ActivityEngine::OnRetrained(const ActivityBinding& binding, const Labels& input) {
  if (binding.clear_on_retrain) ClearLock(LockKey(binding, input));
}

void ActivityEngine::ClearLock(const std::string& key) {
  {
    absl::MutexLock l(&mu_);
    if (locks_.erase(key) == 0) return;
  }
  if (absl::Status s = store_->DeleteLock(key); !s.ok()) {
    log_->Error("cannot delete activity lock", {{"err", s.message()}});
  }
}

void ActivityEngine::Started(const activities::Job& job) {
  int64_t since = NowMs();
  {
    absl::MutexLock l(&mu_);
    auto it = locks_.find(job.lock_key);
    if (it != locks_.end()) it->second.since_ms = since;
  }
  if (absl::Status s = store_->PutLock(job.lock_key, absl::StrCat(since)); !s.ok()) {
    log_->Error("cannot store activity lock",
                {{"activity", job.activity->name}, {"err", s.message()}});
  }
  log_->Info(options_.dry_run ? "dry run: would run activity" : "running activity",
             {{"activity", job.activity->name}, {"script", job.activity->script_path}});
}

void ActivityEngine::Finished(const activities::Job& job, const activities::RunResult& r) {
  const std::string outcome = activities::RunOutcomeName(r.outcome);
  std::string record = "{\"activity\":";
  activities::AppendJsonString(&record, job.activity->name);
  record.append(",\"series\":");
  activities::AppendJsonObject(&record, job.context.labels);
  absl::StrAppend(&record, ",\"anomaly_timestamp_ms\":", job.context.timestamp_ms,
                  ",\"finished_ms\":", NowMs(), ",\"duration_ms\":", r.duration_ms,
                  ",\"outcome\":\"", outcome, "\",\"exit_code\":", r.exit_code,
                  ",\"signal\":", r.signal, ",\"output\":");
  activities::AppendJsonString(&record, r.output);
  record.append(",\"error\":");
  activities::AppendJsonString(&record, r.error);
  record.append("}");
  if (absl::Status s = store_->AppendRun(record, options_.history_size); !s.ok()) {
    log_->Error("cannot store activity run", {{"err", s.message()}});
  }
  log_->Log(r.outcome == activities::RunOutcome::kSuccess ? LogLevel::kInfo : LogLevel::kWarn,
            "activity finished",
            {{"activity", job.activity->name},
             {"outcome", outcome},
             {"exit_code", absl::StrCat(r.exit_code)},
             {"duration_ms", absl::StrCat(r.duration_ms)}});
  absl::MutexLock l(&mu_);
  ++runs_[{job.activity->name, outcome}];
  Durations& d = durations_[job.activity->name];
  d.buckets.resize(kNumBuckets);
  const double seconds = static_cast<double>(r.duration_ms) / 1000;
  for (size_t i = 0; i < kNumBuckets; ++i) {
    if (seconds <= kDurationBuckets[i]) {
      ++d.buckets[i];
      break;
    }
  }
  ++d.count;
  d.sum += seconds;
}

std::vector<LockInfo> ActivityEngine::Locks() const {
  std::vector<LockInfo> out;
  absl::MutexLock l(&mu_);
  for (const auto& [key, lock] : locks_) out.push_back(lock);
  return out;
}

size_t ActivityEngine::DeleteLocks(std::string_view activity,
                                   const std::vector<LabelMatcher>& matchers) {
  std::vector<std::string> keys;
  {
    absl::MutexLock l(&mu_);
    for (const auto& [key, lock] : locks_) {
      if ((activity.empty() || lock.activity == activity) && MatchesAll(matchers, lock.series)) {
        keys.push_back(key);
      }
    }
  }
  for (const std::string& key : keys) ClearLock(key);
  return keys.size();
}

std::string ActivityEngine::LocksJson() const {
  std::string out = "{\"locks\":[";
  bool first = true;
  for (const LockInfo& lock : Locks()) {
    if (!first) out.push_back(',');
    first = false;
    AppendLock(&out, lock);
  }
  out.append("]}");
  return out;
}

std::string ActivityEngine::ActivitiesJson() const {
  std::string out = "{\"activities\":[";
  bool first = true;
  Bindings bindings;
  {
    absl::MutexLock l(&mu_);
    bindings = bindings_;
  }
  for (const auto& [name, binding] : bindings) {
    const ActivityBinding& b = *binding;
    if (!first) out.push_back(',');
    first = false;
    out.append("{\"name\":");
    activities::AppendJsonString(&out, name);
    out.append(",\"script\":");
    activities::AppendJsonString(&out, b.spec.script_path);
    out.append(",\"interpreter\":");
    activities::AppendJsonString(&out, b.spec.interpreter.empty() ? "/bin/sh" : b.spec.interpreter);
    out.append(",\"args\":[");
    for (size_t i = 0; i < b.spec.args.size(); ++i) {
      if (i > 0) out.push_back(',');
      activities::AppendJsonString(&out, b.spec.args[i]);
    }
    absl::StrAppend(&out, "],\"timeout_ms\":", b.spec.timeout_ms, ",\"lock_scope\":\"",
                    b.lock_per_activity ? "activity" : "series",
                    "\",\"max_concurrent\":", b.spec.max_concurrent,
                    ",\"clear_on_retrain\":", b.clear_on_retrain ? "true" : "false",
                    ",\"clear_on_recovery\":", b.clear_on_recovery ? "true" : "false", "}");
  }
  out.append("],\"running\":[");
  first = true;
  for (const std::string& name : dispatcher_->Running()) {
    if (!first) out.push_back(',');
    first = false;
    activities::AppendJsonString(&out, name);
  }
  out.append("],\"history\":[");
  first = true;
  absl::Status status = store_->ForEachRun([&](uint64_t, std::string_view record) {
    if (!first) out.push_back(',');
    first = false;
    out.append(record);
  });
  if (!status.ok()) log_->Error("cannot read activity history", {{"err", status.message()}});
  absl::StrAppend(&out, "],\"dry_run\":", options_.dry_run ? "true" : "false", "}");
  return out;
}

void ActivityEngine::RenderMetrics(std::string* out) const {
  const activities::DispatcherStats stats = dispatcher_->Stats();
  absl::StrAppend(out,
                  "# HELP kad_activity_queue_depth Activity runs waiting to start.\n"
                  "# TYPE kad_activity_queue_depth gauge\nkad_activity_queue_depth ",
                  stats.queued,
                  "\n# HELP kad_activity_running Activity runs in progress.\n"
                  "# TYPE kad_activity_running gauge\nkad_activity_running ",
                  stats.running,
                  "\n# HELP kad_activity_locks Activity locks set (runs that will not "
                  "repeat until an event clears them).\n# TYPE kad_activity_locks gauge\n"
                  "kad_activity_locks ");
  absl::MutexLock l(&mu_);
  absl::StrAppend(out, locks_.size(),
                  "\n# HELP kad_activity_runs_total Activity runs by outcome (success, "
                  "failure, timeout, dropped).\n# TYPE kad_activity_runs_total counter\n");
  for (const auto& [key, n] : runs_) {
    absl::StrAppend(out, "kad_activity_runs_total{activity=\"", key.first, "\",outcome=\"",
                    key.second, "\"} ", n, "\n");
  }
  out->append(
      "# HELP kad_activity_run_duration_seconds How long activity runs took.\n"
      "# TYPE kad_activity_run_duration_seconds histogram\n");
  for (const auto& [name, d] : durations_) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kNumBuckets; ++i) {
      cumulative += d.buckets[i];
      absl::StrAppend(out, "kad_activity_run_duration_seconds_bucket{activity=\"", name, "\",le=\"",
                      absl::StrFormat("%g", kDurationBuckets[i]), "\"} ", cumulative, "\n");
    }
    absl::StrAppend(
        out, "kad_activity_run_duration_seconds_bucket{activity=\"", name, "\",le=\"+Inf\"} ",
        d.count, "\n", "kad_activity_run_duration_seconds_sum{activity=\"", name, "\"} ",
        absl::StrFormat("%.3f", d.sum), "\n", "kad_activity_run_duration_seconds_count{activity=\"",
        name, "\"} ", d.count, "\n");
  }
}

}  // namespace kad::adapter
