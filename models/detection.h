// What every model kind shares: the operator's detection knobs and the
// anomaly-likelihood calibration of the score, applied on top of the
// kind's own forecast.
//
// A kind forecasts and gives a raw band from its own spread estimate. The
// Detector wraps it and turns the raw error into the published verdict:
//
//   raw z       = |value - yhat| / kind's half-width on the value's side
//   likelihood  = how unusual z is among this series' own recent raw
//                 errors (a decayed histogram of log z), as a tail
//                 probability q; the score is log(q) / log(q_alarm), so it
//                 is above 1 exactly when q < q_alarm
//   band        = yhat +- the half-width at which the score would be 1,
//                 widened after a surprise (by the largest recent score,
//                 fading over ~60 samples: an incident alarms at its
//                 onset, not on every sample of it), narrowed while the
//                 recent raw errors run well above their long-run mean
//                 (a sustained shift is news even when no single error
//                 is), and widened to min_dev_from_expected
//
// so the published band, anomaly_score and anomaly always agree: the score
// is above 1 exactly when the value is outside the published band (on the
// side detection_direction watches; the other side scores 0).
//
//   absl::StatusOr<DetectionOptions> d = DetectionOptions::Extract("holt_winters", &args);
//   Detector m(std::make_shared<const DetectionOptions>(*d), kind_factory.New());
//   Verdict v = m.Observe(t, value);
//
// Not thread-safe (see Forecaster).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/forecaster.h"
#include "models/registry.h"
#include "models/state_codec.h"

namespace kad::models {

// The model args every kind accepts, as vmanomaly's users know them.
struct DetectionOptions {
  enum class Direction { kBoth, kAboveExpected, kBelowExpected };

  // Arg "detection_direction": both (default) | above_expected |
  // below_expected. Samples on the side not watched score 0.
  Direction direction = Direction::kBoth;
  // Arg "min_dev_from_expected": "5" (absolute), "10%" (of |yhat|) or
  // "5, 10%" (both): the band is at least this wide on each side, so
  // smaller deviations are never anomalies.
  double min_dev_abs = 0;
  double min_dev_relative = 0;
  // Arg "min_n_samples_seen", default 30: no anomaly before this many
  // samples (the score is capped at 1 until then).
  int64_t min_n_samples_seen = 30;
  // Arg "alarm_probability", default 1e-3: the tail probability of a raw
  // error, among the series' recent ones, at which the score reaches 1.
  double alarm_probability = 1e-3;
  // Arg "likelihood_half_life", default 2000 samples: how many recent raw
  // errors the likelihood compares against (exponential forgetting).
  double likelihood_half_life = 2000;

  absl::Status Validate() const;
  // Reads (and removes) the detection args from `args`, leaving the kind's
  // own; InvalidArgument naming the arg when one does not parse.
  static absl::StatusOr<DetectionOptions> Extract(std::string_view kind, ModelArgs* args);
  uint64_t Fingerprint() const;
};

class Detector final : public Forecaster {
 public:
  Detector(std::shared_ptr<const DetectionOptions> options, std::unique_ptr<Forecaster> kind);

  Verdict Observe(int64_t t_ms, double value) override;
  Forecast Predict(int64_t t_ms) const override;
  void Retrain() override;
  void SerializeTo(std::string* out) const override;
  absl::Status Restore(std::string_view state) override;
  void Prefetch(int step) const override;

  // Histogram resolution of log2(raw z): bins of 1/4 octave from 2^-8 to
  // 2^8, the outer bins open-ended.
  static constexpr int kBins = 64;

 private:
  StateHeader Header() const;
  // The raw z at which the score reaches 1, from the histogram.
  double AlarmZ() const;
  // The published forecast: the kind's band scaled to the alarm z and
  // widened to the minimum deviation.
  Forecast Publish(const Forecast& raw, double alarm_z) const;
  // Score of `value` against the published forecast `f`.
  double Score(const Forecast& f, double value) const;
  void Learn(double raw_z);

  std::shared_ptr<const DetectionOptions> options_;
  std::unique_ptr<Forecaster> kind_;
  int64_t n_ = 0;
  // Largest recent score (before this widening), fading; widens the band.
  double recent_surprise_ = 0;
  // Mean raw z over about the last 10 and 1000 samples (see kSustainedRatio).
  double short_z_ = 0;
  double long_z_ = 0;
  // What each bin keeps per learnt sample: 2^(-1 / likelihood_half_life).
  float histogram_keep_;
  std::array<float, kBins> histogram_{};
  // AlarmZ() of histogram_ as it is (declared after it: initialised from
  // it); recomputed only when the histogram changes.
  double alarm_z_ = 0;
};

}  // namespace kad::models
