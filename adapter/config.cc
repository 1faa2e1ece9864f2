#include "adapter/config.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "activities/arg_template.h"
#include "adapter/absl_view.h"
#include "models/duration.h"
#include "yaml-cpp/yaml.h"

// Debian's abseil has no status_macros.h.
#define KAD_CONFIG_CONCAT_INNER(a, b) a##b
#define KAD_CONFIG_CONCAT(a, b) KAD_CONFIG_CONCAT_INNER(a, b)
#define RETURN_IF_ERROR(expr)          \
  do {                                 \
    absl::Status status_ = (expr);     \
    if (!status_.ok()) return status_; \
  } while (false)
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(KAD_CONFIG_CONCAT(statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = *std::move(tmp)

namespace kad::adapter {
namespace {

constexpr absl::string_view kVersion = "v1alpha";
constexpr absl::string_view kDefaultEvent = "onRetrain";
constexpr absl::string_view kEvents[] = {"onRetrain", "onAnomalyChangeStatus"};

constexpr absl::string_view kTopKeys[] = {"version",
                                          "prometheus_metric_list",
                                          "retrain_scheduling_seconds",
                                          "forecast_horizon",
                                          "series_ttl",
                                          "activities"};
constexpr absl::string_view kActivitiesFileKeys[] = {"version", "activities"};
constexpr absl::string_view kMetricKeys[] = {"metric_query", "predicted_metric_name", "events",
                                             "models", "forecast_horizon"};
constexpr absl::string_view kModelKeys[] = {"kind", "args"};
constexpr absl::string_view kActivityKeys[] = {"name",       "command",     "timeout",       "env",
                                               "lock_scope", "run_as_user", "max_concurrent"};
constexpr absl::string_view kCommandKeys[] = {"shell_file", "python_file", "args", "interpreter"};

// Keys of the original Python system (which queried Prometheus and kept
// state in Redis) that mean nothing here; accepted so its files load.
constexpr absl::string_view kLegacyKeys[] = {"prometheus_url",
                                             "prometheus_access_token",
                                             "redis_host",
                                             "redis_port",
                                             "redis_password",
                                             "sentry_dns",
                                             "prophet_configuration",
                                             "retrain_window",
                                             "rolling_training_window_size",
                                             "metric_chunk_size",
                                             "data_window_size",
                                             "model_list_field",
                                             "report_list_field"};

bool Contains(absl::Span<const absl::string_view> list, absl::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

bool IsValidMetricName(absl::string_view name) {
  auto is_start = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
  };
  return !name.empty() && is_start(name[0]) &&
         std::all_of(name.begin() + 1, name.end(),
                     [&](char c) { return is_start(c) || (c >= '0' && c <= '9'); });
}

// "environment.yaml:7", or only the file when yaml-cpp knows no position.
std::string WhereIn(absl::string_view file, const YAML::Mark& mark) {
  if (mark.is_null()) return std::string(file);
  return absl::StrCat(file, ":", mark.line + 1);
}

// Reads the nodes of one file; every error names the file, the line and the
// path of the entry ("prometheus_metric_list[0].models[1]").
class FileReader {
 public:
  FileReader(absl::string_view file, std::vector<std::string>* warnings)
      : file_(file), warnings_(warnings) {}

  absl::Status Error(const YAML::Node& node, absl::string_view path,
                     absl::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(node), ": ", path, path.empty() ? "" : ": ", message));
  }

  // Fails on a key not in `valid` (or given twice); warns once per legacy
  // key.
  absl::Status CheckKeys(const YAML::Node& map, absl::string_view path,
                         absl::Span<const absl::string_view> valid) const {
    std::set<std::string> seen;
    for (const auto& kv : map) {
      const std::string& key = kv.first.Scalar();
      if (!seen.insert(key).second) {
        return Error(kv.first, path, absl::StrCat("key ", key, " given twice"));
      }
      if (Contains(valid, key)) continue;
      if (Contains(kLegacyKeys, key)) {
        warnings_->push_back(
            absl::StrCat(Where(kv.first), ": ignoring ", key,
                         ": a setting of the original Python system that has no effect "
                         "here"));
        continue;
      }
      return Error(
          kv.first, path,
          absl::StrCat("unknown key ", key, "; valid keys here: ", absl::StrJoin(valid, ", ")));
    }
    return absl::OkStatus();
  }

  absl::Status ExpectMap(const YAML::Node& node, absl::string_view path) const {
    if (node.IsMap()) return absl::OkStatus();
    return Error(node, path, "expected a map of keys");
  }

  absl::StatusOr<std::string> Scalar(const YAML::Node& node, absl::string_view path) const {
    if (!node.IsScalar()) return Error(node, path, "expected a single value");
    return node.Scalar();
  }

  absl::StatusOr<std::vector<std::string>> ScalarList(const YAML::Node& node,
                                                      absl::string_view path) const {
    if (!node.IsSequence()) return Error(node, path, "expected a list");
    std::vector<std::string> out;
    for (size_t i = 0; i < node.size(); ++i) {
      ASSIGN_OR_RETURN(std::string s, Scalar(node[i], absl::StrCat(path, "[", i, "]")));
      out.push_back(std::move(s));
    }
    return out;
  }

  absl::StatusOr<int64_t> PositiveDuration(const YAML::Node& node, absl::string_view path) const {
    ASSIGN_OR_RETURN(const std::string text, Scalar(node, path));
    absl::StatusOr<int64_t> ms = models::ParseDurationMs(text);
    if (!ms.ok()) return Error(node, path, ms.status().message());
    if (*ms <= 0) return Error(node, path, "must be positive");
    return *ms;
  }

  absl::Status CheckVersion(const YAML::Node& root) const {
    const YAML::Node node = root["version"];
    if (!node.IsDefined()) return absl::OkStatus();
    ASSIGN_OR_RETURN(const std::string version, Scalar(node, "version"));
    if (version == kVersion) return absl::OkStatus();
    return Error(node, "version",
                 absl::StrCat("unsupported version \"", version, "\"; the only one is ", kVersion));
  }

  void Warn(const YAML::Node& node, absl::string_view message) const {
    warnings_->push_back(absl::StrCat(Where(node), ": ", message));
  }

 private:
  std::string Where(const YAML::Node& node) const { return WhereIn(file_, node.Mark()); }

  absl::string_view file_;
  std::vector<std::string>* warnings_;
};

// Model args as the registry takes them: scalars as written, nested maps
// joined with dots, lists joined with commas.
absl::Status FlattenArgs(const FileReader& r, const YAML::Node& node, const std::string& key,
                         absl::string_view path, models::ModelArgs* args) {
  const std::string where = absl::StrCat(path, ".args.", key);
  std::string value;
  if (node.IsMap()) {
    for (const auto& kv : node) {
      RETURN_IF_ERROR(
          FlattenArgs(r, kv.second, absl::StrCat(key, ".", kv.first.Scalar()), path, args));
    }
    return absl::OkStatus();
  } else if (node.IsSequence()) {
    ASSIGN_OR_RETURN(const std::vector<std::string> items, r.ScalarList(node, where));
    value = absl::StrJoin(items, ",");
  } else {
    ASSIGN_OR_RETURN(value, r.Scalar(node, where));
  }
  if (!args->emplace(key, std::move(value)).second) {
    return r.Error(node, where, "given twice");
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> ParseModel(const FileReader& r, const YAML::Node& node,
                                       const std::string& path) {
  RETURN_IF_ERROR(r.ExpectMap(node, path));
  RETURN_IF_ERROR(r.CheckKeys(node, path, kModelKeys));
  ModelConfig model;
  const YAML::Node kind = node["kind"];
  if (!kind.IsDefined()) return r.Error(node, path, "kind is required");
  ASSIGN_OR_RETURN(model.kind, r.Scalar(kind, path + ".kind"));
  const YAML::Node args = node["args"];
  if (args.IsDefined() && !args.IsNull()) {
    RETURN_IF_ERROR(r.ExpectMap(args, path + ".args"));
    for (const auto& kv : args) {
      RETURN_IF_ERROR(FlattenArgs(r, kv.second, kv.first.Scalar(), path, &model.args));
    }
  }
  absl::StatusOr<models::ModelFactory> factory = models::MakeModelFactory(model.kind, model.args);
  if (!factory.ok()) return r.Error(node, path, factory.status().message());
  if (std::optional<std::string_view> real = models::KindAlias(model.kind)) {
    r.Warn(kind, absl::StrCat("model kind ", model.kind, " runs as ", AbslView(*real),
                              " here; its series keep the name ending _", model.kind));
  }
  model.factory = *std::move(factory);
  return model;
}

absl::Status ParseModels(const FileReader& r, const YAML::Node& node, const std::string& path,
                         MetricConfig* metric) {
  if (!node.IsSequence() || node.size() == 0) {
    return r.Error(node, path, "expected a non-empty list of models");
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string model_path = absl::StrCat(path, "[", i, "]");
    ASSIGN_OR_RETURN(ModelConfig model, ParseModel(r, node[i], model_path));
    for (const ModelConfig& earlier : metric->models) {
      if (earlier.kind == model.kind) {
        return r.Error(node[i], model_path,
                       absl::StrCat("kind ", model.kind,
                                    " is listed twice; an entry runs one "
                                    "model per kind"));
      }
    }
    metric->models.push_back(std::move(model));
  }
  return absl::OkStatus();
}

absl::Status ParseEvents(const FileReader& r, const YAML::Node& node, const std::string& path,
                         MetricConfig* metric) {
  ASSIGN_OR_RETURN(metric->events, r.ScalarList(node, path));
  for (size_t i = 0; i < metric->events.size(); ++i) {
    if (!Contains(kEvents, metric->events[i])) {
      return r.Error(node[i], absl::StrCat(path, "[", i, "]"),
                     absl::StrCat("unknown event ", metric->events[i],
                                  "; valid events: ", absl::StrJoin(kEvents, ", ")));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<MetricConfig> ParseMetric(const FileReader& r, const YAML::Node& node,
                                         const std::string& path, int64_t default_horizon_ms) {
  RETURN_IF_ERROR(r.ExpectMap(node, path));
  RETURN_IF_ERROR(r.CheckKeys(node, path, kMetricKeys));
  MetricConfig metric;

  const YAML::Node query = node["metric_query"];
  if (!query.IsDefined()) return r.Error(node, path, "metric_query is required");
  ASSIGN_OR_RETURN(metric.metric_query, r.Scalar(query, path + ".metric_query"));
  absl::StatusOr<Selector> selector = ParseSelector(metric.metric_query);
  if (!selector.ok()) {
    return r.Error(query, path + ".metric_query", selector.status().message());
  }
  metric.selector = *std::move(selector);

  const YAML::Node name = node["predicted_metric_name"];
  if (!name.IsDefined()) {
    return r.Error(node, path, "predicted_metric_name is required");
  }
  ASSIGN_OR_RETURN(metric.predicted_metric_name, r.Scalar(name, path + ".predicted_metric_name"));
  if (!IsValidMetricName(metric.predicted_metric_name)) {
    return r.Error(name, path + ".predicted_metric_name",
                   absl::StrCat("\"", metric.predicted_metric_name,
                                "\" is not a valid metric name "
                                "([a-zA-Z_:][a-zA-Z0-9_:]*)"));
  }

  const YAML::Node events = node["events"];
  if (events.IsDefined()) {
    RETURN_IF_ERROR(ParseEvents(r, events, path + ".events", &metric));
  } else {
    metric.events = {std::string(kDefaultEvent)};
  }

  const YAML::Node models_node = node["models"];
  if (models_node.IsDefined()) {
    RETURN_IF_ERROR(ParseModels(r, models_node, path + ".models", &metric));
  } else {
    ModelConfig model;
    model.kind = std::string(models::DefaultModelKind());
    absl::StatusOr<models::ModelFactory> factory = models::MakeModelFactory(model.kind, model.args);
    if (!factory.ok()) return r.Error(node, path, factory.status().message());
    model.factory = *std::move(factory);
    metric.models.push_back(std::move(model));
  }

  const YAML::Node horizon = node["forecast_horizon"];
  metric.forecast_horizon_ms = default_horizon_ms;
  if (horizon.IsDefined()) {
    ASSIGN_OR_RETURN(metric.forecast_horizon_ms,
                     r.PositiveDuration(horizon, path + ".forecast_horizon"));
  }
  return metric;
}

absl::Status ParseMetricList(const FileReader& r, const YAML::Node& node, Config* config) {
  constexpr absl::string_view kPath = "prometheus_metric_list";
  if (!node.IsSequence() || node.size() == 0) {
    return r.Error(node, kPath, "expected a non-empty list of metric entries");
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string path = absl::StrCat(kPath, "[", i, "]");
    ASSIGN_OR_RETURN(MetricConfig metric,
                     ParseMetric(r, node[i], path, config->forecast_horizon_ms));
    // The output series are named after predicted_metric_name, so two
    // entries sharing it would write into each other's series.
    for (size_t j = 0; j < config->metrics.size(); ++j) {
      if (config->metrics[j].predicted_metric_name == metric.predicted_metric_name) {
        return r.Error(node[i]["predicted_metric_name"], path + ".predicted_metric_name",
                       absl::StrCat("\"", metric.predicted_metric_name, "\" is already used by ",
                                    kPath, "[", j, "]; their forecast series would collide"));
      }
    }
    config->metrics.push_back(std::move(metric));
  }
  return absl::OkStatus();
}

// True when `name` is predicted_metric_name + "_" + kind of some model.
bool NamesAForecast(const Config& config, absl::string_view name) {
  for (const MetricConfig& metric : config.metrics) {
    for (const ModelConfig& model : metric.models) {
      if (name == absl::StrCat(metric.predicted_metric_name, "_", model.kind)) {
        return true;
      }
    }
  }
  return false;
}

absl::StatusOr<ActivityConfig> ParseActivity(const FileReader& r, const YAML::Node& node,
                                             const std::string& path) {
  RETURN_IF_ERROR(r.ExpectMap(node, path));
  RETURN_IF_ERROR(r.CheckKeys(node, path, kActivityKeys));
  ActivityConfig activity;
  const YAML::Node name = node["name"];
  if (!name.IsDefined()) return r.Error(node, path, "name is required");
  ASSIGN_OR_RETURN(activity.name, r.Scalar(name, path + ".name"));
  if (activity.name.empty()) {
    return r.Error(name, path + ".name", "must not be empty");
  }

  const std::string command_path = path + ".command";
  const YAML::Node command = node["command"];
  if (!command.IsDefined()) return r.Error(node, path, "command is required");
  RETURN_IF_ERROR(r.ExpectMap(command, command_path));
  RETURN_IF_ERROR(r.CheckKeys(command, command_path, kCommandKeys));
  const YAML::Node shell = command["shell_file"];
  const YAML::Node python = command["python_file"];
  if (shell.IsDefined() == python.IsDefined()) {
    return r.Error(command, command_path, "give exactly one of shell_file and python_file");
  }
  if (shell.IsDefined()) {
    ASSIGN_OR_RETURN(activity.shell_file, r.Scalar(shell, command_path + ".shell_file"));
  } else {
    ASSIGN_OR_RETURN(activity.python_file, r.Scalar(python, command_path + ".python_file"));
  }
  if (activity.shell_file.empty() && activity.python_file.empty()) {
    return r.Error(command, command_path, "the script file name is empty");
  }
  const YAML::Node args = command["args"];
  if (args.IsDefined()) {
    ASSIGN_OR_RETURN(activity.args, r.ScalarList(args, command_path + ".args"));
  }
  for (size_t i = 0; i < activity.args.size(); ++i) {
    if (absl::Status s = activities::ValidateArgTemplate(activity.args[i]); !s.ok()) {
      return r.Error(args[i], absl::StrCat(command_path, ".args[", i, "]"), s.message());
    }
  }
  const YAML::Node interpreter = command["interpreter"];
  if (interpreter.IsDefined()) {
    if (!python.IsDefined()) {
      return r.Error(interpreter, command_path + ".interpreter", "goes with python_file only");
    }
    ASSIGN_OR_RETURN(activity.interpreter, r.Scalar(interpreter, command_path + ".interpreter"));
  }
  const YAML::Node timeout = node["timeout"];
  if (timeout.IsDefined()) {
    ASSIGN_OR_RETURN(activity.timeout_ms, r.PositiveDuration(timeout, path + ".timeout"));
  }
  const YAML::Node env = node["env"];
  if (env.IsDefined()) {
    RETURN_IF_ERROR(r.ExpectMap(env, path + ".env"));
    for (const auto& kv : env) {
      const std::string key = kv.first.as<std::string>();
      ASSIGN_OR_RETURN(std::string value, r.Scalar(kv.second, path + ".env." + key));
      activity.env.emplace_back(key, std::move(value));
    }
  }
  const YAML::Node scope = node["lock_scope"];
  if (scope.IsDefined()) {
    ASSIGN_OR_RETURN(const std::string value, r.Scalar(scope, path + ".lock_scope"));
    if (value != "series" && value != "activity") {
      return r.Error(scope, path + ".lock_scope", "must be series or activity");
    }
    activity.lock_per_activity = value == "activity";
  }
  const YAML::Node user = node["run_as_user"];
  if (user.IsDefined()) {
    ASSIGN_OR_RETURN(activity.run_as_user, r.Scalar(user, path + ".run_as_user"));
  }
  const YAML::Node concurrent = node["max_concurrent"];
  if (concurrent.IsDefined()) {
    ASSIGN_OR_RETURN(const std::string value, r.Scalar(concurrent, path + ".max_concurrent"));
    if (!absl::SimpleAtoi(value, &activity.max_concurrent) || activity.max_concurrent < 1) {
      return r.Error(concurrent, path + ".max_concurrent", "must be a positive integer");
    }
  }
  return activity;
}

// `metrics` must be parsed already: activities are checked against them.
absl::Status ParseActivityList(const FileReader& r, const YAML::Node& node, Config* config) {
  constexpr absl::string_view kPath = "activities";
  if (!node.IsSequence()) return r.Error(node, kPath, "expected a list");
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string path = absl::StrCat(kPath, "[", i, "]");
    ASSIGN_OR_RETURN(ActivityConfig activity, ParseActivity(r, node[i], path));
    for (const ActivityConfig& earlier : config->activities) {
      if (earlier.name == activity.name) {
        return r.Error(node[i], path,
                       absl::StrCat("activity ", activity.name, " is defined twice"));
      }
    }
    if (!NamesAForecast(*config, activity.name)) {
      r.Warn(node[i], absl::StrCat(path, ": activity ", activity.name,
                                   " matches no predicted_metric_name + \"_\" + kind, "
                                   "so it never runs"));
    }
    config->activities.push_back(std::move(activity));
  }
  return absl::OkStatus();
}

absl::Status ParseEnvironment(const FileReader& r, const YAML::Node& root, Config* config) {
  if (root.IsNull()) {
    return r.Error(root, "", "the file is empty; it needs prometheus_metric_list");
  }
  RETURN_IF_ERROR(r.ExpectMap(root, ""));
  RETURN_IF_ERROR(r.CheckKeys(root, "", kTopKeys));
  RETURN_IF_ERROR(r.CheckVersion(root));
  config->version = std::string(kVersion);

  const YAML::Node retrain = root["retrain_scheduling_seconds"];
  if (retrain.IsDefined()) {
    ASSIGN_OR_RETURN(config->retrain_interval_ms,
                     r.PositiveDuration(retrain, "retrain_scheduling_seconds"));
  }
  const YAML::Node horizon = root["forecast_horizon"];
  if (horizon.IsDefined()) {
    ASSIGN_OR_RETURN(config->forecast_horizon_ms, r.PositiveDuration(horizon, "forecast_horizon"));
  }
  const YAML::Node ttl = root["series_ttl"];
  if (ttl.IsDefined()) {
    ASSIGN_OR_RETURN(config->series_ttl_ms, r.PositiveDuration(ttl, "series_ttl"));
  }
  const YAML::Node metrics = root["prometheus_metric_list"];
  if (!metrics.IsDefined()) {
    return r.Error(root, "", "prometheus_metric_list is required");
  }
  RETURN_IF_ERROR(ParseMetricList(r, metrics, config));

  const YAML::Node activities = root["activities"];
  if (activities.IsDefined()) {
    RETURN_IF_ERROR(ParseActivityList(r, activities, config));
  }
  return absl::OkStatus();
}

absl::Status ParseActivitiesFile(const FileReader& r, const YAML::Node& root, Config* config) {
  if (root.IsNull()) return absl::OkStatus();  // an empty file
  RETURN_IF_ERROR(r.ExpectMap(root, ""));
  RETURN_IF_ERROR(r.CheckKeys(root, "", kActivitiesFileKeys));
  RETURN_IF_ERROR(r.CheckVersion(root));
  const YAML::Node activities = root["activities"];
  if (!activities.IsDefined()) return absl::OkStatus();
  return ParseActivityList(r, activities, config);
}

using SectionParser = absl::Status (*)(const FileReader&, const YAML::Node&, Config*);

// Loads one file and hands its root to `parse`. yaml-cpp reports syntax
// errors and misuse alike by throwing, from Load() and from accessors.
absl::Status ParseFile(absl::string_view file, absl::string_view text, SectionParser parse,
                       Config* config) {
  const FileReader reader(file, &config->warnings);
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    return parse(reader, root, config);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(WhereIn(file, e.mark), ": invalid YAML: ", e.msg));
  }
}

absl::StatusOr<Config> Parse(absl::string_view config_yaml, absl::string_view config_file,
                             absl::string_view activities_yaml, absl::string_view activities_file) {
  Config config;
  RETURN_IF_ERROR(ParseFile(config_file, config_yaml, &ParseEnvironment, &config));
  if (!activities_yaml.empty()) {
    RETURN_IF_ERROR(ParseFile(activities_file, activities_yaml, &ParseActivitiesFile, &config));
  }
  return config;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  }
  return text.str();
}

}  // namespace

absl::StatusOr<Config> LoadConfig(const std::string& config_path,
                                  const std::string& activities_path) {
  ASSIGN_OR_RETURN(const std::string config_yaml, ReadFile(config_path));
  std::string activities_yaml;
  // The same file given twice is the one-file form; reading it again
  // would define every activity twice.
  if (!activities_path.empty() && activities_path != config_path) {
    ASSIGN_OR_RETURN(activities_yaml, ReadFile(activities_path));
  }
  return Parse(config_yaml, config_path, activities_yaml, activities_path);
}

absl::StatusOr<Config> ParseConfig(std::string_view config_yaml, std::string_view activities_yaml) {
  return Parse(AbslView(config_yaml), "environment.yaml", AbslView(activities_yaml),
               "activities.yaml");
}

}  // namespace kad::adapter
