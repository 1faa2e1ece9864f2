#include "adapter/forecast_series.h"

#include <algorithm>
#include <cstring>

namespace kad::adapter {
namespace {

constexpr char kCheckpointFormat = 1;
constexpr size_t kCheckpointHeader = 1 + sizeof(int64_t) + 1;
constexpr std::string_view kSourceMetric = "source_metric";
constexpr std::string_view kValueType = "value_type";
constexpr std::string_view kName = "__name__";
constexpr unsigned char kStaleFlag = 1;
constexpr unsigned char kCounterRateFlag = 2;

void UseCounterRate(ForecastSeries* series) {
  series->rate = std::make_unique<CounterRate>(RangeFunction::kRate, kCounterRateRangeMs);
  series->counter_rate = true;
}

}  // namespace

storage::ForecastPoint ForecastSeries::Observe(int64_t t_ms, double value) {
  const models::Verdict v = model->Observe(t_ms, value);
  latest = {.timestamp_ms = t_ms,
            .value = value,
            .yhat = v.forecast.yhat,
            .yhat_lower = v.forecast.yhat_lower,
            .yhat_upper = v.forecast.yhat_upper,
            .anomaly_score = v.anomaly_score,
            .anomaly = v.anomaly};
  last_ts = t_ms;
  stale = false;
  dirty = true;
  return latest;
}

std::unique_ptr<ForecastSeries> MakeForecastSeries(uint64_t id, std::string encoded_labels,
                                                   const MetricConfig& metric,
                                                   const ModelConfig& model,
                                                   const ActivityEngine* activities) {
  auto series = std::make_unique<ForecastSeries>();
  series->id = id;
  series->encoded_labels = std::move(encoded_labels);
  series->metric = &metric;
  series->model_config = &model;
  series->model = model.factory.New();
  // The counter window is not checkpointed: after a restart the rate
  // resumes once two new samples are in the range.
  if (metric.selector.function != RangeFunction::kNone) {
    series->rate =
        std::make_unique<CounterRate>(metric.selector.function, metric.selector.range_ms);
  }
  if (activities != nullptr) series->activity = activities->Find(series->labels().Get(kName));
  return series;
}

bool ModelAsCounterRate(ForecastSeries* series) {
  if (series->rate != nullptr) return false;
  UseCounterRate(series);
  if (series->last_ts == kNoTimestamp) return true;
  series->model = series->model_config->factory.New();
  // Like a series ended by a stale marker, until its first rate.
  series->stale = true;
  series->dirty = true;
  return true;
}

Labels OutputLabels(const Labels& input, std::string_view name) {
  Labels out;
  out.reserve(input.size() + 1);
  out.push_back({std::string(kName), std::string(name)});
  for (const Label& l : input) {
    if (l.name == kName || l.name == kSourceMetric || l.name == kValueType) continue;
    out.push_back(l);
  }
  out.push_back({std::string(kSourceMetric), std::string(GetLabel(input, kName))});
  SortLabels(&out);
  return out;
}

Labels InputLabels(LabelsView output) {
  Labels in;
  for (const LabelView l : output) {
    if (l.name == kName) continue;
    in.push_back({std::string(l.name == kSourceMetric ? kName : l.name), std::string(l.value)});
  }
  SortLabels(&in);
  return in;
}

std::string EncodeCheckpoint(const ForecastSeries& series) {
  std::string out(kCheckpointHeader, '\0');
  out[0] = kCheckpointFormat;
  std::memcpy(out.data() + 1, &series.last_ts, sizeof(int64_t));
  out[kCheckpointHeader - 1] = static_cast<char>((series.stale ? kStaleFlag : 0) |
                                                 (series.counter_rate ? kCounterRateFlag : 0));
  series.model->SerializeTo(&out);
  return out;
}

absl::Status DecodeCheckpoint(std::string_view bytes, ForecastSeries* series) {
  // Checkpoints written before counter_rate existed have flags 0 or 1.
  const auto flags = static_cast<unsigned char>(
      bytes.size() < kCheckpointHeader ? 0xff : bytes[kCheckpointHeader - 1]);
  if (bytes.size() < kCheckpointHeader || bytes[0] != kCheckpointFormat ||
      (flags & ~(kStaleFlag | kCounterRateFlag)) != 0) {
    return absl::InvalidArgumentError("checkpoint has an unknown format");
  }
  int64_t last_ts;
  std::memcpy(&last_ts, bytes.data() + 1, sizeof(int64_t));
  if (absl::Status s = series->model->Restore(bytes.substr(kCheckpointHeader)); !s.ok()) {
    return s;
  }
  series->last_ts = last_ts;
  series->stale = (flags & kStaleFlag) != 0;
  // A metric_query given rate()/irate() since keeps its own range.
  if ((flags & kCounterRateFlag) != 0 && series->rate == nullptr) UseCounterRate(series);
  return absl::OkStatus();
}

absl::Status ReplayStoredPoints(const storage::Store& store,
                                std::span<ForecastSeries* const> series, size_t* replayed) {
  std::vector<storage::ChunkScan> scans;
  scans.reserve(series.size());
  for (const ForecastSeries* s : series) {
    // A series' points go to the store in time order (Shard::Apply skips a
    // sample at or before last_ts), so a checkpoint still in the open block
    // needs no read of the disk: at a million series, one seek each took
    // most of a restart.
    scans.push_back({.id = s->id,
                     .start_ms = s->last_ts,  // the checkpoint
                     .end_ms = std::numeric_limits<int64_t>::max(),
                     .written_in_order = true});
  }
  return store.ScanPoints(scans, [&](size_t i, const storage::ForecastPoint& p) {
    if (p.timestamp_ms == scans[i].start_ms) {
      series[i]->latest = p;
    } else {
      series[i]->Observe(p.timestamp_ms, p.value);
      ++*replayed;
    }
    return true;
  });
}

absl::Status RewindToStored(const storage::Store& store, ForecastSeries* series) {
  absl::StatusOr<std::string> state = store.GetState(series->id);
  if (!state.ok() && !absl::IsNotFound(state.status())) return state.status();
  series->model = series->model_config->factory.New();
  series->last_ts = kNoTimestamp;
  series->latest = {};
  series->stale = false;
  if (state.ok()) {
    if (absl::Status s = DecodeCheckpoint(*state, series); !s.ok()) return s;
  }
  size_t replayed = 0;
  absl::Status status = ReplayStoredPoints(store, std::span(&series, 1), &replayed);
  series->dirty = true;
  return status;
}

}  // namespace kad::adapter
