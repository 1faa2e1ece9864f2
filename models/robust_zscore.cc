#include "models/robust_zscore.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "models/model_args.h"
#include "models/smoothing.h"
#include "models/state_codec.h"

namespace kad::models {
namespace {

constexpr uint8_t kFormatVersion = 1;
constexpr uint8_t kKindTag = 2;  // robust_zscore, in every state's header

// sigma of a normal sample per unit of MAD: 1 / Phi^-1(3/4).
constexpr double kMadToSigma = 1.482602218505602;
// This many samples in a row beyond the band on one side are a new normal.
constexpr uint8_t kShiftRun = 12;

StateHeader Header(const RobustZScoreOptions& o) {
  return {kRobustZScoreKind, kFormatVersion, kKindTag, o.Fingerprint()};
}

// The median of values[0, n), reordering them. n > 0.
double MedianInPlace(double* values, size_t n) {
  double* mid = values + n / 2;
  std::nth_element(values, mid, values + n);
  if (n % 2 == 1) return *mid;
  // The lower middle is the largest value left of mid; halves before adding
  // so two huge values do not overflow.
  const double lower = *std::max_element(values, mid);
  return lower / 2 + *mid / 2;
}

}  // namespace

absl::Status RobustZScoreOptions::Validate() const {
  auto bad = [](std::string_view what) { return OptionsError(kRobustZScoreKind, what); };
  if (half_life_ms <= 0) return bad("half_life must be positive");
  return ValidateBandSigmas(kRobustZScoreKind, band_sigmas);
}

absl::StatusOr<RobustZScoreOptions> RobustZScoreOptions::FromArgs(const ModelArgs& args) {
  RobustZScoreOptions o;
  ModelArgReader r(kRobustZScoreKind, args);
  r.Duration("half_life", &o.half_life_ms);
  r.Double("band_sigmas", &o.band_sigmas);
  return r.Finish(o);
}

uint64_t RobustZScoreOptions::Fingerprint() const {
  return OptionsFingerprint([this](StateWriter& w) {
    w.I64(half_life_ms);
    w.F64(band_sigmas);
  });
}

absl::StatusOr<ModelFactory> MakeRobustZScoreFactory(const RobustZScoreOptions& options) {
  return MakeFactoryOf<RobustZScore>(kRobustZScoreKind, options);
}

RobustZScore::RobustZScore(std::shared_ptr<const RobustZScoreOptions> options)
    : options_(std::move(options)) {}

double RobustZScore::MadFloor() const { return ScaleFloor(median_) / kMadToSigma; }

double RobustZScore::Sigma() const {
  return std::max(kMadToSigma * std::max(mad_, MadFloor()), kMeanAbsToSigma * mean_abs_);
}

RobustZScore::Estimate RobustZScore::Exact(size_t count) const {
  std::array<double, kWindowSize> values;
  for (size_t k = 0; k < count; ++k) {
    values[k] = values_[Newest(k)];
  }
  Estimate m;
  m.median = MedianInPlace(values.data(), count);
  for (size_t k = 0; k < count; ++k) values[k] = std::abs(values[k] - m.median);
  double sum = 0;
  for (size_t k = 0; k < count; ++k) sum += values[k] / static_cast<double>(count);
  m.mean_abs = sum;
  m.mad = MedianInPlace(values.data(), count);
  return m;
}

Forecast RobustZScore::Predict(int64_t t_ms) const {
  if (n_ == 0) return Forecast{};
  const double half_width = options_->band_sigmas * Sigma();
  return Forecast{median_, median_ - half_width, median_ + half_width};
}

Verdict RobustZScore::Observe(int64_t t_ms, double value) {
  if (n_ == 0) {
    Start(t_ms, value);
    return Verdict{Forecast{value, value, value}, 0, false};
  }
  const double sigma = Sigma();
  const Forecast f = Predict(t_ms);
  const double error = value - median_;
  // Near the limits of double the band or the error overflow; learning then
  // starts afresh rather than poisoning every later verdict.
  if (!Finite(f.yhat_lower) || !Finite(f.yhat_upper) || !Finite(error)) {
    Start(t_ms, value);
    return Verdict{Forecast{value, value, value}, 0, false};
  }
  Verdict verdict;
  verdict.forecast = f;
  verdict.anomaly_score = std::abs(error) / (f.yhat_upper - f.yhat);
  const bool warmed_up = n_ >= static_cast<int64_t>(kWindowSize);
  verdict.anomaly = warmed_up && verdict.anomaly_score > 1;

  values_[window_next_] = value;
  gaps_ms_[window_next_] =
      static_cast<uint32_t>(std::clamp<int64_t>(t_ms - t_last_ms_, 0, kMaxGapMs));
  window_next_ = static_cast<uint8_t>((window_next_ + 1) % kWindowSize);
  if (window_size_ < kWindowSize) ++window_size_;

  if (!warmed_up) {
    const Estimate exact = Exact(window_size_);
    median_ = exact.median;
    mad_ = exact.mad;
    mean_abs_ = exact.mean_abs;
  } else {
    // A running estimate at first (steps shrinking like 1/n, as for a mean),
    // exponential forgetting once the half-life is the shorter memory.
    const double w = std::max(Weight(std::min(Seconds(t_ms - t_last_ms_), kMaxLearnStepS),
                                     Seconds(options_->half_life_ms)),
                              1.0 / static_cast<double>(n_));
    // Clamped to the error, so a sample near the median is not overshot.
    median_ += std::clamp(error, -w * sigma, w * sigma);
    mean_abs_ += w * (std::min(std::abs(error), kClipSigmas * sigma) - mean_abs_);
    if (std::abs(error) > mad_) {
      mad_ *= std::exp(w);
    } else if (std::abs(error) < mad_) {
      mad_ *= std::exp(-w);
    }
    const int8_t side = error > 0 ? 1 : -1;
    if (verdict.anomaly_score <= 1) {
      shift_run_ = 0;
    } else if (shift_run_ > 0 && side == shift_sign_) {
      ++shift_run_;
    } else {
      shift_run_ = 1;
      shift_sign_ = side;
    }
    if (shift_run_ >= kShiftRun) {
      const Estimate recent = Exact(kShiftRun);
      median_ = recent.median;
      mad_ = std::max(mad_, recent.mad);
      mean_abs_ = std::max(mean_abs_, recent.mean_abs);
      shift_run_ = 0;
    }
  }
  mad_ = std::max(mad_, MadFloor());
  t_last_ms_ = t_ms;
  ++n_;
  if (!Finite(median_) || !Finite(mad_) || !Finite(mean_abs_) ||
      !Finite(Sigma() * options_->band_sigmas)) {
    Start(t_ms, value);
  }
  return verdict;
}

void RobustZScore::Start(int64_t t_ms, double value) {
  *this = RobustZScore(options_);
  values_[0] = value;
  window_size_ = 1;
  window_next_ = 1;
  median_ = value;
  mad_ = MadFloor();
  t_last_ms_ = t_ms;
  n_ = 1;
}

std::array<int64_t, RobustZScore::kWindowSize> RobustZScore::Times() const {
  std::array<int64_t, kWindowSize> times{};
  int64_t t = t_last_ms_;
  for (size_t k = 0; k < window_size_; ++k) {
    times[Newest(k)] = t;
    t -= gaps_ms_[Newest(k)];
  }
  return times;
}

void RobustZScore::Retrain() {
  // Until the window fills, the estimates are already exact.
  if (window_size_ < kWindowSize) return;
  const Estimate exact = Exact(kWindowSize);
  const int64_t oldest_ms = Times()[window_next_];  // the window is full
  const double w = Weight(Seconds(t_last_ms_ - oldest_ms), Seconds(options_->half_life_ms));
  const double median = median_ + w * (exact.median - median_);
  // The scale blends geometrically, as it is tracked.
  const double floor = MadFloor();
  const double log_mad = std::log(std::max(mad_, floor));
  const double mad = std::exp(log_mad + w * (std::log(std::max(exact.mad, floor)) - log_mad));
  const double mean_abs = mean_abs_ + w * (exact.mean_abs - mean_abs_);
  if (!Finite(median) || !Finite(mad) || !Finite(mean_abs)) return;
  mean_abs_ = mean_abs;
  median_ = median;
  mad_ = std::max(mad, MadFloor());
}

void RobustZScore::SerializeTo(std::string* out) const {
  out->reserve(out->size() + 64 + 16 * kWindowSize);
  StateWriter w(out);
  WriteStateHeader(Header(*options_), &w);
  w.I64(n_);
  w.I64(t_last_ms_);
  w.F64(median_);
  w.F64(mad_);
  w.F64(mean_abs_);
  w.U8(shift_run_);
  w.U8(static_cast<uint8_t>(shift_sign_));
  w.U8(window_size_);
  w.U8(window_next_);
  const std::array<int64_t, kWindowSize> times = Times();
  for (size_t k = 0; k < kWindowSize; ++k) {
    w.I64(times[k]);
    w.F64(values_[k]);
  }
}

absl::Status RobustZScore::Restore(std::string_view state) {
  auto corrupt = [](std::string_view why) { return StateRejected(kRobustZScoreKind, why); };
  StateReader r(state);
  if (absl::Status s = ReadStateHeader(Header(*options_), &r); !s.ok()) return s;
  RobustZScore next(options_);
  uint8_t sign = 0;
  bool ok = r.I64(&next.n_) && r.I64(&next.t_last_ms_) && r.F64(&next.median_) &&
            r.F64(&next.mad_) && r.F64(&next.mean_abs_) && r.U8(&next.shift_run_) && r.U8(&sign) &&
            r.U8(&next.window_size_) && r.U8(&next.window_next_);
  if (!ok) return corrupt("truncated");
  next.shift_sign_ = static_cast<int8_t>(sign);
  std::array<int64_t, kWindowSize> times;
  for (size_t k = 0; k < kWindowSize; ++k) {
    if (!r.I64(&times[k]) || !r.F64(&next.values_[k])) return corrupt("truncated window");
    if (!Finite(next.values_[k])) return corrupt("non-finite window value");
  }
  if (!r.AtEnd()) return corrupt("trailing bytes");
  if (!Finite(next.median_) || !Finite(next.mad_) || !Finite(next.mean_abs_)) {
    return corrupt("non-finite value");
  }
  const bool window_matches_n = next.window_size_ == std::min<int64_t>(next.n_, kWindowSize) &&
                                next.window_next_ == next.n_ % static_cast<int64_t>(kWindowSize);
  if (next.n_ < 0 || next.mad_ < 0 || next.mean_abs_ < 0 || next.shift_run_ >= kShiftRun ||
      next.shift_sign_ < -1 || next.shift_sign_ > 1 || !window_matches_n) {
    return corrupt("value out of range");
  }
  // The newest is the last sample learnt, and each is at most kMaxGapMs
  // after the one before.
  if (next.window_size_ > 0 && times[next.Newest(0)] != next.t_last_ms_) {
    return corrupt("newest window sample is not the last");
  }
  for (size_t k = 1; k < next.window_size_; ++k) {
    const int64_t newer = times[next.Newest(k - 1)];
    const int64_t t = times[next.Newest(k)];
    if (t > newer || newer - t > kMaxGapMs) return corrupt("window out of order");
    next.gaps_ms_[next.Newest(k - 1)] = static_cast<uint32_t>(newer - t);
  }
  *this = std::move(next);
  return absl::OkStatus();
}

}  // namespace kad::models
