// "holt_winters": additive seasonal forecaster with a damped trend, a
// short-term residual correction and a robust residual band.
//
// The forecast for time t is
//   yhat(t) = level + damped trend                (slow baseline)
//           + season(t)                           (profile over one season)
//           + correction * 2^(-h / correction_half_life)
// where h is the time since the last sample. The baseline moves slowly so
// the seasonal profile, not the level, learns the daily shape; the
// correction tracks how far the series currently sits off baseline+season,
// which keeps one-step forecasts sharp, and fades with the horizon so
// forecasts an hour ahead follow the learned shape. Every smoothing rate is
// a half-life in time (or in seasons), so the model behaves the same at
// 15 s and 60 s scrape intervals, and a gap of hours neither blows up the
// trend nor leaves a stale correction.
//
// The band is yhat +- band_sigmas * sigma, with sigma from an exponentially
// weighted mean of |residual| whose input is clipped, so spikes do not
// widen it; it never narrows below 1e-4 * |level| (a constant series still
// has a band), and widens with the horizon as the correction fades. After
// warm-up a sample is learnt only up to 3 sigmas from the forecast (a Huber
// step), so spikes do not corrupt level, season or correction either.
//
// The first sample's verdict is the sample itself with a zero-width band
// and score 0 (nothing was forecast before it); Predict() before any sample
// is all zeros. Values so large that the arithmetic overflows restart the
// model from the sample that overflowed.
//
// State: 288 floats of seasonal profile (5-minute buckets over 1d), a few
// scalars and a window of 32 recent residuals, about 1.5 KiB serialised.
//
//   absl::StatusOr<HoltWintersOptions> o = HoltWintersOptions::FromArgs(args);
//   absl::StatusOr<ModelFactory> f = MakeHoltWintersFactory(*o);
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
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/forecaster.h"
#include "models/registry.h"
#include "models/season_history.h"
#include "models/smoothing.h"

namespace kad::models {

inline constexpr std::string_view kHoltWintersKind = "holt_winters";
// HoltWintersOptions::season_ms for "season: auto".
inline constexpr int64_t kSeasonAuto = -1;

// Each field is also the model arg of the same name (durations without the
// _ms suffix, e.g. "level_half_life: 1d").
struct HoltWintersOptions {
  // Default: auto (kSeasonAuto): Retrain() finds the cycle (1d, 1w or
  // none) in the series' recent history, at most every 6h of data; until
  // then the model is not seasonal. A duration fixes the cycle; 0 (arg
  // "none") disables it.
  int64_t season_ms = kSeasonAuto;
  // Default: 288, 5-minute buckets over 1d. Resolution of the seasonal
  // profile; its memory cost is 4 bytes per bucket per series.
  int64_t season_buckets = 288;
  // Default: 3. Half-width of the band in sigmas of the one-step residual.
  double band_sigmas = 3;
  // Default: 1d. Half-life of the baseline level. Slower than the season's
  // features so the level does not absorb them.
  int64_t level_half_life_ms = 86'400'000;
  // Default: 6h. Half-life of the trend estimate (slope of the level).
  int64_t trend_half_life_ms = 6 * 3'600'000LL;
  // Default: 6h. The trend fades with this half-life along the forecast
  // horizon (and between samples), so however far ahead, it adds at most
  // trend * 8.7h: a gap or a far forecast never extrapolates it wildly.
  int64_t trend_damping_ms = 6 * 3'600'000LL;
  // Default: 2. Half-life of the seasonal profile, in seasons: each
  // season's pass closes 1 - 2^(-1/2) = 29% of the gap to what it sees
  // (more during the first seasons, which learn like a running mean).
  double season_half_life = 2;
  // Default: 1m. How quickly the correction follows new deviations from
  // baseline+season (0 = it takes the last deviation). Only the starting
  // value: Retrain() refits it.
  int64_t residual_half_life_ms = 60'000;
  // Default: 30m. How quickly the correction fades along the forecast
  // horizon: forecasts further ahead fall back to baseline+season.
  int64_t correction_half_life_ms = 30 * 60'000LL;
  // Default: 1h. Half-life of the residual scale behind the band.
  int64_t scale_half_life_ms = 3'600'000;

  absl::Status Validate() const;

  // Options from config args (see the fields), validated.
  static absl::StatusOr<HoltWintersOptions> FromArgs(const ModelArgs& args);

  // Hash of every field: state written under other options is rejected.
  uint64_t Fingerprint() const;
};

// A factory of "holt_winters" forecasters; InvalidArgument if `options`
// does not validate.
absl::StatusOr<ModelFactory> MakeHoltWintersFactory(const HoltWintersOptions& options);

class HoltWinters final : public Forecaster {
 public:
  // `options` must have passed Validate().
  explicit HoltWinters(std::shared_ptr<const HoltWintersOptions> options);

  Verdict Observe(int64_t t_ms, double value) override;
  Forecast Predict(int64_t t_ms) const override;
  // Re-centres the seasonal profile (its mean moves into the level), then
  // refits the correction's half-life: replays the kept window of the last
  // 32 deviations from baseline+season under a few candidate half-lives
  // (0 s to 10 min) and, if the best beats the current one's mean |one-step
  // error| by 2%, switches to it and recomputes the correction under it.
  // O(season_buckets + 8 * 32).
  void Retrain() override;
  void SerializeTo(std::string* out) const override;
  absl::Status Restore(std::string_view state) override;

  // Bytes this instance holds (object plus profile), excluding the shared
  // options and allocator overhead.
  size_t MemoryBytes() const;

  static constexpr size_t kWindowSize = 32;

 private:
  // The forecast at t split into its terms, with the band's half-width.
  struct Parts {
    double base = 0;
    double seasonal = 0;
    double correction = 0;
    double half_width = 0;
    double yhat() const { return base + seasonal + correction; }
  };
  // Where t falls in the profile: between buckets lo and hi (adjacent,
  // cyclic), with hi weighted hi_weight.
  struct SeasonPoint {
    size_t lo = 0;
    size_t hi = 0;
    double hi_weight = 0;
  };
  // One sample's deviation from baseline+season (clipped like the sample
  // was learnt) and the seconds since the sample before it.
  struct Recent {
    float dt_s = 0;
    float deviation = 0;
  };
  struct Replay {
    double mean_abs_error = 0;
    double correction = 0;
  };

  // Forgets everything and learns from (t_ms, value) as the first sample.
  void Start(int64_t t_ms, double value);
  Parts Decompose(int64_t t_ms) const;
  SeasonPoint LocateInSeason(int64_t t_ms) const;
  double SeasonalAt(const SeasonPoint& p) const;
  // season: auto: re-detects the cycle from history_ and switches to it.
  void DetectSeason();
  // Whether a restored state's season fits the options.
  bool SeasonAllowed(int64_t season_ms) const;
  void Recentre();
  // The correction filter with `half_life_s` run over the window.
  Replay ReplayWindow(double half_life_s) const;

  std::shared_ptr<const HoltWintersOptions> options_;
  int64_t n_ = 0;  // samples learnt
  int64_t t_last_ms_ = 0;
  int64_t t_first_ms_ = 0;  // when learning began, for the bootstrap
  double level_ = 0;
  double trend_per_s_ = 0;
  double correction_ = 0;
  ResidualScales scales_;  // the baseline is level+season
  double residual_half_life_s_ = 0;
  int64_t season_ms_ = 0;  // the cycle in use; 0 = none (yet)
  int64_t last_detection_ms_ = std::numeric_limits<int64_t>::min() / 2;
  SeasonHistory history_;      // used only with season: auto
  std::vector<float> season_;  // deviation from the level per bucket
  std::array<Recent, kWindowSize> window_{};
  uint8_t window_size_ = 0;
  uint8_t window_next_ = 0;
};

}  // namespace kad::models
