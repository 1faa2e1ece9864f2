#include "adapter/engine.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <deque>
#include <functional>
#include <iterator>
#include <latch>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "adapter/absl_view.h"
#include "adapter/thread_name.h"
#include "proto/label_fields.h"

namespace kad::adapter {
namespace {

// Counter families remembered at most: far more than one Prometheus scrapes
// (each costs its name), few enough to bound the memory of a hostile sender.
constexpr size_t kMaxCounterFamilies = 100'000;

// The first sample outside [min_ms, max_ms], as an error naming its series.
// Prometheus' receiver refuses such a request whole with 400 (out of
// bounds), which the sender drops instead of retrying; so does the adapter,
// before any of it is applied.
absl::Status CheckTimestamps(const proto::WriteRequestView& req, int64_t now_ms, int64_t min_ms,
                             int64_t max_ms) {
  for (const proto::SeriesView& series : req.series) {
    for (const proto::SampleView& sample : req.SamplesOf(series)) {
      if (sample.timestamp_ms >= min_ms && sample.timestamp_ms <= max_ms) continue;
      std::string labels;
      for (const proto::LabelView& l : req.LabelsOf(series)) {
        absl::StrAppend(&labels, labels.empty() ? "" : ", ", absl::CEscape(AbslView(l.name)), "=\"",
                        absl::CEscape(AbslView(l.value)), "\"");
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "sample of {", labels, "} at ", sample.timestamp_ms, " ms is ",
          sample.timestamp_ms < min_ms ? "older than the retention" : "too far in the future",
          " (now ", now_ms, " ms, accepted ", min_ms, " to ", max_ms, "); request refused"));
    }
  }
  return absl::OkStatus();
}

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
  if (max_queued_bytes == 0 || max_series < 1) {
    return absl::InvalidArgumentError("the write queue and the series cap must be positive");
  }
  if (max_sample_age_ms <= 0 || max_sample_lead_ms <= 0) {
    return absl::InvalidArgumentError("sample age and lead bounds must be positive");
  }
  return absl::OkStatus();
}

Engine::Engine(const Config& config, const EngineOptions& options, storage::Store* store,
               const Clock* clock, SelfMetrics* metrics, ActivityEngine* activities,
               const Logger* log)
    :  // Borrowed: the caller keeps the first config alive.
      config_(std::shared_ptr<const Config>(), &config),
      options_(options),
      store_(store),
      clock_(clock),
      metrics_(metrics),
      activities_(activities),
      log_(log),
      counters_(kMaxCounterFamilies) {
  budget_.max = options_.max_series;
  for (int i = 0; i < options_.shards; ++i) {
    shards_.push_back(std::make_unique<Shard>(config_, options_.shard, store_, metrics_,
                                              activities_, &next_id_, &counters_, &budget_, clock_,
                                              log_));
  }
}

Engine::~Engine() { Stop(); }

absl::Status Engine::RestoreOne(const Config& config,
                                const std::function<bool(std::string_view)>& wanted,
                                const StoredSeries& stored, std::optional<RestoredSeries>* out,
                                RestoreCounts* counts) {
  if (!LabelsView::Valid(stored.labels)) {
    ++counts->skipped;
    return absl::OkStatus();
  }
  const LabelsView labels(stored.labels);
  const std::string_view name = labels.Get("__name__");
  if (!wanted(name)) return absl::OkStatus();
  Labels input = InputLabels(labels);
  const Placement place = Place(config, name, input);
  if (place.metric == nullptr) {
    ++counts->skipped;
    return absl::OkStatus();
  }
  auto series =
      MakeForecastSeries(stored.id, stored.labels, *place.metric, *place.model, activities_);
  series->persisted = true;
  if (!stored.state.empty() && !DecodeCheckpoint(stored.state, series.get()).ok()) {
    // Written by another kind or other arguments: relearn from the points.
    series->model = place.model->factory.New();
    series->last_ts = kNoTimestamp;
    ++counts->fresh;
  }
  if (series->counter_rate) {
    // New series of its family are rates from their first sample.
    const std::string_view family[] = {GetLabel(input, "__name__")};
    std::vector<std::string> learned;
    (void)counters_.Learn(family, &learned);
  }
  std::string fields = LabelFields(input);
  const uint64_t hash = proto::HashLabelFields(fields);
  out->emplace(RestoredSeries{std::move(fields), hash, std::move(series)});
  return absl::OkStatus();
}

absl::Status Engine::Restore(
    const Config& config, const std::function<bool(std::string_view)>& wanted,
    const std::function<void(size_t shard, std::vector<RestoredSeries>* series)>& take,
    RestoreCounts* counts) {
  // The records are read on this thread in one pass, a batch at a time (so
  // a few batches, not the store, are held in memory). Making their models
  // and replaying their points, most of a restart, runs on one worker per
  // shard, each taking whole batches in turn, so that reading and the
  // workers keep going while the others work. Worker i also hands shard i
  // its series, batch after batch in reading order, as they are made.
  // Batches are reused: their strings keep their room.
  constexpr size_t kBatch = 4096;
  const size_t workers = shards_.size();
  struct Batch {
    std::vector<StoredSeries> records = std::vector<StoredSeries>(kBatch);
    size_t filled = 0;
    size_t number = 0;  // in reading order
  };
  std::vector<Batch> batches(workers + 2);
  absl::Mutex mu;
  // Under mu: the batches to fill, those read, the series made of each (by
  // shard; none while the batch is in work) and how many are made, how many
  // batches each shard has taken, and whether reading has ended.
  std::vector<Batch*> idle;
  std::deque<Batch*> queued;
  std::vector<std::optional<std::vector<std::vector<RestoredSeries>>>> made;
  size_t made_count = 0;
  std::vector<size_t> taken(workers, 0);
  bool read_all = false;
  absl::Status failed;
  for (Batch& b : batches) idle.push_back(&b);
  // With mu held: shard w's series of the batches made since it last took,
  // up to the first batch still in work.
  auto take_made = [&](size_t w) {
    std::vector<std::vector<RestoredSeries>> parts;
    while (failed.ok() && taken[w] < made.size() && made[taken[w]].has_value()) {
      parts.push_back(std::move((*made[taken[w]++])[w]));
    }
    return parts;
  };
  std::vector<RestoreCounts> worker_counts(workers);
  auto work = [&](size_t w) {
    std::vector<std::optional<RestoredSeries>> restored;
    std::vector<ForecastSeries*> replay;
    RestoreCounts* mine = &worker_counts[w];
    for (;;) {
      Batch* b = nullptr;
      std::vector<std::vector<RestoredSeries>> parts;
      {
        absl::MutexLock lock(&mu);
        auto ready = [&] { return !queued.empty() || (read_all && made_count == made.size()); };
        mu.Await(absl::Condition(&ready));
        if (queued.empty()) {
          parts = take_made(w);  // the last of them
        } else {
          b = queued.front();
          queued.pop_front();
        }
      }
      if (b == nullptr) {
        for (std::vector<RestoredSeries>& part : parts) take(w, &part);
        return;
      }
      restored.clear();
      restored.resize(b->filled);
      replay.clear();
      absl::Status status;
      for (size_t i = 0; i < b->filled && status.ok(); ++i) {
        status = RestoreOne(config, wanted, b->records[i], &restored[i], mine);
        if (restored[i].has_value()) replay.push_back(restored[i]->series.get());
      }
      // Replay what was acknowledged after the checkpoints (in id order, as
      // the records come); models are deterministic, so this ends in the
      // state an uninterrupted run has.
      if (status.ok()) status = ReplayStoredPoints(*store_, replay, &mine->replayed);
      std::vector<std::vector<RestoredSeries>> by_shard(workers);
      for (std::optional<RestoredSeries>& r : restored) {
        if (r.has_value()) by_shard[r->hash % workers].push_back(*std::move(r));
      }
      {
        absl::MutexLock lock(&mu);
        failed.Update(status);
        made[b->number] = std::move(by_shard);
        ++made_count;
        idle.push_back(b);
        parts = take_made(w);
      }
      for (std::vector<RestoredSeries>& part : parts) take(w, &part);
    }
  };
  std::vector<std::thread> running;
  for (size_t w = 0; w < workers; ++w) {
    running.emplace_back([&work, w] {
      NameThisThread(absl::StrCat("kad-restore-", w));
      work(w);
    });
  }
  Batch* reading = nullptr;
  auto hand_over = [&] {  // queues the batch read so far
    absl::MutexLock lock(&mu);
    reading->number = made.size();
    made.emplace_back();
    queued.push_back(reading);
    reading = nullptr;
  };
  absl::Status status =
      store_->ForEachSeries([&](uint64_t id, std::string_view label_bytes, std::string_view state) {
        uint64_t next = next_id_.load();
        while (next <= id && !next_id_.compare_exchange_weak(next, id + 1)) {
        }
        if (reading == nullptr) {
          absl::MutexLock lock(&mu);
          auto ready = [&] { return !idle.empty(); };
          mu.Await(absl::Condition(&ready));
          if (!failed.ok()) return;
          reading = idle.back();
          idle.pop_back();
          reading->filled = 0;
        }
        StoredSeries& record = reading->records[reading->filled++];
        record.id = id;
        record.labels.assign(label_bytes);
        record.state.assign(state);
        if (reading->filled == kBatch) hand_over();
      });
  if (reading != nullptr) hand_over();
  {
    absl::MutexLock lock(&mu);
    read_all = true;
  }
  for (std::thread& t : running) t.join();
  for (const RestoreCounts& c : worker_counts) {
    counts->replayed += c.replayed;
    counts->fresh += c.fresh;
    counts->skipped += c.skipped;
  }
  if (!status.ok()) return status;
  absl::MutexLock lock(&mu);
  return failed;
}

int64_t Engine::checkpointed_ms() const {
  int64_t oldest = std::numeric_limits<int64_t>::max();
  for (const auto& shard : shards_) oldest = std::min(oldest, shard->checkpointed_ms());
  return shards_.empty() ? 0 : oldest;
}

absl::Status Engine::Load() {
  store_->SetRetentionNow(clock_->NowMs());
  absl::MutexLock lock(&reload_mu_);
  // Before Start(): each restore worker has its own shard adopt its series.
  std::atomic<size_t> loaded{0};
  RestoreCounts counts;
  absl::Status status = Restore(
      *config_, [](std::string_view) { return true; },
      [this, &loaded](size_t shard, std::vector<RestoredSeries>* series) {
        loaded += series->size();
        for (RestoredSeries& r : *series) shards_[shard]->Adopt(std::move(r));
      },
      &counts);
  if (!status.ok()) return status;
  log_->Info("loaded stored state", {{"series", absl::StrCat(loaded.load())},
                                     {"replayed_points", absl::StrCat(counts.replayed)},
                                     {"skipped_unconfigured", absl::StrCat(counts.skipped)},
                                     {"restarted_models", absl::StrCat(counts.fresh)}});
  return absl::OkStatus();
}

absl::Status Engine::Reload(std::shared_ptr<const Config> config) {
  absl::MutexLock lock(&reload_mu_);
  ReloadPlan plan;
  bool added = false;
  for (const MetricConfig& metric : config->metrics) {
    const MetricConfig* before = nullptr;
    for (const MetricConfig& m : config_->metrics) {
      if (m.predicted_metric_name == metric.predicted_metric_name) before = &m;
    }
    for (const ModelConfig& model : metric.models) {
      ReloadChange change = ReloadChange::kAdded;
      for (size_t i = 0; before != nullptr && i < before->models.size(); ++i) {
        if (before->models[i].kind != model.kind) continue;
        const bool same =
            before->metric_query == metric.metric_query && before->models[i].args == model.args;
        change = same ? ReloadChange::kKept : ReloadChange::kRestarted;
      }
      added |= change == ReloadChange::kAdded;
      plan.emplace(absl::StrCat(metric.predicted_metric_name, "_", model.kind),
                   ReloadTarget{&metric, &model, change});
    }
  }
  // Series of added names are modelled by no shard: restored here, off the
  // shard threads, from a store nobody writes them to.
  std::vector<std::vector<RestoredSeries>> restored(shards_.size());
  RestoreCounts counts;
  if (added) {
    absl::Status status = Restore(
        *config,
        [&plan](std::string_view name) {
          auto it = plan.find(AbslView(name));
          return it != plan.end() && it->second.change == ReloadChange::kAdded;
        },
        [&restored](size_t shard, std::vector<RestoredSeries>* series) {
          std::move(series->begin(), series->end(), std::back_inserter(restored[shard]));
        },
        &counts);
    if (!status.ok()) return status;
  }
  if (activities_ != nullptr) {
    if (absl::Status status = activities_->Reload(*config); !status.ok()) return status;
  }
  size_t restored_series = 0;
  for (const auto& part : restored) restored_series += part.size();
  std::vector<absl::Status> per_shard(shards_.size());
  OnEveryShard([&](Shard& shard, size_t i) {
    per_shard[i] = shard.Reload(config, plan, std::move(restored[i]));
  });
  config_ = std::move(config);
  if (config_->retrain_interval_ms != options_.shard.retrain_interval_ms) {
    log_->Warn("retrain_scheduling_seconds changes at the next start");
  }
  size_t kept = 0;
  for (const auto& [name, target] : plan) kept += target.change == ReloadChange::kKept ? 1 : 0;
  log_->Info("reloaded the configuration", {{"forecasts", absl::StrCat(plan.size())},
                                            {"kept", absl::StrCat(kept)},
                                            {"restored_series", absl::StrCat(restored_series)},
                                            {"series", absl::StrCat(num_series())}});
  // The switch is done; a failed checkpoint is retried by the next one.
  for (const absl::Status& s : per_shard) {
    if (!s.ok()) log_->Error("checkpoint after reload failed", {{"err", s.message()}});
  }
  return absl::OkStatus();
}

void Engine::Start() {
  for (size_t i = 0; i < shards_.size(); ++i) shards_[i]->Start(absl::StrCat("kad-shard-", i));
}

void Engine::Stop() {
  for (auto& shard : shards_) shard->Stop();
}

void Engine::Ingest(std::shared_ptr<WriteJob> job, std::function<void(absl::Status)> done) {
  struct Fanout {
    std::shared_ptr<WriteJob> job;
    std::vector<std::vector<uint32_t>> by_shard;
    std::atomic<int> pending{0};
    absl::Mutex mu;
    absl::Status status ABSL_GUARDED_BY(mu);
    std::function<void(absl::Status)> done;
  };
  auto fan = std::make_shared<Fanout>();
  const proto::WriteRequestView& req = job->request;
  metrics_->AddReceived(req.samples.size());
  const int64_t now = clock_->NowMs();
  store_->SetRetentionNow(now);
  if (absl::Status s = CheckTimestamps(req, now, now - options_.max_sample_age_ms,
                                       now + options_.max_sample_lead_ms);
      !s.ok()) {
    done(s);
    return;
  }
  LearnCounters(req);
  fan->by_shard.resize(shards_.size());
  for (uint32_t i = 0; i < req.series.size(); ++i) {
    fan->by_shard[req.series[i].label_hash % shards_.size()].push_back(i);
  }
  int busy = 0;
  for (const auto& part : fan->by_shard) busy += part.empty() ? 0 : 1;
  if (busy == 0) {  // metadata only, or no samples
    done(absl::OkStatus());
    return;
  }
  const size_t bytes = job->body.size();
  const size_t queued = queued_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  if (queued > 0 && queued + bytes > options_.max_queued_bytes) {
    queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    done(absl::UnavailableError(absl::StrCat(
        "write queue full: ", queued, " bytes of requests wait for the model threads (limit ",
        options_.max_queued_bytes, ", --storage.write-queue-bytes); retry later")));
    return;
  }
  fan->job = std::move(job);
  fan->done = [this, bytes, done = std::move(done)](absl::Status s) {
    queued_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    done(std::move(s));
  };
  fan->pending = busy;
  for (size_t i = 0; i < shards_.size(); ++i) {
    if (fan->by_shard[i].empty()) continue;
    Shard* shard = shards_[i].get();
    shard->Post([fan, shard, i, now] {
      absl::Status s = shard->Apply(fan->job->request, fan->by_shard[i], now);
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

void Engine::LearnCounters(const proto::WriteRequestView& req) {
  std::vector<std::string_view> families;
  for (const proto::MetadataView& m : req.metadata) {
    if (m.type == proto::MetricType::kCounter) families.push_back(m.family_name);
  }
  for (size_t i = 0; i < req.series_metadata.size(); ++i) {
    if (req.series_metadata[i].type != proto::MetricType::kCounter) continue;
    for (const proto::LabelView& l : req.LabelsOf(req.series[i])) {
      if (l.name != "__name__") continue;
      if (families.empty() || families.back() != l.value) families.push_back(l.value);
      break;
    }
  }
  if (families.empty()) return;
  std::vector<std::string> learned;
  if (!counters_.Learn(families, &learned) && !counters_full_logged_.exchange(true)) {
    log_->Warn("too many counter families: later ones are modelled raw unless queried with rate()",
               {{"limit", absl::StrCat(kMaxCounterFamilies)}});
  }
  if (learned.empty()) return;
  struct Tally {
    absl::flat_hash_set<std::string> families;
    std::atomic<size_t> pending;
    absl::Mutex mu;
    absl::flat_hash_map<std::string, size_t> switched ABSL_GUARDED_BY(mu);
  };
  auto tally = std::make_shared<Tally>();
  tally->families.insert(learned.begin(), learned.end());
  tally->pending = shards_.size();
  for (auto& s : shards_) {
    Shard* shard = s.get();
    shard->Post([this, shard, tally] {
      absl::flat_hash_map<std::string, size_t> switched;
      const absl::Status status = shard->LearnCounters(tally->families, &switched);
      if (!status.ok()) {
        log_->Error("checkpoint after switching counters to rates failed",
                    {{"err", status.message()}});
      }
      absl::MutexLock lock(&tally->mu);
      for (const auto& [name, n] : switched) tally->switched[name] += n;
      if (tally->pending.fetch_sub(1) != 1) return;
      for (const auto& [name, n] : tally->switched) {
        log_->Info("metadata says this metric is a counter: modelling its rate from now on",
                   {{"metric", name},
                    {"series", absl::StrCat(n)},
                    {"range", absl::StrCat(kCounterRateRangeMs / 60'000, "m")}});
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

absl::StatusOr<QueryAnswer> Engine::Read(const ReadQuery& query, const ReadFormat& format,
                                         size_t* samples_budget) {
  store_->SetRetentionNow(clock_->NowMs());
  const ReadSpec spec{.matchers = query.matchers,
                      .start_ms = query.start_ms,
                      .end_ms = query.end_ms,
                      .want_future = !query.series_only};
  std::vector<std::vector<ReadMatch>> per_shard(shards_.size());
  std::vector<uint64_t> removals(shards_.size());
  OnEveryShard([&](Shard& shard, size_t i) {
    shard.Match(spec, &per_shard[i]);
    removals[i] = shard.removals();
  });
  auto count = [](const std::vector<ReadMatch>& matches) {
    int64_t series = 0;
    for (const ReadMatch& m : matches) series += std::popcount(m.value_types);
    return series;
  };
  const auto limit = static_cast<int64_t>(
      std::min<size_t>(options_.read_series_limit, std::numeric_limits<int64_t>::max()));
  std::atomic<int64_t> series_left = limit;
  for (const std::vector<ReadMatch>& matches : per_shard) series_left -= count(matches);
  const absl::Status too_many = absl::ResourceExhaustedError(
      absl::StrCat("remote read matches more than ", options_.read_series_limit,
                   " series: narrow the selector or raise --storage.remote.read-series-limit"));
  if (series_left < 0) return too_many;
  // Reading, decoding and encoding the points is most of a read: each
  // shard's thread does its own matches, side by side.
  std::atomic<int64_t> left{
      static_cast<int64_t>(std::min<size_t>(*samples_budget, std::numeric_limits<int64_t>::max()))};
  QueryAnswer answer;
  answer.parts.resize(shards_.size());
  std::vector<std::string> keys(shards_.size());
  std::vector<std::vector<ReadPiece>> pieces(shards_.size());
  std::vector<absl::Status> status(shards_.size());
  OnEveryShard([&](Shard& shard, size_t i) {
    if (shard.removals() != removals[i]) {
      // Series went meanwhile (expired, reloaded away): match again, so
      // that every match points at a live series.
      const int64_t before = count(per_shard[i]);
      per_shard[i].clear();
      shard.Match(spec, &per_shard[i]);
      if ((series_left -= count(per_shard[i]) - before) < 0) {
        status[i] = too_many;
        return;
      }
    }
    status[i] = ReadPoints(query, format, per_shard[i], &left, i, &answer, &keys[i], &pieces[i]);
  });
  for (const absl::Status& s : status) {
    if (!s.ok()) return s;
  }
  if (left.load() < 0) return SampleLimitError(options_.read_sample_limit);
  *samples_budget = static_cast<size_t>(left.load());
  // Each shard sorted its own series; they merge here.
  std::vector<ReadPiece> all;
  for (const std::vector<ReadPiece>& part : pieces) {
    std::vector<ReadPiece> merged;
    merged.reserve(all.size() + part.size());
    std::merge(all.begin(), all.end(), part.begin(), part.end(), std::back_inserter(merged));
    all = std::move(merged);
  }
  answer.order.reserve(all.size());
  for (const ReadPiece& p : all) {
    answer.order.push_back(p.piece);
    answer.bytes += p.piece.size;
  }
  return answer;
}

absl::Status Engine::ReadPoints(const ReadQuery& query, const ReadFormat& format,
                                std::span<const ReadMatch> matches, std::atomic<int64_t>* left,
                                size_t part, QueryAnswer* answer, std::string* keys,
                                std::vector<ReadPiece>* pieces) const {
  if (matches.empty()) return absl::OkStatus();
  std::string& bytes = answer->parts[part];
  std::vector<SeriesEncoder> encoders(kNumValueTypes, SeriesEncoder(format));
  std::vector<std::pair<size_t, size_t>> key_spans;
  // The value types are the query's, the same for every match.
  const uint8_t types = matches.front().value_types;
  auto selected = [types](int type) { return (types & (1 << type)) != 0; };
  storage::ColumnSet columns = 0;
  for (int type = 0; type < kNumValueTypes; ++type) {
    if (selected(type)) columns |= storage::ColumnBit(ColumnOf(type));
  }
  // The match being read: the samples it took, of the `limit` that was left
  // when it began. Counted down once per series, so a series needing more
  // than was left is over the limit whatever the other shards read.
  size_t current = 0;
  size_t next = 0;
  size_t taken = 0;
  size_t limit = 0;
  auto begin = [&](size_t i) {
    // Below zero: over the limit, which Read() answers.
    const int64_t allowance = left->load(std::memory_order_relaxed);
    if (allowance < 0) return false;
    current = i;
    taken = 0;
    limit = static_cast<size_t>(allowance);
    for (int type = 0; type < kNumValueTypes; ++type) {
      if (selected(type)) encoders[type].Begin(matches[i].series->labels(), type);
    }
    return true;
  };
  // Ends the current match with its future points (the band is forecast
  // ahead; anomaly and its score need a sample); false when over the limit.
  auto end = [&] {
    for (const auto& [t, f] : matches[current].future) {
      if (taken > limit) break;
      const double values[3] = {f.yhat, f.yhat_lower, f.yhat_upper};
      for (int type = 0; type < 3; ++type) {
        if (!selected(type)) continue;
        encoders[type].AddSample(t, values[type]);
        ++taken;
      }
    }
    const auto count = static_cast<int64_t>(taken);
    if (taken > limit || left->fetch_sub(count, std::memory_order_relaxed) < count) {
      left->store(-1);
      return false;
    }
    for (int type = 0; type < kNumValueTypes; ++type) {
      if (!selected(type)) continue;
      const size_t offset = bytes.size();
      encoders[type].End(&bytes);
      // The key's place in *keys, until *keys has all of them.
      const size_t key_at = keys->size();
      AppendSortKey(matches[current].series->labels(), type, keys);
      pieces->push_back({{}, {part, offset, bytes.size() - offset}});
      key_spans.emplace_back(key_at, keys->size() - key_at);
    }
    return true;
  };
  // Ends the match begun before match i and begins the ones up to it (the
  // store calls back only for series with points).
  bool begun = false;
  auto reach = [&](size_t i) {
    for (; next <= i; ++next) {
      if (begun && !end()) return false;
      begun = begin(next);
      if (!begun) return false;
    }
    return true;
  };
  if (!query.series_only) {
    std::vector<storage::ChunkScan> scans;
    scans.reserve(matches.size());
    for (const ReadMatch& m : matches) {
      scans.push_back({.id = m.series->id,
                       .start_ms = query.start_ms,
                       .end_ms = std::min(query.end_ms, m.last_ts)});
    }
    bool damaged = false;
    absl::Status status =
        store_->ScanChunks(scans, columns, [&](size_t i, const storage::ChunkSet& set) {
          if (!reach(i)) return false;
          for (int type = 0; type < kNumValueTypes; ++type) {
            if (!selected(type)) continue;
            const std::string_view chunk = set.chunks[static_cast<int>(ColumnOf(type))];
            if (!encoders[type].Add(set, chunk, &taken)) {
              damaged = true;
              return false;
            }
          }
          return taken <= limit;
        });
    if (!status.ok()) return status;
    if (damaged) {
      return absl::DataLossError(absl::StrCat("forecast points of series ",
                                              matches[current].series->id,
                                              " do not decode; the database is damaged"));
    }
  }
  if (!reach(matches.size() - 1) || (begun && !end())) return absl::OkStatus();
  for (size_t i = 0; i < pieces->size(); ++i) {
    (*pieces)[i].key = std::string_view(*keys).substr(key_spans[i].first, key_spans[i].second);
  }
  std::sort(pieces->begin(), pieces->end());
  return absl::OkStatus();
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

void Engine::RenderGauges(std::string* out) {
  std::vector<std::map<std::string, std::string>> per_shard(shards_.size());
  OnEveryShard([&](Shard& shard, size_t i) { shard.RenderGauges(&per_shard[i]); });
  // Each family once, its shards' lines after its TYPE line; copied once,
  // into room reserved whole (at 100,000 series it is 130 MB), with room
  // for the self metrics a scrape appends after.
  constexpr std::string_view kType = "# TYPE ";
  constexpr std::string_view kGauge = " gauge\n";
  constexpr size_t kRoomAfter = 64 << 10;
  std::set<std::string_view> names;
  size_t size = out->size() + kRoomAfter;
  for (const auto& part : per_shard) {
    for (const auto& [name, text] : part) {
      if (names.insert(name).second) size += kType.size() + name.size() + kGauge.size();
      size += text.size();
    }
  }
  out->reserve(size);
  for (const std::string_view name : names) {
    absl::StrAppend(out, AbslView(kType), AbslView(name), AbslView(kGauge));
    for (const auto& part : per_shard) {
      if (const auto it = part.find(std::string(name)); it != part.end()) *out += it->second;
    }
  }
}

ConfigReloader::ConfigReloader(std::string config_file, std::string activities_file, Engine* engine,
                               SelfMetrics* metrics, const Clock* clock, const Logger* log)
    : config_file_(std::move(config_file)),
      activities_file_(std::move(activities_file)),
      engine_(engine),
      metrics_(metrics),
      clock_(clock),
      log_(log) {
  metrics_->ConfigLoaded(true, clock_->NowMs());
}

absl::Status ConfigReloader::Reload() {
  absl::StatusOr<Config> config = LoadConfig(config_file_, activities_file_);
  absl::Status status = config.status();
  if (status.ok()) {
    for (const std::string& warning : config->warnings) log_->Warn(warning);
    status = engine_->Reload(std::make_shared<const Config>(*std::move(config)));
  }
  if (!status.ok()) {
    log_->Error("failed to reload config", {{"file", config_file_}, {"err", status.message()}});
  }
  if (also_) {
    absl::Status also = also_();
    if (!also.ok()) log_->Error("failed to reload the web config", {{"err", also.message()}});
    if (status.ok()) status = also;
  }
  metrics_->ConfigLoaded(status.ok(), clock_->NowMs());
  return status;
}

}  // namespace kad::adapter
