#include "models/combined.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "models/model_args.h"
#include "models/smoothing.h"
#include "models/state_codec.h"

namespace kad::models {
namespace {

// 2: the hourly range; 3: the hourly profile and drift; 4: the departure
constexpr uint8_t kFormatVersion = 4;
constexpr uint8_t kVersionBeforeProfile = 2;
constexpr uint8_t kKindTag = 5;  // combined, in every state's header
// Scores are capped so a zero-width band never publishes infinity.
constexpr double kMaxScore = 1e9;
// The weights of a new drift and of its size under the half-lives.
const double kDriftStep = Weight(1, Combined::kDriftHalfLife);
const double kDriftScaleStep = Weight(1, Combined::kDriftScaleHalfLife);
const double kDepartureStep = Weight(1, Combined::kDepartureHalfLife);

// Narrows [*lower, *upper] to the values whose residual (from `hour`, in
// `deviation`s) keeps a running mean `mean`, moved by `step` towards each
// residual clipped at `clip`, within +-`alarm`: mean + step * (residual -
// mean) = +-alarm. On a side where even a clipped residual stays within,
// no value reaches the alarm, and that side is left as it is.
void NarrowToAlarm(double mean, double step, double alarm, double clip,
                   const HourlyProfile::Hour& hour, double deviation, double* lower,
                   double* upper) {
  const double up = mean + (alarm - mean) / step;
  const double down = mean - (alarm + mean) / step;
  if (up < clip) *upper = std::min(*upper, hour.mean + up * deviation);
  if (down > -clip) *lower = std::max(*lower, hour.mean + down * deviation);
}

StateHeader Header(const CombinedOptions& o, const DetectionOptions& d) {
  // The detection args are part of the fingerprint: the level part's
  // Detector checks them again, but the range's warm-up depends on them.
  const uint64_t fingerprint = OptionsFingerprint([&](StateWriter& w) {
    w.U64(o.Fingerprint());
    w.U64(d.Fingerprint());
  });
  return {kCombinedKind, kFormatVersion, kKindTag, fingerprint};
}

}  // namespace

std::shared_ptr<const RobustZScoreOptions> Combined::LevelOptions(const CombinedOptions& options) {
  RobustZScoreOptions level;
  level.half_life_ms = options.half_life_ms;
  level.band_sigmas = options.band_sigmas;
  return std::make_shared<const RobustZScoreOptions>(level);
}

absl::Status CombinedOptions::Validate() const {
  if (half_life_ms <= 0) return OptionsError(kCombinedKind, "half_life must be positive");
  return ValidateBandSigmas(kCombinedKind, band_sigmas);
}

absl::StatusOr<CombinedOptions> CombinedOptions::FromArgs(const ModelArgs& args) {
  CombinedOptions o;
  ModelArgReader r(kCombinedKind, args);
  r.Duration("half_life", &o.half_life_ms);
  r.Double("band_sigmas", &o.band_sigmas);
  return r.Finish(o);
}

uint64_t CombinedOptions::Fingerprint() const {
  return OptionsFingerprint([this](StateWriter& w) {
    w.I64(half_life_ms);
    w.F64(band_sigmas);
  });
}

absl::StatusOr<ModelFactory> MakeCombinedFactory(
    const CombinedOptions& options, std::shared_ptr<const DetectionOptions> detection) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  if (absl::Status s = detection->Validate(); !s.ok()) return s;
  auto shared = std::make_shared<const CombinedOptions>(options);
  return ModelFactory{std::string(kCombinedKind),
                      [shared, level = Combined::LevelOptions(options),
                       detection = std::move(detection)]() -> std::unique_ptr<Forecaster> {
                        return std::make_unique<Combined>(shared, level, detection);
                      }};
}

Combined::Combined(std::shared_ptr<const CombinedOptions> options,
                   std::shared_ptr<const RobustZScoreOptions> level,
                   std::shared_ptr<const DetectionOptions> detection)
    : options_(std::move(options)),
      detection_(std::move(detection)),
      level_(detection_, std::make_unique<RobustZScore>(std::move(level))) {}

void Combined::Prefetch(int step) const {
  // The level part's own bytes are part of this object's.
  if (step == 0) {
    PrefetchBytes(this, sizeof(*this));
  } else {
    level_.Prefetch(step);
  }
}

double Combined::HalfRange(double yhat) const {
  return std::max(highest_ / 2 - lowest_ / 2, ScaleFloor(yhat) / 2);
}

Combined::TimeOfDay Combined::At(int64_t t_ms) const {
  TimeOfDay day;
  if (n_ < detection_->min_n_samples_seen) return day;
  day.range = hours_.Around(t_ms);
  if (!day.range.has_value()) return day;
  day.profile = profile_.At(t_ms);
  day.wild_hour =
      day.profile.has_value() && day.profile->deviation > kWildHourRatio * profile_.MeanDeviation();
  return day;
}

double Combined::Residual(const HourlyProfile::Hour& hour, double value, double yhat) const {
  return (value - hour.mean) / ProfileDeviation(hour, yhat);
}

double Combined::ProfileDeviation(const HourlyProfile::Hour& hour, double yhat) const {
  return std::max(hour.deviation, 2 * kProfileFloor * HalfRange(yhat));
}

double Combined::DriftAfter(double residual) const {
  // Clamped against rounding too, so a drift never leaves [-kDriftClip, kDriftClip].
  const double clipped = std::clamp(residual, -kDriftClip, kDriftClip);
  return std::clamp(drift_ + kDriftStep * (clipped - drift_), -kDriftClip, kDriftClip);
}

double Combined::DepartureAfter(double residual) const {
  const double clipped = std::clamp(residual, -kDepartureClip, kDepartureClip);
  return std::clamp(departure_ + kDepartureStep * (clipped - departure_), -kDepartureClip,
                    kDepartureClip);
}

Forecast Combined::Publish(const TimeOfDay& day, const Forecast& level) const {
  const std::optional<HourlyRange::Range>& hour = day.range;
  const bool warmed_up = n_ >= detection_->min_n_samples_seen;
  // The level as far as the values seen at this time of day allow, the
  // level part's band (widened) around it.
  const double yhat =
      hour.has_value() ? std::clamp(level.yhat, hour->lowest, hour->highest) : level.yhat;
  const double floor = ScaleFloor(yhat);
  // At a wild hour the level part is silent; the range and the time-of-day
  // range (both known there) bound the band instead.
  double lower = -std::numeric_limits<double>::infinity();
  double upper = std::numeric_limits<double>::infinity();
  if (!day.wild_hour) {
    lower = yhat - (level.yhat - level.yhat_lower) / kLevelWeight;
    upper = yhat + (level.yhat_upper - level.yhat) / kLevelWeight;
  }
  if (warmed_up) {
    lower = std::max(lower, lowest_ - floor);
    upper = std::min(upper, highest_ + floor);
  }
  if (hour.has_value()) {
    const double margin = 2 * kHourlyMargin * HalfRange(yhat);
    lower = std::max(lower, hour->lowest - margin);
    upper = std::min(upper, hour->highest + margin);
  }
  if (day.profile.has_value()) {
    const double deviation = ProfileDeviation(*day.profile, yhat);
    if (DriftReady()) {
      NarrowToAlarm(drift_, kDriftStep, kDriftRatio * drift_scale_, kDriftClip, *day.profile,
                    deviation, &lower, &upper);
    }
    if (DepartureLive()) {
      NarrowToAlarm(departure_, kDepartureStep, kDepartureAlarm, kDepartureClip, *day.profile,
                    deviation, &lower, &upper);
    }
  }
  if (quiet_left_ > 0) {
    lower = yhat - kQuietWidening * (yhat - lower);
    upper = yhat + kQuietWidening * (upper - yhat);
  }
  const double min_dev =
      std::max({detection_->min_dev_abs, detection_->min_dev_relative * std::abs(yhat), floor});
  return Forecast{yhat, std::min(lower, yhat - min_dev), std::max(upper, yhat + min_dev)};
}

Forecast Combined::Predict(int64_t t_ms) const { return Publish(At(t_ms), level_.Predict(t_ms)); }

Verdict Combined::Observe(int64_t t_ms, double value) {
  const Verdict level = level_.Observe(t_ms, value);
  Verdict v;
  const TimeOfDay day = At(t_ms);
  const std::optional<HourlyRange::Range>& hour = day.range;
  v.forecast = Publish(day, level.forecast);
  const Forecast& f = v.forecast;
  // The drift and departure once this value is learnt, where there is a
  // profile to drift from.
  std::optional<double> drift;
  std::optional<double> departure;
  if (day.profile.has_value() && !std::isnan(value)) {
    const double residual = Residual(*day.profile, value, f.yhat);
    drift = DriftAfter(residual);
    departure = DepartureAfter(residual);
  }
  const double error = value - f.yhat;
  const bool above = error > 0;
  const bool watched =
      !(above && detection_->direction == DetectionOptions::Direction::kBelowExpected) &&
      !(!above && detection_->direction == DetectionOptions::Direction::kAboveExpected);
  const bool warmed_up = n_ >= detection_->min_n_samples_seen;
  if (watched && error != 0) {
    double score = day.wild_hour ? 0 : level.anomaly_score * kLevelWeight;
    if (warmed_up) {
      // Halved before subtracting, so huge values do not overflow.
      const double range = HalfRange(f.yhat);
      const double excess = above ? value / 2 - highest_ / 2 : lowest_ / 2 - value / 2;
      if (excess > 0) score = std::max(score, 1 + kExcessSlope * excess / range);
      if (hour.has_value()) {
        const double hour_excess =
            above ? value / 2 - hour->highest / 2 : hour->lowest / 2 - value / 2;
        score = std::max(score, hour_excess / (kHourlyMargin * range));
      }
      if (drift.has_value() && DriftReady()) {
        score = std::max(score, (above ? *drift : -*drift) / (kDriftRatio * drift_scale_));
      }
      if (departure.has_value() && DepartureLive()) {
        score = std::max(score, (above ? *departure : -*departure) / kDepartureAlarm);
      }
    }
    if (quiet_left_ > 0) score /= kQuietWidening;
    const bool outside = value > f.yhat_upper || value < f.yhat_lower;
    // The bands were merged, so the band is the one source of truth for
    // which side of 1 the score is on.
    score = outside ? std::max(score, std::nextafter(1.0, 2.0)) : std::min(score, 1.0);
    if (!(score <= kMaxScore)) score = kMaxScore;
    v.anomaly_score = warmed_up ? score : std::min(score, 1.0);
  }
  v.anomaly = warmed_up && v.anomaly_score > 1;
  if (quiet_left_ > 0) {
    --quiet_left_;
  } else if (warmed_up && v.anomaly_score > kQuietAfterScore) {
    quiet_left_ = kQuietSamples;
  }
  if (drift.has_value()) {
    drift_ = *drift;
    ++drift_n_;
    // A running mean at first; after warm-up an alarm-sized drift counts
    // only as the alarm level, so one incident does not blunt the next.
    const double size =
        DriftReady() ? std::min(std::abs(drift_), kDriftRatio * drift_scale_) : std::abs(drift_);
    const double w = std::max(1.0 / static_cast<double>(drift_n_), kDriftScaleStep);
    drift_scale_ = std::min(drift_scale_ + w * (size - drift_scale_), kDriftClip);
    departure_ = *departure;
    // One alarm per episode: a departure that stays away (a failure, a
    // holiday) would otherwise alarm again after every quiet period.
    if (std::abs(departure_) > kDepartureAlarm) {
      departure_armed_ = false;
    } else if (std::abs(departure_) < kDepartureRearm * kDepartureAlarm) {
      departure_armed_ = true;
    }
  }
  hours_.Add(t_ms, value);
  profile_.Add(t_ms, value);
  if (n_ == 0) {
    lowest_ = highest_ = value;
  } else {
    lowest_ = std::min(lowest_, value);
    highest_ = std::max(highest_, value);
  }
  ++n_;
  return v;
}

void Combined::Retrain() { level_.Retrain(); }

void Combined::SerializeTo(std::string* out) const {
  StateWriter w(out);
  WriteStateHeader(Header(*options_, *detection_), &w);
  w.I64(n_);
  w.F64(lowest_);
  w.F64(highest_);
  w.I64(quiet_left_);
  w.F64(drift_);
  w.F64(drift_scale_);
  w.I64(drift_n_);
  w.F64(departure_);
  w.U8(departure_armed_ ? 1 : 0);
  hours_.SerializeTo(out);
  profile_.SerializeTo(out);
  level_.SerializeTo(out);
}

absl::Status Combined::Restore(std::string_view state) {
  auto corrupt = [](std::string_view why) { return StateRejected(kCombinedKind, why); };
  // Version 2 (before the daily profile) is still read: its range, hourly
  // ranges and level part carry over, the profile, drift and departure
  // start empty and warm up as for a new series. Refused, an upgrade would
  // relearn every series from every retained point before it is ready.
  const bool before_profile =
      !state.empty() && static_cast<uint8_t>(state[0]) == kVersionBeforeProfile;
  StateHeader expected = Header(*options_, *detection_);
  if (before_profile) expected.version = kVersionBeforeProfile;
  StateReader r(state);
  if (absl::Status s = ReadStateHeader(expected, &r); !s.ok()) return s;
  int64_t n = 0;
  double lowest = 0;
  double highest = 0;
  int64_t quiet_left = 0;
  double drift = 0;
  double drift_scale = 0;
  int64_t drift_n = 0;
  double departure = 0;
  uint8_t departure_armed = 1;
  if (!r.I64(&n) || !r.F64(&lowest) || !r.F64(&highest) || !r.I64(&quiet_left) ||
      (!before_profile && (!r.F64(&drift) || !r.F64(&drift_scale) || !r.I64(&drift_n) ||
                           !r.F64(&departure) || !r.U8(&departure_armed)))) {
    return corrupt("truncated");
  }
  // A drift averages residuals clipped at kDriftClip, and so does its size;
  // a departure those clipped at kDepartureClip.
  if (n < 0 || !Finite(lowest) || !Finite(highest) || !(lowest <= highest) || quiet_left < 0 ||
      quiet_left > kQuietSamples || !(std::abs(drift) <= kDriftClip) || !(drift_scale >= 0) ||
      !(drift_scale <= kDriftClip) || drift_n < 0 || !(std::abs(departure) <= kDepartureClip) ||
      departure_armed > 1) {
    return corrupt("value out of range");
  }
  // The header, n_, lowest_, highest_, quiet_left_, the drift's three
  // fields and the departure's two (not in version 2), then the hourly
  // range and profile (not in version 2).
  const size_t own_bytes = before_profile ? 2 + 8 + 4 * 8 : 2 + 8 + 8 * 8 + 1;
  const size_t profile_at = own_bytes + HourlyRange::kSerializedBytes;
  const size_t level_at = profile_at + (before_profile ? 0 : HourlyProfile::kSerializedBytes);
  if (state.size() < level_at) return corrupt("truncated");
  HourlyRange hours;
  if (absl::Status s = hours.Restore(state.substr(own_bytes, HourlyRange::kSerializedBytes));
      !s.ok()) {
    return s;
  }
  HourlyProfile profile;
  if (!before_profile) {
    const std::string_view bytes = state.substr(profile_at, HourlyProfile::kSerializedBytes);
    if (absl::Status s = profile.Restore(bytes); !s.ok()) {
      return s;
    }
  }
  // The last part that can fail, and left unchanged if it does.
  if (absl::Status s = level_.Restore(state.substr(level_at)); !s.ok()) return s;
  hours_ = hours;
  profile_ = profile;
  drift_ = drift;
  drift_scale_ = drift_scale;
  drift_n_ = drift_n;
  departure_ = departure;
  departure_armed_ = departure_armed == 1;
  n_ = n;
  lowest_ = lowest;
  highest_ = highest;
  quiet_left_ = quiet_left;
  return absl::OkStatus();
}

}  // namespace kad::models
