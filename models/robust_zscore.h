// "robust_zscore": an online median/MAD band with exponential decay in time,
// the online robust z-score that vmanomaly's zscore/MAD users know.
//
// The forecast for any future time is the decayed running median, and the
// band is median +- band_sigmas * sigma. Median and MAD are tracked by
// stochastic quantile tracking, O(1) per sample:
//   median += clamp(value - median, -w * sigma, w * sigma)
//   log(MAD) += w * sign(|value - median| - MAD)
// where w = 1 - 2^(-dt / half_life) is the weight a sample gets after dt
// (at least 1/n over the first n samples, so early estimates converge like
// a running mean). A sample moves the median by at most w sigmas and the
// MAD by a factor e^w however far out it lies, so a spike hardly moves
// either (unlike a mean and a standard deviation). sigma is the larger of
// 1.4826 * MAD and 1.2533 * the decayed mean |deviation| (learnt clipped at
// 3 sigmas): both are sigma for normal noise, but the MAD is 0 whenever
// more than half the samples sit exactly on the median (small counts,
// quantised gauges), and the band must not collapse then. There is no
// seasonality and no trend.
//
// The first 32 samples use the exact median, MAD and mean |deviation| of
// everything seen. After that the last 32 samples stay in a window for:
//  - a level shift that becomes the new normal: when 12 samples in a row lie
//    beyond the band on the same side, the median jumps to theirs (and the
//    spread widens to theirs if larger), so an alarm lasts at most 12
//    samples;
//  - Retrain() (see there).
// sigma never falls below 1e-4 * |median| (a constant series still has a
// band). Values so large that the arithmetic overflows restart the model
// from the sample that overflowed. Irregular intervals and gaps only change
// each sample's weight; a sample after a gap weighs as if it came at most
// 5 minutes after the one before.
//
// State: median, MAD, mean |deviation| and the window of 32 (time, value)
// pairs, 574 bytes serialised. About 40 ns per Observe.
//
//   absl::StatusOr<RobustZScoreOptions> o = RobustZScoreOptions::FromArgs(args);
//   absl::StatusOr<ModelFactory> f = MakeRobustZScoreFactory(*o);
//   std::unique_ptr<Forecaster> m = f->New();
//
// Not thread-safe (see Forecaster); instances of one factory share their
// immutable options.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/forecaster.h"
#include "models/registry.h"

namespace kad::models {

inline constexpr std::string_view kRobustZScoreKind = "robust_zscore";

// Each field is also the model arg of the same name (durations without the
// _ms suffix, e.g. "half_life: 6h").
struct RobustZScoreOptions {
  // Default: 7d. Half-life of the median and spread: a sample's influence
  // halves every half_life. Long, because the level-shift rule and
  // Retrain() handle lasting changes; on NAB 7d scored best of 6h..30d.
  int64_t half_life_ms = 7 * 86'400'000LL;
  // Default: 3. Half-width of the band in MAD-based sigmas (1.4826 * MAD):
  // 99.7% of Gaussian samples fall inside.
  double band_sigmas = 3;

  absl::Status Validate() const;

  // Options from config args (see the fields), validated.
  static absl::StatusOr<RobustZScoreOptions> FromArgs(const ModelArgs& args);

  // Hash of every field: state written under other options is rejected.
  uint64_t Fingerprint() const;
};

// A factory of "robust_zscore" forecasters; InvalidArgument if `options`
// does not validate.
absl::StatusOr<ModelFactory> MakeRobustZScoreFactory(const RobustZScoreOptions& options);

class RobustZScore final : public Forecaster {
 public:
  // `options` must have passed Validate().
  explicit RobustZScore(std::shared_ptr<const RobustZScoreOptions> options);

  Verdict Observe(int64_t t_ms, double value) override;
  Forecast Predict(int64_t t_ms) const override;
  // Re-estimates median, MAD and mean |deviation| exactly from the window
  // of the last 32 samples and blends them into the tracked ones with the
  // weight those samples carry under the decay (1 - 2^(-window span /
  // half_life)). This removes the jitter of the stochastic tracker and,
  // after a slow drift, its lag. O(32).
  void Retrain() override;
  void SerializeTo(std::string* out) const override;
  absl::Status Restore(std::string_view state) override;
  void Prefetch(int step) const override {
    if (step == 0) PrefetchBytes(this, sizeof(*this));
  }

  // Bytes this instance holds, excluding the shared options.
  size_t MemoryBytes() const { return sizeof(*this); }

  static constexpr size_t kWindowSize = 32;

 private:
  struct Estimate {
    double median = 0;
    double mad = 0;
    double mean_abs = 0;  // mean |deviation from the median|
  };

  // Forgets everything and learns (t_ms, value) as the first sample.
  void Start(int64_t t_ms, double value);
  // Exact median, MAD and mean |deviation| of the newest `count` samples in the window.
  Estimate Exact(size_t count) const;
  double Sigma() const;
  double MadFloor() const;
  // The slot of the k-th newest sample in the window (0: the newest).
  size_t Newest(size_t k) const { return (window_next_ + kWindowSize - 1 - k) % kWindowSize; }
  // The time of each sample in the window, by slot (0 where unused).
  std::array<int64_t, kWindowSize> Times() const;
  // A gap longer than this (49.7 days) counts as this long.
  static constexpr int64_t kMaxGapMs = std::numeric_limits<uint32_t>::max();

  std::shared_ptr<const RobustZScoreOptions> options_;
  int64_t n_ = 0;  // samples learnt
  int64_t t_last_ms_ = 0;
  double median_ = 0;
  double mad_ = 0;
  double mean_abs_ = 0;  // decayed mean |deviation|, learnt clipped at 3 sigmas
  // Consecutive samples beyond the band, all on the side of shift_sign_.
  uint8_t shift_run_ = 0;
  int8_t shift_sign_ = 0;
  uint8_t window_size_ = 0;
  uint8_t window_next_ = 0;
  // The newest samples, in a ring: their values, and the time from the
  // sample before each to it (at most kMaxGapMs; the oldest's is unused).
  // Only Retrain needs a time (the oldest's), and 4 bytes a gap instead of
  // 8 a time hold 128 bytes less per series.
  std::array<double, kWindowSize> values_{};
  std::array<uint32_t, kWindowSize> gaps_ms_{};
};

}  // namespace kad::models
