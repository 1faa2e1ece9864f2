// Arithmetic every model kind shares: time in seconds, the weight of a new
// observation under exponential forgetting in time, floor division of
// timestamps and the hour of the day, and the constants and floor of a
// residual band.
//
//   const double w = Weight(std::min(Seconds(dt_ms), kMaxLearnStepS), half_life_s);
//   mean += w * (std::min(std::abs(error), kClipSigmas * sigma) - mean);
//   const double sigma = std::max(kMeanAbsToSigma * mean, ScaleFloor(level));
//
// Pure functions; thread-safe.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>

namespace kad::models {

// sigma of a normal residual per unit of mean |residual|: sqrt(pi / 2).
inline constexpr double kMeanAbsToSigma = 1.2533141373155003;
// Residuals are learnt (and fed to the scales) clipped at this many sigmas:
// a spike moves the state no more than a 3-sigma sample would.
inline constexpr double kClipSigmas = 3;
// A sample after a gap is learnt as if it came this long after the previous
// one: a gap says nothing about how much to trust the sample after it.
inline constexpr double kMaxLearnStepS = 300;

inline double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000; }

// Weight of a new observation after dt under exponential forgetting with
// `half_life` (same unit); 1 when the half-life is 0.
inline double Weight(double dt, double half_life) {
  if (half_life <= 0) return 1;
  return -std::expm1(-dt * std::numbers::ln2 / half_life);
}

// Floor division, so negative timestamps still land in the right period.
inline int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// a mod b in [0, b) for b > 0: the phase of a negative timestamp too.
inline int64_t FloorMod(int64_t a, int64_t b) {
  const int64_t r = a % b;
  return r < 0 ? r + b : r;
}

// The hour of the UTC day of t_ms, 0..23, for timestamps before 1970 too.
inline int HourOfDay(int64_t t_ms) {
  constexpr int64_t kHourMs = 3'600'000;
  return static_cast<int>(FloorMod(FloorDiv(t_ms, kHourMs), 24));
}

inline bool Finite(double v) { return std::isfinite(v); }

// The least scale of a band around `level`: a constant series still gets a
// band, 1e-4 of its level, plus an absolute epsilon for a series at zero.
inline double ScaleFloor(double level) {
  constexpr double kRelativeScaleFloor = 1e-4;
  constexpr double kAbsoluteScaleFloor = 1e-9;
  return kRelativeScaleFloor * std::abs(level) + kAbsoluteScaleFloor;
}

// The spreads behind the band of a forecast made of a baseline (level and
// seasonal terms) plus a short-term correction that fades along the
// horizon: next to the sample, the error is the one-step residual; far
// ahead, where the correction is gone, the deviation from the baseline.
struct ResidualScales {
  double one_step = 0;  // mean |one-step residual|
  double baseline = 0;  // mean |deviation from the baseline|

  // The mean |residual| where the correction has faded to `fade` (1 at the
  // next sample, 0 far ahead): from one_step it widens towards baseline,
  // never narrows, and is at least `floor`.
  double At(double fade, double floor) const {
    return std::max(fade * one_step + (1 - fade) * std::max(one_step, baseline), floor);
  }

  // Learns one sample's error and deviation from the baseline with weight
  // `w`; once warmed up, each is capped at kClipSigmas sigmas of its scale
  // (at least `floor`), so a spike does not widen the band.
  void Learn(double w, double error, double deviation, double floor, bool warmed_up) {
    const double inf = std::numeric_limits<double>::infinity();
    const double one_step_cap =
        warmed_up ? kClipSigmas * kMeanAbsToSigma * std::max(one_step, floor) : inf;
    const double baseline_cap =
        warmed_up ? kClipSigmas * kMeanAbsToSigma * std::max(baseline, floor) : inf;
    one_step += w * (std::min(std::abs(error), one_step_cap) - one_step);
    baseline += w * (std::min(std::abs(deviation), baseline_cap) - baseline);
  }
};

}  // namespace kad::models
