// One forecast series: the model of one kind that one config entry keeps for
// one input series, published as
//   P_k{<input labels without __name__>, source_metric="m", value_type="..."}
//
// Owned by exactly one Shard and touched only on that shard's thread.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "adapter/activity_engine.h"
#include "adapter/config.h"
#include "adapter/counter_rate.h"
#include "adapter/labels.h"
#include "models/forecaster.h"
#include "storage/store.h"

namespace kad::adapter {

inline constexpr int64_t kNoTimestamp = std::numeric_limits<int64_t>::min();

// The five values every forecast series publishes, in this order.
inline constexpr std::string_view kValueTypes[] = {"yhat", "yhat_lower", "yhat_upper", "anomaly",
                                                   "anomaly_score"};
inline constexpr int kNumValueTypes = 5;

// The store's column of value type kValueTypes[value_type].
constexpr storage::Column ColumnOf(int value_type) {
  return static_cast<storage::Column>(value_type + 1);
}
static_assert(ColumnOf(0) == storage::Column::kYhat &&
              ColumnOf(kNumValueTypes - 1) == storage::Column::kAnomalyScore);

struct ForecastSeries {
  uint64_t id = 0;
  // Output labels without value_type, sorted, as EncodeLabels writes them
  // (and the store keeps them).
  std::string encoded_labels;
  LabelsView labels() const { return LabelsView(encoded_labels); }
  const MetricConfig* metric = nullptr;
  const ModelConfig* model_config = nullptr;  // in metric->models
  std::unique_ptr<models::Forecaster> model;
  int64_t last_ts = kNoTimestamp;  // newest modelled sample
  storage::ForecastPoint latest;   // valid when last_ts != kNoTimestamp
  bool stale = false;              // ended by a stale marker; no future points
  bool dirty = false;              // model changed since the last checkpoint
  bool persisted = false;          // its series record has been written
  // For rate()/irate() queries and counters: turns counter samples into the
  // modelled rate.
  std::unique_ptr<CounterRate> rate;
  // Modelled as rate(m[5m]) because its input is a counter that its
  // metric_query selects without rate()/irate(); kept in the checkpoint.
  bool counter_rate = false;
  // The activity run when this series breaks its band, if any.
  const ActivityBinding* activity = nullptr;

  // Scores and learns one sample (t > last_ts) and returns the point to store.
  storage::ForecastPoint Observe(int64_t t_ms, double value);
};

// A new forecast series `encoded_labels` (EncodeLabels of its labels without
// value_type) of `model`
// under `metric`, bound to its activity if `activities` has one for it.
std::unique_ptr<ForecastSeries> MakeForecastSeries(uint64_t id, std::string encoded_labels,
                                                   const MetricConfig& metric,
                                                   const ModelConfig& model,
                                                   const ActivityEngine* activities);

// Models `series`, whose input is a counter, as rate(m[5m]) from its next
// sample on, unless its metric_query applies rate()/irate() already. A
// series that has modelled raw values gets a fresh model (the values change
// meaning), publishing no future points until its first rate. Returns true
// when the series switched.
bool ModelAsCounterRate(ForecastSeries* series);

// The output labels (without value_type) for `input` under `name` = P_k.
// source_metric and value_type labels of the input are replaced.
Labels OutputLabels(const Labels& input, std::string_view name);
// The input labels a set of output labels was made from (for restarts).
Labels InputLabels(LabelsView output);

// Checkpoint bytes: format byte, last_ts, a flags byte (bit 0 stale, bit 1
// counter_rate), the model's own state.
std::string EncodeCheckpoint(const ForecastSeries& series);
// Restores last_ts, stale, counter_rate (with its CounterRate) and the model;
// InvalidArgument if the bytes are foreign.
absl::Status DecodeCheckpoint(std::string_view bytes, ForecastSeries* series);

// Replays the points `store` holds for each series after its checkpoint (its
// last_ts) and sets `latest` from the point at the checkpoint. Models are
// deterministic, so this ends in the state a run that never stopped reached
// at its newest stored point. Adds the points replayed to `*replayed`. The
// series are read in one pass: give them in id order.
absl::Status ReplayStoredPoints(const storage::Store& store,
                                std::span<ForecastSeries* const> series, size_t* replayed);

// Puts `series` back in the state `store` holds for it, after a write of its
// newer points failed: its checkpoint (a fresh model without one), then the
// stored points after it.
absl::Status RewindToStored(const storage::Store& store, ForecastSeries* series);

}  // namespace kad::adapter
