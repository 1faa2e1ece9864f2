// "fourier": online regression on daily and weekly harmonics around a
// slowly moving level, with a short-term residual correction and a robust
// residual band. The original system's "prophet" and
// "prophet_with_seasonality" kinds run as this one (see registry.h).
//
// The forecast for time t is
//   yhat(t) = level + damped trend                      (slow baseline)
//           + sum_j theta_j * x_j(t)                    (harmonics)
//           + correction * 2^(-h / correction half-life)
// where x(t) holds sin and cos of 2 pi k t / P for k = 1..order of each
// period P (1d, 1w and an optional custom one) and h is the time since the
// last sample. theta is learnt by exponentially weighted recursive least
// squares on the deviation from the level, forgetting with `half_life` in
// time, so one scrape interval or another learn the same shape. A period's
// harmonics start learning once the series has been watched for one whole
// period: shorter cycles are learnt first, and a week's harmonics do not
// mistake the first days' drift for a weekly shape. Harmonics shared by two
// periods (the 2nd of 1d is the 14th of 1w) are kept once.
//
// The band is yhat +- band_sigmas * sigma, with sigma from an exponentially
// weighted mean of |one-step residual| whose input is clipped so spikes do
// not widen it; it never narrows below 1e-4 * |level| and widens with the
// horizon as the correction fades. After warm-up a sample is learnt only up
// to 3 sigmas from the forecast (a Huber step), except that a run of
// samples outside the band on the same side is a level shift: the level
// jumps to it, so a new normal is accepted after a few samples.
//
// The first sample's verdict is the sample itself with a zero-width band
// and score 0; Predict() before any sample is all zeros. Values so large
// that the arithmetic overflows restart the model from that sample.
//
// State: the coefficients (doubles) and the upper triangle of the
// regression's inverse information matrix (floats): 6 harmonics (12
// features) by default, about 0.5 KiB serialised; at most 12 harmonics,
// about 1.5 KiB.
//
//   absl::StatusOr<FourierOptions> o = FourierOptions::FromArgs(args);
//   absl::StatusOr<ModelFactory> f = MakeFourierFactory(*o);
//   std::unique_ptr<Forecaster> m = f->New();
//
// Not thread-safe (see Forecaster); instances of one factory share their
// immutable options.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/forecaster.h"
#include "models/registry.h"
#include "models/smoothing.h"

namespace kad::models {

inline constexpr std::string_view kFourierKind = "fourier";

// Each field is also the model arg of the same name (durations without the
// _ms suffix), except the custom period's, which take the original
// system's names ("seasonality: {period: 30.5, fourier_order: 5}").
struct FourierOptions {
  // Default: 4. Number of daily harmonics (sin/cos pairs); 0 disables them.
  int64_t daily_order = 4;
  // Default: 2. Number of weekly harmonics; 0 disables them.
  int64_t weekly_order = 2;
  // Default: 0 (none). Arg "seasonality.period": an extra cycle, as a
  // duration ("12h") or a bare number of days as Prophet takes it ("30.5").
  int64_t custom_period_ms = 0;
  // Default: 0. Arg "seasonality.fourier_order": its number of harmonics.
  int64_t custom_order = 0;
  // Default: 7d. Half-life of the harmonics' regression: a sample weighs
  // half as much as one this much newer.
  int64_t half_life_ms = 7 * 86'400'000LL;
  // Default: 1d. Half-life of the baseline level.
  int64_t level_half_life_ms = 86'400'000;
  // Default: 0 (arg "none"): no trend. Otherwise the half-life of the trend
  // estimate, which also fades with it along the forecast horizon.
  int64_t trend_half_life_ms = 0;
  // Default: 3. Half-width of the band in sigmas of the one-step residual.
  double band_sigmas = 3;
  // Default: 1m. How quickly the correction follows new deviations from
  // baseline+harmonics (0 = it takes the last deviation).
  int64_t residual_half_life_ms = 60'000;
  // Default: 30m. How quickly the correction fades along the horizon. Only
  // the starting value: Retrain() refits it.
  int64_t correction_half_life_ms = 30 * 60'000LL;
  // Default: 1h. Half-life of the residual scale behind the band.
  int64_t scale_half_life_ms = 3'600'000;

  // Sum of the orders: each harmonic costs a sin/cos pair of features, and
  // the state grows with the square of their number.
  static constexpr int64_t kMaxHarmonics = 12;

  absl::Status Validate() const;

  // Options from config args (see the fields), validated.
  static absl::StatusOr<FourierOptions> FromArgs(const ModelArgs& args);

  // Hash of every field: state written under other options is rejected.
  uint64_t Fingerprint() const;
};

// A factory of "fourier" forecasters; InvalidArgument if `options` does not
// validate.
absl::StatusOr<ModelFactory> MakeFourierFactory(const FourierOptions& options);

class Fourier final : public Forecaster {
 public:
  // `options` must have passed Validate().
  explicit Fourier(std::shared_ptr<const FourierOptions> options);

  Verdict Observe(int64_t t_ms, double value) override;
  Forecast Predict(int64_t t_ms) const override;
  // Refits how long the correction lasts along the horizon from the decayed
  // lag-one autocorrelation of the deviations from baseline+harmonics (an
  // AR(1) fit: white deviations carry no correction forward, a random walk
  // a long one). O(1): the moments are kept up to date by Observe().
  void Retrain() override;
  void SerializeTo(std::string* out) const override;
  absl::Status Restore(std::string_view state) override;

  // Bytes this instance holds (object plus coefficients and matrix),
  // excluding the shared options and allocator overhead.
  size_t MemoryBytes() const;

  // Number of regression features (twice the distinct harmonics).
  size_t Features() const { return theta_.size(); }

 private:
  static constexpr size_t kMaxFeatures = 2 * FourierOptions::kMaxHarmonics;
  using Vector = std::array<double, kMaxFeatures>;

  // The harmonics of one period, in the feature vector from `first` on.
  struct Group {
    int64_t period_ms = 0;
    uint16_t keep = 0;  // bit k-1 set: harmonic k is a feature here
    uint8_t order = 0;
    uint8_t end = 0;  // one past this group's last feature
  };
  // The forecast at t split into its terms, with the band's half-width.
  struct Parts {
    double base = 0;
    double seasonal = 0;
    double correction = 0;
    double half_width = 0;
    double yhat() const { return base + seasonal + correction; }
  };

  // Forgets everything and learns from (t_ms, value) as the first sample.
  void Start(int64_t t_ms, double value);
  // Also leaves the features at t in *x, for learning.
  Parts Decompose(int64_t t_ms, Vector* x) const;
  void FeaturesAt(int64_t t_ms, Vector* x) const;
  double Seasonal(const Vector& x) const;
  // One recursive least squares step on the first `active` features.
  void LearnHarmonics(const Vector& x, size_t active, double error, double forget);
  // Caps the matrix's diagonal at the prior variance (D P D keeps it
  // positive definite): directions no recent sample excited do not wind up.
  void CapCovariance();
  void ResetCovariance();
  size_t Packed(size_t i, size_t j) const;

  std::shared_ptr<const FourierOptions> options_;
  std::array<Group, 3> groups_{};
  uint8_t n_groups_ = 0;
  int8_t run_ = 0;  // consecutive samples beyond the clip, signed by side
  int64_t n_ = 0;   // samples learnt
  int64_t t_last_ms_ = 0;
  int64_t t_first_ms_ = 0;
  double level_ = 0;
  double trend_per_s_ = 0;
  double correction_ = 0;
  ResidualScales scales_;  // the baseline is level+harmonics
  double correction_half_life_s_ = 0;
  // Decayed moments of the scaled deviation u: E[u^2], E[u * previous u],
  // the previous u and the mean step, for Retrain()'s AR(1) fit.
  double u_var_ = 0;
  double u_lag_ = 0;
  double u_prev_ = 0;
  double step_s_ = 0;
  std::vector<double> theta_;
  std::vector<float> covariance_;  // upper triangle, row by row
};

}  // namespace kad::models
