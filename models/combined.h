// "combined": the default kind (what a config entry without `models:`
// runs). It asks five questions of every sample and alarms when any
// answer is "unusual":
//
//  - spatial novelty: is the value beyond the range of every value this
//    series has taken so far? The score rises with the excess over the
//    range, 1 + kExcessSlope * excess / range. A value that was ever seen is
//    never news again, so an incident alarms as it reaches new extremes,
//    not on every sample of it.
//  - time-of-day novelty: is it beyond the range of the values seen at this
//    time of day (HourlyRange: within 2 h of this hour, UTC, once 4 days
//    are seen) by more than kHourlyMargin of the whole range? The score is
//    that excess over kHourlyMargin of the range. A night value at the
//    day's level, a weekday at the weekend's low, a daily cycle that stops.
//  - level novelty: the robust_zscore model (decayed median and MAD) in its
//    calibrated Detector (detection.h), its score weighted by kLevelWeight,
//    i.e. its band widened by 1 / kLevelWeight: a value inside the old range
//    but far from where the series has been lately. It knows no time of
//    day, so it is silent at a wild hour (kWildHourRatio: one whose values
//    usually stray from their mean several times as far as the average
//    hour's, like the hour of a daily job's spike), which the other parts
//    watch alone.
//  - drift from the daily profile: has the series been away from what
//    this hour of the day usually sees (HourlyProfile: its mean, in its
//    mean deviation) for a while, further than it usually drifts? The
//    residuals from the hour's mean, clipped, are averaged over about
//    kDriftHalfLife samples; the score is that drift over kDriftRatio times
//    its own typical size. A daily cycle that stops or shrinks, a morning
//    at the night's level: values each hour has seen, on a day it does not.
//  - departure from the daily profile: have the last samples been, on
//    average, more than kDepartureAlarm of their hours' mean deviations
//    away from those hours' means? The drift's residuals, clipped wider
//    (kDepartureClip), averaged over about kDepartureHalfLife samples. It
//    alarms once per episode: then it is silent until the departure is
//    back within kDepartureRearm of its alarm level. The drift's yardstick
//    is its own typical size; on a series whose residuals wander for hours
//    (a temperature, a queue, a busy news day) that is so large that the
//    drift's alarm level lies beyond its clip, and no drift can alarm.
//    This one counts deviations: a failure that holds a machine's
//    temperature far below its usual hours, a holiday's taxi rides, a
//    burst of tweets that lasts an afternoon.
//
// yhat is the level part's median, clamped into the range seen at this time of
// day (so the forecast follows a daily cycle). The published band is the
// intersection of the five bands (the range; the time-of-day range widened by
// its margin; the level part's widened band, moved with yhat, but not at a wild
// hour; the values that would take the drift, or the departure while it may
// alarm, to its alarm level), widened to min_dev_from_expected; the anomaly
// score is the largest of the five scores, clamped to the right side of 1, so
// it is above 1 exactly when the value is outside the published band. After an
// alarm scoring above kQuietAfterScore the band is kQuietWidening times as wide
// for kQuietSamples samples (the quiet period), so one incident is one alarm,
// not a burst. On the side detection_direction does not watch the score is 0.
// No anomaly (and the score capped at 1) before min_n_samples_seen samples.
//
// Why these parts: on NAB (bench/nab, one parameter set for every file) spatial
// novelty alone scored 57.0 on the standard profile and robust_zscore alone
// 49.8; together 61.3, with the 30-day half-life and these weights 63.4, with
// the quiet period 65.3, with time-of-day novelty 67.4 (hourly bins and +-2 h
// beat half-hour and 2-hour bins and +-0, 1, 3 bins; gating it on a detected
// season, or letting it silence the level part, lowered the score), with the
// drift from the daily profile 69.7 (reward_low_FP 61.0, reward_low_FN 74.6:
// three more windows, no more false positives; hour-of-week bins, or scoring
// each value's own residual from the profile instead of the drift, lowered it),
// with the departure from the daily profile 74.3 and the level weight 0.55 then
// 75.2 (reward_low_FP 65.6, reward_low_FN 80.5: seven more windows, among them
// a machine temperature's long drop, two of the taxi holidays and a tweet
// burst, none lost, for three more false-positive rows), with the level part
// silent at wild hours 75.7 (reward_low_FP 66.8, reward_low_FN 80.8: 16 fewer
// false-positive rows, 15 of them two CPU series' daily spikes in files without
// anomalies, for one detection later in its window). The drift was blind on 44
// of the 58 files: its alarm level there was above its clip. Without the
// once-per-episode rule the departure lowered the score (64 to 67); the
// departure instead of the drift (-1.5), the drift silent once per episode, its
// alarm level capped below its clip, or a wider or scale-relative clip for it
// (59 to 71, erratic) did not help, nor did a second, slower departure (+0.4 at
// best). Also tried and dropped, each worse or better only at an isolated
// setting (+1.3 at most, and worse next to it): a per-series bar on the level
// part (or on every part) set by its own alarm rate, damping the level part
// after a spike as large as a recent one or inside a decayed recent range, a
// spread part (the recent mean |step| against the long-run one, up or down),
// CUSUM of the level part's signed score, novelty of the smoothed value against
// its own range or of the step against the largest step seen, a quiet period
// started by creeping new extremes, quiet periods confined to the part that
// started them, a 2, 3 or 6 day warm-up of the time-of-day ranges, and the
// detector's prior mass 10 or 200. Adding holt_winters, fourier, knn, a
// one-step-change band, a recent-median shift test, a novelty score of the
// recent deltas' pattern, or damping the level part after frequent alarms to
// the max lowered it. For reward_low_FP (65.6 before the wild hours), neither
// starting the quiet period at 1.0 to 1.5 (64.3 to 66.3, erratic: 66.3 at 1.1,
// 65.1 at 1.15) nor making it 40 to 150 samples long (64.3 to 65.8) held; the
// level part silent inside the time-of-day range (67.2, but five windows lost:
// standard 73.6), inside its own hour's or +-1 h (66.7, 67.9; two or three
// lost), or damped there by half (lower on all three profiles) did not help.
//
// A level shift alarms at its onset and is the new normal once the level
// part has re-seeded (12 samples beyond its band); the time-of-day part may
// alarm again as the shifted values first reach each time of day, during
// the first day of the shift. Irregular intervals and gaps: the level part
// weighs samples by time (see robust_zscore.h); the range, the quiet
// period, the drift and the departure count samples; the time-of-day ranges
// and profile go by timestamp. Predict() gives the band of a sample at that
// time. A constant series keeps a band of about 1e-4 of its level. Values
// so large that the arithmetic overflows restart the level part (see
// robust_zscore.h); the range arithmetic halves before subtracting, so it
// stays finite; the profile clamps its values, the drift and departure
// their residuals.
//
// State: the level part's Detector and robust_zscore state, the hourly
// ranges and profile and nine scalars, 1357 bytes serialised; about
// 0.23 us per Observe (model_bench). Restore() also takes format version 2
// (the release before the daily profile): the profile, drift and departure
// then start empty, so an upgrade keeps the models.
//
//   absl::StatusOr<ModelFactory> f = MakeModelFactory("combined", args);
//   std::unique_ptr<Forecaster> m = f->New();
//
// Not thread-safe (see Forecaster); instances of one factory share their
// immutable options.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/detection.h"
#include "models/forecaster.h"
#include "models/hourly_profile.h"
#include "models/hourly_range.h"
#include "models/registry.h"
#include "models/robust_zscore.h"

namespace kad::models {

inline constexpr std::string_view kCombinedKind = "combined";

// Each field is also the model arg of the same name (durations without the
// _ms suffix, e.g. "half_life: 6h").
struct CombinedOptions {
  // Default: 30d. Half-life of the level part's median and spread (on NAB
  // 30d beat 1d, 7d, 90d and 365d).
  int64_t half_life_ms = 30 * 86'400'000LL;
  // Default: 3. Half-width of the level part's raw band in its sigmas,
  // before the Detector's calibration.
  double band_sigmas = 3;

  absl::Status Validate() const;

  // Options from config args (see the fields), validated.
  static absl::StatusOr<CombinedOptions> FromArgs(const ModelArgs& args);

  // Hash of every field: state written under other options is rejected.
  uint64_t Fingerprint() const;
};

// A factory of "combined" forecasters with the detection args `detection`
// (which the kind applies itself, so the registry does not wrap it in
// another Detector); InvalidArgument if `options` does not validate.
absl::StatusOr<ModelFactory> MakeCombinedFactory(const CombinedOptions& options,
                                                 std::shared_ptr<const DetectionOptions> detection);

class Combined final : public Forecaster {
 public:
  // `options` and `detection` must have passed Validate(); `level` is
  // LevelOptions(*options), made once by the factory and shared by its
  // models rather than copied into each.
  Combined(std::shared_ptr<const CombinedOptions> options,
           std::shared_ptr<const RobustZScoreOptions> level,
           std::shared_ptr<const DetectionOptions> detection);
  // The options of the level part, a robust_zscore, under `options`.
  static std::shared_ptr<const RobustZScoreOptions> LevelOptions(const CombinedOptions& options);

  Verdict Observe(int64_t t_ms, double value) override;
  Forecast Predict(int64_t t_ms) const override;
  // Retrains the level part (robust_zscore's Retrain()).
  void Retrain() override;
  void SerializeTo(std::string* out) const override;
  absl::Status Restore(std::string_view state) override;
  void Prefetch(int step) const override;

  // The level part's score is weighted by this before the parts are
  // compared (NAB: 0.6 beat 0.7 and 0.8, and 0.55; with the departure,
  // 0.55 (0.54 to 0.57 the same) beat 0.6, 0.51 and 0.48).
  static constexpr double kLevelWeight = 0.55;
  // Score per unit of excess over the range, relative to the range (NAB: 3
  // beat 0.3, 1, 10 and 30).
  static constexpr double kExcessSlope = 3;
  // An alarm scoring above kQuietAfterScore starts a quiet period: the band
  // is kQuietWidening times as wide (and the score that much lower) for the
  // next kQuietSamples samples, so one incident is one alarm, not a burst
  // (NAB: 60 samples beat 40 and 100).
  static constexpr double kQuietAfterScore = 1.2;
  static constexpr int64_t kQuietSamples = 60;
  static constexpr double kQuietWidening = 4;
  // A value beyond the range seen at its time of day (HourlyRange::Around)
  // by more than this fraction of the whole range scores above 1, in
  // proportion to that excess (NAB: 0.3 beat 0.1, 0.2, 0.25, 0.35, 0.4, 0.5).
  static constexpr double kHourlyMargin = 0.3;
  // Drift from the daily profile: each value's residual from its hour's
  // mean, in that hour's mean deviation (at least kProfileFloor of the
  // whole range) and clipped at kDriftClip, is averaged with a half-life of
  // kDriftHalfLife samples; the drift scores above 1 when it is
  // kDriftRatio times its own typical size (the mean |drift| over about
  // kDriftScaleHalfLife samples, learnt clipped at the alarm level), once
  // kDriftWarmUp drifts have been learnt, which starts with the time-of-day
  // ranges. NAB: ratio 7.5 (6.7 and 8.3 the same) beat 5, 6 and 10;
  // half-life 12 beat 6 and 24; clip 2 (1.5 the same) beat 3; warm-up 300
  // (500 and 1000 the same) beat 100 and 150; floor 0.01 (0.005 the same)
  // beat 0.025; the scale's half-life (500 to 5000) made no difference.
  static constexpr double kDriftHalfLife = 12;
  static constexpr double kDriftClip = 2;
  static constexpr double kDriftRatio = 7.5;
  static constexpr double kDriftScaleHalfLife = 2000;
  static constexpr int64_t kDriftWarmUp = 300;
  static constexpr double kProfileFloor = 0.01;
  // Departure from the daily profile: the residuals as for the drift, but
  // clipped at kDepartureClip, averaged with a half-life of
  // kDepartureHalfLife samples; it scores above 1 beyond kDepartureAlarm
  // deviations, once the drift has warmed up, and after that not again
  // until it is back within kDepartureRearm of that (one episode, one
  // alarm). NAB (standard): half-life 10 (8 and 12: 73.9, 74.2) beat 6
  // (72.7); clip 6 (5 and 8: 74.5, 74.4) beat 4 (73.2) and none (72.0);
  // alarm 2.5 (2.25 and 2.75: 73.7, 73.3) beat 2 and 3 (72.0, 72.4); all
  // 27 of those combinations scored 71.9 to 75.2. Re-arming at 0.25 or 0.75
  // scored the same; never re-arming 70.2.
  static constexpr double kDepartureHalfLife = 10;
  static constexpr double kDepartureClip = 6;
  static constexpr double kDepartureAlarm = 2.5;
  static constexpr double kDepartureRearm = 0.5;
  // A wild hour: one whose profile deviation is more than kWildHourRatio
  // times the mean of the hours' deviations (HourlyProfile::MeanDeviation),
  // such as the hour of a daily backup's spike. There the level part, which
  // knows no time of day, would alarm on every day's spike; it is silent,
  // and the other parts (the range, the time-of-day range, the drift and
  // the departure) watch that hour alone. NAB (standard / reward_low_FP /
  // reward_low_FN): 4 (3.25 to 5 the same, 75.66 / 66.81 / 80.84) beat 5.5
  // (75.52 / 66.53 / 80.75), 6 (75.33 / 66.15 / 80.62), 8 (74.93: the
  // daily spikes' hours no longer wild, only a rare spike series' first
  // alarm later, as at every ratio) and 3 or less (74.86 / 66.01 / 80.02:
  // a travel time's rush-hour alarm lost too). Widening the level part's
  // band there by a power of the hour's excess over the ratio instead
  // scored no higher.
  static constexpr double kWildHourRatio = 4;

 private:
  // What is known of t's time of day, once warmed up: the range seen
  // around it (see HourlyRange) and, once the range is there, its hour's
  // profile and whether the hour is wild (see kWildHourRatio).
  struct TimeOfDay {
    std::optional<HourlyRange::Range> range;
    std::optional<HourlyProfile::Hour> profile;
    bool wild_hour = false;
  };
  TimeOfDay At(int64_t t_ms) const;
  // The published forecast around the level part's published `level`,
  // with `day` the At() of its time.
  Forecast Publish(const TimeOfDay& day, const Forecast& level) const;
  // Half the range of every value seen, at least half ScaleFloor(yhat);
  // halved so that it stays finite whatever the values.
  double HalfRange(double yhat) const;
  // The residual of `value` from the profile `hour`, in ProfileDeviation()
  // (unclipped: each average clips it its own way).
  double Residual(const HourlyProfile::Hour& hour, double value, double yhat) const;
  // The hour's deviation, at least kProfileFloor of the whole range for a
  // forecast of `yhat`.
  double ProfileDeviation(const HourlyProfile::Hour& hour, double yhat) const;
  // The drift and the departure once `residual` is learnt.
  double DriftAfter(double residual) const;
  double DepartureAfter(double residual) const;
  // Whether the drift scores: warmed up, and not every residual was 0 (a
  // series exactly on its profile has no scale to compare with).
  bool DriftReady() const { return drift_n_ >= kDriftWarmUp && drift_scale_ > 0; }
  // Whether the departure scores: warmed up as the drift, and not silenced
  // by an alarm of this episode.
  bool DepartureLive() const { return drift_n_ >= kDriftWarmUp && departure_armed_; }

  std::shared_ptr<const CombinedOptions> options_;
  std::shared_ptr<const DetectionOptions> detection_;
  Detector level_;
  int64_t n_ = 0;  // samples seen
  // The range of every value seen.
  double lowest_ = 0;
  double highest_ = 0;
  // Samples left in the quiet period after an alarm (see kQuietSamples).
  int64_t quiet_left_ = 0;
  // The range of the values seen at each hour of the day.
  HourlyRange hours_;
  // The mean and deviation of the values at each hour of the day.
  HourlyProfile profile_;
  // The drift from the profile (see kDriftHalfLife), its typical size and
  // how many drifts were learnt.
  double drift_ = 0;
  double drift_scale_ = 0;
  int64_t drift_n_ = 0;
  // The departure from the profile (see kDepartureHalfLife), and whether
  // it may alarm: false from an alarm until it is back near the profile.
  double departure_ = 0;
  bool departure_armed_ = true;
};

}  // namespace kad::models
