// The streaming forecaster interface every model kind implements.
//
// One Forecaster models one series. Time comes only from sample timestamps
// (milliseconds); a model never reads the clock. Observe() is O(1) per
// sample and the whole state is small and serialisable, so a million series
// fit in memory and a restart continues where it stopped.
//
//   std::unique_ptr<Forecaster> m = factory.New();
//   Verdict v = m->Observe(t, value);   // scored against the forecast made before t
//   Forecast f = m->Predict(t + 60'000); // future point, state unchanged
//
// Not thread-safe: each instance belongs to one shard thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace kad::models {

// What the model expects at one time, with its band.
struct Forecast {
  double yhat = 0;
  double yhat_lower = 0;
  double yhat_upper = 0;
};

// The verdict on one observed sample: the forecast made before the sample
// was seen, and how far outside the band the sample fell.
struct Verdict {
  Forecast forecast;
  // |value - yhat| divided by the distance from yhat to the band edge on the
  // sample's side: above 1 exactly when the sample is outside the band.
  double anomaly_score = 0;
  // anomaly_score > 1, once the model is warmed up (never during warm-up).
  bool anomaly = false;
};

class Forecaster {
 public:
  virtual ~Forecaster() = default;

  // Scores `value` at `t_ms` against the forecast made before seeing it,
  // then learns it. The caller guarantees t_ms is after every earlier
  // observation and that `value` is finite.
  virtual Verdict Observe(int64_t t_ms, double value) = 0;

  // The forecast for a time after the last observation. Const: asking for
  // future points never changes what the model will say next.
  virtual Forecast Predict(int64_t t_ms) const = 0;

  // The onRetrain event: re-estimates the model's parameters from the
  // history it keeps, at a bounded cost per series.
  virtual void Retrain() = 0;

  // Appends the whole state to `out`; Restore() of those bytes gives a model
  // that behaves identically from then on.
  virtual void SerializeTo(std::string* out) const = 0;
  // InvalidArgument when `state` is corrupt or was written by another kind
  // or another set of arguments; the model is then unchanged.
  virtual absl::Status Restore(std::string_view state) = 0;

  // Asks the CPU to bring the memory the next Observe() reads into its
  // cache, without waiting for it: a caller about to update many series
  // calls it a few series ahead, so their cache misses overlap instead of
  // stalling one after another. Memory reached through a pointer can only
  // be asked for once the pointer has arrived, so it takes steps: the
  // caller fetches the object's first cache line (its vtable pointer), then
  // calls Prefetch(0) up to Prefetch(kPrefetchSteps - 1) a few series
  // apart; each step asks for what the memory of the steps before points
  // to. Changes nothing the model does.
  static constexpr int kPrefetchSteps = 3;
  virtual void Prefetch(int step) const { (void)step; }
};

// Prefetches the `bytes` bytes at `p`, a cache line at a time.
inline void PrefetchBytes(const void* p, size_t bytes) {
  constexpr size_t kCacheLine = 64;
  const char* at = static_cast<const char*>(p);
  for (size_t offset = 0; offset < bytes; offset += kCacheLine) __builtin_prefetch(at + offset);
}

}  // namespace kad::models
