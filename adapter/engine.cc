#include "adapter/engine.h"

#include <algorithm>
#include <latch>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace kad::adapter {
namespace {

// Where a stored series belongs in the current config, if anywhere.
struct Placement {
  const MetricConfig* metric = nullptr;
  const ModelConfig* model = nullptr;
};

// True when `name` is predicted_metric_name + "_" + kind.
bool IsForecastName(std::string_view name, const MetricConfig& metric, const ModelConfig& model) {
  const std::string& prefix = metric.predicted_metric_name;
  return name.size() == prefix.size() + 1 + model.kind.size() && name.starts_with(prefix) &&
         name[prefix.size()] == '_' && name.ends_with(model.kind);
}

// The config entry and model a stored series made from `input` belongs to.
Placement Place(const Config& config, std::string_view name, const Labels& input) {
  for (const MetricConfig& metric : config.metrics) {
    for (const ModelConfig& model : metric.models) {
      if (IsForecastName(name, metric, model) && metric.selector.Matches(input)) {
        return {&metric, &model};
      }
    }
  }
  return {};
}

Labels WithValueType(const Labels& labels, int value_type) {
  Labels out = labels;
  out.push_back({"value_type", std::string(kValueTypes[value_type])});
  SortLabels(&out);
  return out;
}

bool LabelsLess(const Labels& a, const Labels& b) {
  return std::lexicographical_compare(
      a.begin(), a.end(), b.begin(), b.end(), [](const Label& x, const Label& y) {
        return x.name != y.name ? x.name < y.name : x.value < y.value;
      });
}

absl::Status SampleLimitError(size_t limit) {
  return absl::ResourceExhaustedError(absl::StrCat("remote read would return more than ", limit,
                                                   " samples: narrow the query or raise "
                                                   "--storage.remote.read-sample-limit"));
}

}  // namespace

absl::Status EngineOptions::Validate() const {
  if (shards < 1 || shards > 256) {
    return absl::InvalidArgumentError("shards must be between 1 and 256");
  }
  if (shard.checkpoint_interval_ms < 1000) {
    return absl::InvalidArgumentError("checkpoint interval must be at least 1s");
  }
  if (shard.retrain_interval_ms < 1000) {
    return absl::InvalidArgumentError("retrain_scheduling_seconds must be at least 1s");
  }
  if (read_sample_limit == 0 || read_series_limit == 0) {
    return absl::InvalidArgumentError("remote-read limits must be positive");
  }
  return absl::OkStatus();
}

Engine::Engine(const Config& config, const EngineOptions& options, storage::Store* store,
               const Clock* clock, SelfMetrics* metrics, ActivityEngine* activities,
               const Logger* log)
    : config_(config),
      options_(options),
      store_(store),
      clock_(clock),
      metrics_(metrics),
      activities_(activities),
      log_(log) {
  for (int i = 0; i < options_.shards; ++i) {
    shards_.push_back(
        std::make_unique<Shard>(config_, options_.shard, store_, metrics_, activities_, &next_id_));
  }
}

Engine::~Engine() { Stop(); }

absl::Status Engine::Load() {
  store_->SetRetentionNow(clock_->NowMs());
  struct Loaded {
    std::unique_ptr<ForecastSeries> series;
    Labels input;
  };
  std::vector<Loaded> loaded;
  size_t unconfigured = 0;
  size_t fresh = 0;
  absl::Status status =
      store_->ForEachSeries([&](uint64_t id, std::string_view label_bytes, std::string_view state) {
        next_id_ = std::max<uint64_t>(next_id_, id + 1);
        absl::StatusOr<Labels> labels = DecodeLabels(label_bytes);
        if (!labels.ok()) {
          ++unconfigured;
          return;
        }
        Labels input = InputLabels(*labels);
        const Placement place = Place(config_, GetLabel(*labels, "__name__"), input);
        if (place.metric == nullptr) {
          ++unconfigured;
          return;
        }
        auto series =
            MakeForecastSeries(id, *std::move(labels), *place.metric, *place.model, activities_);
        series->persisted = true;
        if (!state.empty() && !DecodeCheckpoint(state, series.get()).ok()) {
          // Written by another kind or other arguments: relearn from the
          // points.
          series->model = place.model->factory.New();
          series->last_ts = kNoTimestamp;
          ++fresh;
        }
        loaded.push_back({std::move(series), std::move(input)});
      });
  if (!status.ok()) return status;

  // Replay what was acknowledged after each checkpoint; models are
  // deterministic, so this ends in the state an uninterrupted run has.
  size_t replayed = 0;
  for (auto& [series, input] : loaded) {
    const int64_t checkpoint = series->last_ts;
    status = store_->ScanPoints(series->id, checkpoint, std::numeric_limits<int64_t>::max(),
                                [&](const storage::ForecastPoint& p) {
                                  if (p.timestamp_ms == checkpoint) {
                                    series->latest = p;
                                  } else {
                                    series->Observe(p.timestamp_ms, p.value);
                                    ++replayed;
                                  }
                                  return true;
                                });
    if (!status.ok()) return status;
    const uint64_t hash = HashLabels(input);
    ShardFor(hash).Adopt(hash, input, std::move(series));
  }
  log_->Info("loaded stored state", {{"series", absl::StrCat(loaded.size())},
                                     {"replayed_points", absl::StrCat(replayed)},
                                     {"skipped_unconfigured", absl::StrCat(unconfigured)},
                                     {"restarted_models", absl::StrCat(fresh)}});
  return absl::OkStatus();
}

void Engine::Start() {
  for (auto& shard : shards_) shard->Start();
}

void Engine::Stop() {
  for (auto& shard : shards_) shard->Stop();
}

int64_t Engine::num_series() const {
  int64_t n = 0;
  for (const auto& shard : shards_) n += shard->num_series();
  return n;
}

void Engine::Ingest(std::shared_ptr<WriteJob> job, std::function<void(absl::Status)> done) {
  struct Fanout {
    std::shared_ptr<WriteJob> job;
    std::vector<uint64_t> hashes;
    std::vector<std::vector<uint32_t>> by_shard;
    std::atomic<int> pending{0};
    absl::Mutex mu;
    absl::Status status ABSL_GUARDED_BY(mu);
    std::function<void(absl::Status)> done;
  };
  auto fan = std::make_shared<Fanout>();
  const proto::WriteRequestView& req = job->request;
  metrics_->AddReceived(req.samples.size());
  store_->SetRetentionNow(clock_->NowMs());
  fan->hashes.reserve(req.series.size());
  fan->by_shard.resize(shards_.size());
  for (uint32_t i = 0; i < req.series.size(); ++i) {
    const uint64_t hash = HashLabels(req.LabelsOf(req.series[i]));
    fan->hashes.push_back(hash);
    fan->by_shard[hash % shards_.size()].push_back(i);
  }
  int busy = 0;
  for (const auto& part : fan->by_shard) busy += part.empty() ? 0 : 1;
  if (busy == 0) {  // metadata only, or no samples
    done(absl::OkStatus());
    return;
  }
  fan->job = std::move(job);
  fan->done = std::move(done);
  fan->pending = busy;
  for (size_t i = 0; i < shards_.size(); ++i) {
    if (fan->by_shard[i].empty()) continue;
    Shard* shard = shards_[i].get();
    shard->Post([fan, shard, i] {
      absl::Status s = shard->Apply(fan->job->request, fan->hashes, fan->by_shard[i]);
      if (!s.ok()) {
        absl::MutexLock lock(&fan->mu);
        if (fan->status.ok()) fan->status = s;
      }
      if (fan->pending.fetch_sub(1) == 1) {
        absl::Status result;
        {
          absl::MutexLock lock(&fan->mu);
          result = fan->status;
        }
        fan->done(result);
      }
    });
  }
}

void Engine::OnEveryShard(const std::function<void(Shard&, size_t)>& fn) {
  std::latch finished(static_cast<std::ptrdiff_t>(shards_.size()));
  for (size_t i = 0; i < shards_.size(); ++i) {
    Shard* shard = shards_[i].get();
    shard->Post([&fn, &finished, shard, i] {
      fn(*shard, i);
      finished.count_down();
    });
  }
  finished.wait();
}

absl::StatusOr<std::vector<ReadSeries>> Engine::Read(const ReadQuery& query,
                                                     size_t* samples_budget) {
  store_->SetRetentionNow(clock_->NowMs());
  const ReadSpec spec{.matchers = query.matchers,
                      .start_ms = query.start_ms,
                      .end_ms = query.end_ms,
                      .want_future = !query.series_only};
  std::vector<std::vector<ReadMatch>> per_shard(shards_.size());
  OnEveryShard([&](Shard& shard, size_t i) { shard.Match(spec, &per_shard[i]); });

  std::vector<ReadSeries> result;
  for (auto& matches : per_shard) {
    for (ReadMatch& m : matches) {
      const size_t first = result.size();
      for (int type = 0; type < kNumValueTypes; ++type) {
        if (m.value_types & (1 << type)) result.push_back({WithValueType(m.labels, type), {}});
      }
      if (result.size() > options_.read_series_limit) {
        return absl::ResourceExhaustedError(absl::StrCat("remote read matches more than ",
                                                         options_.read_series_limit,
                                                         " series: narrow the selector or raise "
                                                         "--storage.remote.read-series-limit"));
      }
      if (query.series_only) continue;
      const size_t width = result.size() - first;
      bool over_limit = false;
      absl::Status status = store_->ScanPoints(
          m.id, query.start_ms, std::min(query.end_ms, m.last_ts),
          [&](const storage::ForecastPoint& p) {
            if (*samples_budget < width) {
              over_limit = true;
              return false;
            }
            *samples_budget -= width;
            size_t k = first;
            for (int type = 0; type < kNumValueTypes; ++type) {
              if (m.value_types & (1 << type))
                result[k++].samples.emplace_back(p.timestamp_ms, ValueOf(p, type));
            }
            return true;
          });
      if (!status.ok()) return status;
      if (over_limit) return SampleLimitError(options_.read_sample_limit);
      // The band is forecast ahead; anomaly and its score need a sample.
      for (const auto& [t, f] : m.future) {
        const double values[3] = {f.yhat, f.yhat_lower, f.yhat_upper};
        size_t k = first;
        for (int type = 0; type < 3; ++type) {
          if (!(m.value_types & (1 << type))) continue;
          if (*samples_budget == 0) return SampleLimitError(options_.read_sample_limit);
          --*samples_budget;
          result[k++].samples.emplace_back(t, values[type]);
        }
      }
    }
  }
  std::sort(result.begin(), result.end(), [](const ReadSeries& a, const ReadSeries& b) {
    return LabelsLess(a.labels, b.labels);
  });
  return result;
}

absl::StatusOr<size_t> Engine::Retrain(const std::vector<LabelMatcher>& matchers) {
  std::vector<absl::StatusOr<size_t>> per_shard(shards_.size(), size_t{0});
  OnEveryShard([&](Shard& shard, size_t i) { per_shard[i] = shard.Retrain(matchers); });
  size_t total = 0;
  for (const absl::StatusOr<size_t>& n : per_shard) {
    if (!n.ok()) return n.status();
    total += *n;
  }
  return total;
}

std::string Engine::RenderGauges() {
  std::vector<std::map<std::string, std::string>> per_shard(shards_.size());
  OnEveryShard([&](Shard& shard, size_t i) { shard.RenderGauges(&per_shard[i]); });
  std::map<std::string, std::string> families;
  for (auto& part : per_shard) {
    for (auto& [name, text] : part) families[name] += text;
  }
  std::string out;
  for (const auto& [name, text] : families) {
    absl::StrAppend(&out, "# TYPE ", name, " gauge\n", text);
  }
  return out;
}

}  // namespace kad::adapter
