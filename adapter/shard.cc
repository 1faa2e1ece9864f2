#include "adapter/shard.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "adapter/absl_view.h"
#include "adapter/thread_name.h"
#include "boost/asio/post.hpp"
#include "proto/label_fields.h"

namespace kad::adapter {
namespace {

constexpr uint64_t kStaleNaN = 0x7ff0000000000002ULL;
// Future points are at most this far apart, so PromQL's 5-minute lookback
// always finds one.
constexpr int64_t kFutureStepMs = 60'000;
// Checkpoints are written this many series to a store write: one write for
// a shard's half million series was 600 MB of memory at once and one WAL
// file as large, all of which a restart after kill -9 read again.
constexpr size_t kCheckpointBatch = 2048;

void AppendEscaped(std::string* out, std::string_view v) {
  for (char c : v) {
    if (c == '\\' || c == '"') out->push_back('\\');
    if (c == '\n') {
      out->append("\\n");
      continue;
    }
    out->push_back(c);
  }
}

}  // namespace

Shard::Shard(std::shared_ptr<const Config> config, const ShardOptions& options,
             storage::Store* store, SelfMetrics* metrics, ActivityEngine* activities,
             std::atomic<uint64_t>* next_id, const CounterFamilies* counters, SeriesBudget* budget,
             const Clock* clock, const Logger* log)
    : config_(std::move(config)),
      options_(options),
      store_(store),
      metrics_(metrics),
      activities_(activities),
      next_id_(next_id),
      counters_(counters),
      budget_(budget),
      clock_(clock),
      log_(log),
      work_(boost::asio::make_work_guard(io_)) {}

Shard::~Shard() { Stop(); }

void Shard::Adopt(RestoredSeries restored) {
  InputSeries* in = Find(restored.hash, restored.label_fields);
  if (in == nullptr) {
    InputChain& chain = inputs_[restored.hash];
    chain.push_back(std::make_unique<InputSeries>());
    in = chain.back().get();
    in->label_fields = std::move(restored.label_fields);
    in->counter = counters_->Contains(GetLabelField(in->label_fields, "__name__"));
  }
  // Its checkpoint may predate what the counter families say.
  if (in->counter) ModelAsCounterRate(restored.series.get());
  in->last_seen_ms = clock_->NowMs();
  in->outputs.push_back(restored.series.get());
  AddSeries(std::move(restored.series));
}

void Shard::AddSeries(std::unique_ptr<ForecastSeries> series) {
  index_.Add(*series);
  series_.push_back(std::move(series));
  CountSeries();
}

void Shard::RemoveSeries(const absl::flat_hash_set<const ForecastSeries*>& gone) {
  std::erase_if(series_, [&gone](const std::unique_ptr<ForecastSeries>& s) {
    return gone.contains(s.get());
  });
  index_.Clear();
  for (const auto& s : series_) index_.Add(*s);
  CountSeries();
  ++removals_;
}

bool Shard::ReserveSeries() {
  // Taken before it is made, so shards adding at the same moment cannot
  // overshoot the cap between them.
  if (budget_->used.fetch_add(1, std::memory_order_relaxed) >= budget_->max) {
    budget_->used.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  ++counted_;
  return true;
}

void Shard::CountSeries() {
  const auto now = static_cast<int64_t>(series_.size());
  budget_->used.fetch_add(now - counted_, std::memory_order_relaxed);
  counted_ = now;
}

void Shard::Start(std::string thread_name) {
  name_ = std::move(thread_name);
  ScheduleCheckpoint();
  ScheduleRetrain();
  thread_ = std::thread([this] {
    NameThisThread(name_);
    io_.run();
  });
}

void Shard::Stop() {
  if (!thread_.joinable()) return;
  Post([this] {
    checkpoint_timer_->cancel();
    retrain_timer_->cancel();
    stopping_ = true;
    LogFailure("the checkpoint at shutdown failed: a restart replays the points since the last one",
               Checkpoint(/*all=*/false));
    work_.reset();
  });
  thread_.join();
}

void Shard::Post(std::function<void()> task) { boost::asio::post(io_, std::move(task)); }

void Shard::LogFailure(absl::string_view what, const absl::Status& status) const {
  if (status.ok()) return;
  log_->Error(what, {{"shard", name_}, {"err", status.message()}});
}

void Shard::ScheduleCheckpoint() {
  if (!checkpoint_timer_) checkpoint_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
  checkpoint_timer_->expires_after(std::chrono::milliseconds(options_.checkpoint_interval_ms));
  checkpoint_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    checkpoint_started_ms_ = clock_->NowMs();
    LogFailure("expiring series failed; trying again at the next checkpoint",
               Expire(checkpoint_started_ms_));
    CheckpointFrom(0, removals_);
  });
}

void Shard::CheckpointFrom(size_t from, uint64_t removals) {
  if (stopping_) return;
  // A removal moved the series after it: scan again from the start (those
  // saved are clean by now) rather than skip some.
  if (removals != removals_) from = 0;
  std::vector<ForecastSeries*> changed;
  size_t next = from;
  for (; next < series_.size() && changed.size() < kCheckpointBatch; ++next) {
    if (series_[next]->dirty) changed.push_back(series_[next].get());
  }
  const absl::Status status = SaveStates(changed);
  if (!status.ok()) {
    LogFailure("checkpoint failed; trying again at the next interval", status);
    checkpoint_failed_ = true;
    ScheduleCheckpoint();
    return;
  }
  if (next == series_.size()) {
    checkpointed_ms_.store(checkpoint_started_ms_, std::memory_order_relaxed);
    if (checkpoint_failed_) log_->Info("checkpoints complete again", {{"shard", name_}});
    checkpoint_failed_ = false;
    ScheduleCheckpoint();
    return;
  }
  // The rest after the samples that came meanwhile.
  Post([this, next, removals = removals_] { CheckpointFrom(next, removals); });
}

void Shard::ScheduleRetrain() {
  if (!retrain_timer_) retrain_timer_ = std::make_unique<boost::asio::steady_timer>(io_);
  retrain_timer_->expires_after(std::chrono::milliseconds(options_.retrain_interval_ms));
  retrain_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    LogFailure("retraining failed; trying again at the next interval", Retrain({}).status());
    ScheduleRetrain();
  });
}

Shard::InputSeries* Shard::Find(uint64_t hash, std::string_view label_fields) {
  auto it = inputs_.find(hash);
  if (it == inputs_.end()) return nullptr;
  for (auto& in : it->second) {
    if (in->label_fields == label_fields) return in.get();
  }
  return nullptr;
}

Shard::InputSeries* Shard::Create(uint64_t hash, std::string_view label_fields,
                                  std::span<const proto::LabelView> views) {
  Labels input;
  input.reserve(views.size());
  for (const proto::LabelView& v : views)
    input.push_back({std::string(v.name), std::string(v.value)});
  auto& chain = inputs_[hash];
  chain.push_back(std::make_unique<InputSeries>());
  InputSeries* in = chain.back().get();
  in->label_fields = std::string(label_fields);
  if (!ValidateLabels(input).ok()) {
    in->invalid = true;
    return in;
  }
  in->counter = counters_->Contains(GetLabel(input, "__name__"));
  AddOutputs(in, input);
  return in;
}

void Shard::AddOutputs(InputSeries* in) { AddOutputs(in, in->labels()); }

void Shard::AddOutputs(InputSeries* in, const Labels& labels) {
  in->over_budget = false;
  // Valid labels are sorted, as selection needs them.
  for (const MetricConfig& metric : config_->metrics) {
    if (!metric.selector.Matches(labels)) continue;
    for (const ModelConfig& model : metric.models) {
      const std::string name = absl::StrCat(metric.predicted_metric_name, "_", model.kind);
      if (std::any_of(in->outputs.begin(), in->outputs.end(), [&name](const ForecastSeries* s) {
            return s->labels().Get("__name__") == name;
          })) {
        continue;
      }
      if (!ReserveSeries()) {
        in->over_budget = true;
        continue;
      }
      auto series =
          MakeForecastSeries(next_id_->fetch_add(1, std::memory_order_relaxed),
                             EncodeLabels(OutputLabels(labels, name)), metric, model, activities_);
      if (in->counter) ModelAsCounterRate(series.get());
      in->outputs.push_back(series.get());
      AddSeries(std::move(series));
    }
  }
}

absl::Status Shard::LearnCounters(const absl::flat_hash_set<std::string>& families,
                                  absl::flat_hash_map<std::string, size_t>* switched) {
  for (auto& [hash, chain] : inputs_) {
    for (auto& in : chain) {
      if (in->counter || in->invalid) continue;
      const std::string_view name = GetLabelField(in->label_fields, "__name__");
      if (!InCounterFamily(name, families)) continue;
      in->counter = true;
      for (ForecastSeries* out : in->outputs) {
        if (ModelAsCounterRate(out)) ++(*switched)[std::string(name)];
      }
    }
  }
  // Saved at once, so a restart does not bring back the raw values' model.
  return switched->empty() ? absl::OkStatus() : Checkpoint(/*all=*/false);
}

absl::Status Shard::Apply(const proto::WriteRequestView& req, std::span<const uint32_t> indices,
                          int64_t now_ms) {
  storage::WriteBatch& batch = batch_;
  uint64_t counts[static_cast<int>(SampleOutcome::kNum)] = {};
  auto count = [&counts](SampleOutcome o, uint64_t n) { counts[static_cast<int>(o)] += n; };
  std::vector<ForecastSeries*> unpersisted;
  // Series whose models moved: rewound if the batch is not written.
  std::vector<ForecastSeries*> touched;

  // With a million series every series' memory is a cache miss, and finding
  // an input takes three in a row: its table slot, the input, its labels.
  // Each pass below fetches, kAhead series ahead (the models in steps),
  // what the one after it reads, so the misses of several series overlap:
  // the slots, then the inputs, then their labels and outputs, then the
  // models.
  constexpr size_t kAhead = 8;
  const size_t n = indices.size();
  std::vector<InputSeries*>& found = found_;
  // First the input each hash leads to first (almost always its only one)...
  found.assign(n, nullptr);
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) inputs_.prefetch(req.series[indices[i + kAhead]].label_hash);
    const auto it = inputs_.find(req.series[indices[i]].label_hash);
    if (it == inputs_.end()) continue;
    found[i] = it->second.front().get();
    models::PrefetchBytes(found[i], sizeof(InputSeries));
  }
  // ...then the input whose labels are the series', made if there is none.
  for (size_t i = 0; i < n; ++i) {
    if (const InputSeries* next = i + kAhead < n ? found[i + kAhead] : nullptr) {
      models::PrefetchBytes(next->label_fields.data(), next->label_fields.size());
    }
    const proto::SeriesView& sv = req.series[indices[i]];
    if (sv.sample_begin == sv.sample_end) {
      found[i] = nullptr;
      continue;
    }
    InputSeries* in = found[i];
    if (in == nullptr || in->label_fields != sv.label_fields) {
      in = Find(sv.label_hash, sv.label_fields);
      if (in == nullptr) in = Create(sv.label_hash, sv.label_fields, req.LabelsOf(sv));
    }
    found[i] = in;
    for (const ForecastSeries* out : in->outputs) models::PrefetchBytes(out, sizeof(*out));
  }
  for (size_t i = 0; i < n; ++i) {
    InputSeries* in = found[i];
    if (in == nullptr) continue;
    if (const InputSeries* next = i + kAhead < n ? found[i + kAhead] : nullptr) {
      for (const ForecastSeries* out : next->outputs) __builtin_prefetch(out->model.get());
    }
    // Step s of the models kModelStride * (kPrefetchSteps - s) series ahead.
    constexpr int kSteps = models::Forecaster::kPrefetchSteps;
    constexpr size_t kModelStride = kAhead / (kSteps + 1);
    for (int step = 0; step < kSteps; ++step) {
      const size_t ahead = kModelStride * static_cast<size_t>(kSteps - step);
      if (const InputSeries* next = i + ahead < n ? found[i + ahead] : nullptr) {
        for (const ForecastSeries* out : next->outputs) out->model->Prefetch(step);
      }
    }
    const auto samples = req.SamplesOf(req.series[indices[i]]);
    in->last_seen_ms = now_ms;
    if (in->invalid) {
      count(SampleOutcome::kInvalidLabels, samples.size());
      continue;
    }
    if (in->outputs.empty()) {
      count(in->over_budget ? SampleOutcome::kSeriesLimit : SampleOutcome::kNotSelected,
            samples.size());
      continue;
    }
    const size_t written_before = batch.count();
    for (const proto::SampleView& sample : samples) {
      if (std::bit_cast<uint64_t>(sample.value) == kStaleNaN) {
        for (ForecastSeries* out : in->outputs) {
          if (out->stale) continue;
          // Saved at once, so a restart does not bring the series back.
          out->stale = true;
          batch.PutState(out->id, EncodeCheckpoint(*out));
        }
        count(SampleOutcome::kStale, 1);
        continue;
      }
      if (!std::isfinite(sample.value)) {
        count(SampleOutcome::kNonFinite, 1);
        continue;
      }
      for (ForecastSeries* out : in->outputs) {
        if (sample.timestamp_ms <= out->last_ts) {
          count(sample.timestamp_ms == out->last_ts ? SampleOutcome::kDuplicate
                                                    : SampleOutcome::kOutOfOrder,
                1);
          continue;
        }
        double value = sample.value;
        if (out->rate != nullptr) {
          std::optional<double> rate = out->rate->Next(sample.timestamp_ms, sample.value);
          if (!rate.has_value()) continue;  // the range holds one sample so far
          value = *rate;
        }
        const bool was_anomaly = out->last_ts != kNoTimestamp && out->latest.anomaly;
        const storage::ForecastPoint& point = out->Observe(sample.timestamp_ms, value);
        batch.PutPoint(out->id, point);
        count(SampleOutcome::kModelled, 1);
        if (out->activity != nullptr && (point.anomaly || was_anomaly)) {
          activities_->OnVerdict(*out->activity, InputLabels(out->labels()), point, was_anomaly);
        }
      }
    }
    // Labels are stored with the first point or state, so a series that only
    // ever sent NaN, +-Inf or out-of-order samples leaves nothing behind.
    if (batch.count() == written_before) continue;
    touched.insert(touched.end(), in->outputs.begin(), in->outputs.end());
    for (ForecastSeries* out : in->outputs) {
      if (!out->persisted) {
        batch.PutSeries(out->id, out->encoded_labels);
        unpersisted.push_back(out);
      }
    }
  }
  absl::Status status = batch.count() == 0 ? absl::OkStatus() : store_->Write(&batch);
  if (!status.ok()) {
    // Nothing of the request is acknowledged: its retry must find the models
    // as they were (a series may appear in several entries).
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (ForecastSeries* s : touched) (void)RewindToStored(*store_, s);
    return status;
  }
  for (ForecastSeries* s : unpersisted) s->persisted = true;
  for (int i = 0; i < static_cast<int>(SampleOutcome::kNum); ++i) {
    if (counts[i] != 0) metrics_->Add(static_cast<SampleOutcome>(i), counts[i]);
  }
  return absl::OkStatus();
}

absl::Status Shard::Checkpoint(bool all) {
  std::vector<ForecastSeries*> changed;
  for (const auto& s : series_) {
    if (all || s->dirty) changed.push_back(s.get());
  }
  return SaveStates(changed);
}

absl::Status Shard::SaveStates(std::span<ForecastSeries* const> series) {
  for (size_t begin = 0; begin < series.size(); begin += kCheckpointBatch) {
    const std::span<ForecastSeries* const> part =
        series.subspan(begin, std::min(kCheckpointBatch, series.size() - begin));
    storage::WriteBatch batch;
    for (const ForecastSeries* s : part) {
      if (!s->persisted) batch.PutSeries(s->id, s->encoded_labels);
      batch.PutState(s->id, EncodeCheckpoint(*s));
    }
    if (absl::Status status = store_->Write(&batch); !status.ok()) return status;
    for (ForecastSeries* s : part) {
      s->dirty = false;
      s->persisted = true;
    }
  }
  return absl::OkStatus();
}

absl::Status Shard::Expire(int64_t now_ms) {
  const int64_t ttl = config_->series_ttl_ms;
  const int64_t cutoff = now_ms - ttl;
  const int64_t unmodelled_cutoff = now_ms - std::min(ttl, kUnmodelledInputTtlMs);
  storage::WriteBatch batch;
  absl::flat_hash_set<const ForecastSeries*> expired;
  std::vector<InputSeries*> over_budget;
  for (auto it = inputs_.begin(); it != inputs_.end();) {
    InputChain& chain = it->second;
    auto expires = [&](const std::unique_ptr<InputSeries>& in) {
      if (in->last_seen_ms >= (in->outputs.empty() ? unmodelled_cutoff : cutoff)) {
        if (in->over_budget) over_budget.push_back(in.get());
        return false;
      }
      for (const ForecastSeries* out : in->outputs) {
        expired.insert(out);
        if (out->persisted) batch.DeleteSeries(out->id);
      }
      return true;
    };
    chain.erase(std::remove_if(chain.begin(), chain.end(), expires), chain.end());
    if (chain.empty()) {
      inputs_.erase(it++);
    } else {
      ++it;
    }
  }
  if (!expired.empty()) {
    RemoveSeries(expired);
    metrics_->AddExpired(expired.size());
  }
  for (InputSeries* in : over_budget) AddOutputs(in);
  // Held in memory no more: a failed deletion leaves them to the next start,
  // which restores and expires them again.
  return batch.count() == 0 ? absl::OkStatus() : store_->Write(&batch);
}

absl::StatusOr<size_t> Shard::Retrain(const std::vector<LabelMatcher>& matchers) {
  std::vector<ForecastSeries*> retrained;
  for (const auto& s : series_) {
    // The input labels are only needed for a selector or an activity lock.
    const bool needs_input = !matchers.empty() || s->activity != nullptr;
    const Labels input = needs_input ? InputLabels(s->labels()) : Labels();
    if (!MatchesAll(matchers, input)) continue;
    s->model->Retrain();
    if (s->activity != nullptr) activities_->OnRetrained(*s->activity, input);
    retrained.push_back(s.get());
  }
  if (absl::Status status = SaveStates(retrained); !status.ok()) return status;
  return retrained.size();
}

absl::Status Shard::Reload(std::shared_ptr<const Config> config, const ReloadPlan& plan,
                           std::vector<RestoredSeries> restored) {
  // Saved first, so a removed entry added back later resumes its models.
  absl::Status status = Checkpoint(/*all=*/false);
  absl::flat_hash_set<const ForecastSeries*> removed;
  for (std::unique_ptr<ForecastSeries>& s : series_) {
    const std::string_view name = s->labels().Get("__name__");
    auto it = plan.find(AbslView(name));
    if (it == plan.end() || (it->second.change == ReloadChange::kRestarted &&
                             !it->second.metric->selector.Matches(InputLabels(s->labels())))) {
      removed.insert(s.get());
      continue;
    }
    const ReloadTarget& target = it->second;
    if (target.change == ReloadChange::kKept) {
      s->metric = target.metric;
      s->model_config = target.model;
      s->activity = activities_ == nullptr ? nullptr : activities_->Find(name);
      continue;
    }
    // Restarted: a new model from the next sample on. last_ts stays, so the
    // checkpoint below makes a restart replay only the points after it.
    auto fresh = MakeForecastSeries(s->id, std::move(s->encoded_labels), *target.metric,
                                    *target.model, activities_);
    if (counters_->Contains(fresh->labels().Get("source_metric"))) {
      ModelAsCounterRate(fresh.get());
    }
    fresh->last_ts = s->last_ts;
    fresh->latest = s->latest;
    fresh->persisted = s->persisted;
    // Until its first sample the new model has nothing to forecast: like a
    // series ended by a stale marker, it publishes no future points.
    fresh->stale = s->last_ts != kNoTimestamp;
    fresh->dirty = s->last_ts != kNoTimestamp;
    *s = std::move(*fresh);  // in place: the inputs point at it
  }
  for (auto& [hash, chain] : inputs_) {
    for (auto& in : chain) {
      auto& outputs = in->outputs;
      outputs.erase(std::remove_if(outputs.begin(), outputs.end(),
                                   [&removed](ForecastSeries* s) { return removed.contains(s); }),
                    outputs.end());
    }
  }
  RemoveSeries(removed);
  config_ = std::move(config);
  for (RestoredSeries& r : restored) {
    if (activities_ != nullptr) {
      r.series->activity = activities_->Find(r.series->labels().Get("__name__"));
    }
    Adopt(std::move(r));
  }
  for (auto& [hash, chain] : inputs_) {
    for (auto& in : chain) {
      if (!in->invalid) AddOutputs(in.get());
    }
  }
  absl::Status saved = Checkpoint(/*all=*/false);
  return status.ok() ? saved : status;
}

void Shard::Match(const ReadSpec& spec, std::vector<ReadMatch>* out) const {
  // Matchers on value_type pick value types; the rest must match the series.
  std::vector<const LabelMatcher*> series_matchers;
  std::vector<const LabelMatcher*> type_matchers;
  for (const LabelMatcher& m : spec.matchers) {
    (m.name() == "value_type" ? type_matchers : series_matchers).push_back(&m);
  }
  uint8_t types = 0;
  for (int i = 0; i < kNumValueTypes; ++i) {
    if (std::all_of(type_matchers.begin(), type_matchers.end(),
                    [i](const LabelMatcher* m) { return m->Matches(kValueTypes[i]); })) {
      types |= 1 << i;
    }
  }
  if (types == 0) return;
  auto consider = [&](const ForecastSeries& s) {
    if (s.last_ts == kNoTimestamp) return;
    for (const LabelMatcher* m : series_matchers) {
      if (!m->Matches(s.labels().Get(m->name()))) return;
    }
    ReadMatch& r = out->emplace_back();
    r.series = &s;
    r.value_types = types;
    r.last_ts = s.last_ts;
    if (!spec.want_future || s.stale) return;
    const int64_t horizon_end = std::min(spec.end_ms, s.last_ts + s.metric->forecast_horizon_ms);
    for (int64_t t = s.last_ts + kFutureStepMs; t <= horizon_end; t += kFutureStepMs) {
      if (t >= spec.start_ms) r.future.emplace_back(t, s.model->Predict(t));
    }
  };
  // The index narrows the search to the series an equality matcher names.
  if (const auto candidates = index_.Candidates(series_matchers)) {
    for (const ForecastSeries* s : *candidates) consider(*s);
  } else {
    for (const auto& s : series_) consider(*s);
  }
}

void Shard::RenderGauges(std::map<std::string, std::string>* families) const {
  for (const auto& s : series_) {
    if (s->last_ts == kNoTimestamp || s->stale) continue;
    std::string_view name = s->labels().Get("__name__");
    std::string& text = (*families)[std::string(name)];
    for (int i = 0; i < kNumValueTypes; ++i) {
      absl::StrAppend(&text, AbslView(name), "{");
      for (const LabelView l : s->labels()) {
        if (l.name == "__name__") continue;
        absl::StrAppend(&text, AbslView(l.name), "=\"");
        AppendEscaped(&text, l.value);
        text.append("\",");
      }
      absl::StrAppend(&text, "value_type=\"", AbslView(kValueTypes[i]), "\"} ",
                      absl::StrFormat("%.17g", storage::ValueOf(s->latest, ColumnOf(i))), "\n");
    }
  }
}

}  // namespace kad::adapter
