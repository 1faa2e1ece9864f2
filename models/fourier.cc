#include "models/fourier.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "models/model_args.h"
#include "models/smoothing.h"
#include "models/state_codec.h"

namespace kad::models {
namespace {

constexpr uint8_t kFormatVersion = 1;
constexpr uint8_t kKindTag = 3;  // fourier, in every state's header

constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kWeekMs = 7 * kDayMs;
// Longest custom period, so k * period stays far from int64 overflow.
constexpr int64_t kMaxPeriodMs = 3650 * kDayMs;

// This many samples in a row beyond the clip, on one side, are a level
// shift rather than spikes: Gaussian noise does that once in 1e11 samples.
constexpr int kShiftRun = 4;
// No anomaly before this many samples: the residual scale needs about this
// many residuals to be within ~15% of its value.
constexpr int64_t kWarmUpSamples = 30;
// Prior variance of each coefficient, in units of the residual variance
// (the regression's matrix is the coefficients' covariance over it): a
// harmonic is presumed no larger than the noise until samples say more.
// Also the cap on the matrix's diagonal, so the forgetting cannot inflate
// directions that recent samples did not excite.
constexpr double kPriorVariance = 1;
// Retrain()'s AR(1) fit: the moments' half-life, the clamp on the scaled
// deviations feeding them (so a spike cannot dominate), the samples needed,
// the autocorrelation below which nothing is carried, and the longest
// carried correction.
constexpr double kMomentHalfLifeS = 6 * 3600;
constexpr double kMaxScaledDeviation = 8;
constexpr int64_t kMinRetrainSamples = 64;
constexpr double kMinCarriedAutocorrelation = 0.05;
constexpr double kMaxAutocorrelation = 0.999;
constexpr double kMaxCorrectionHalfLifeS = 86'400;

StateHeader Header(const FourierOptions& o) {
  return {kFourierKind, kFormatVersion, kKindTag, o.Fingerprint()};
}

}  // namespace

absl::Status FourierOptions::Validate() const {
  auto bad = [](std::string_view what) { return OptionsError(kFourierKind, what); };
  const std::pair<std::string_view, int64_t> orders[] = {
      {"daily_order", daily_order},
      {"weekly_order", weekly_order},
      {"seasonality.fourier_order", custom_order},
  };
  for (const auto& [name, order] : orders) {
    if (order < 0 || order > kMaxHarmonics) {
      return bad(
          absl::StrCat(std::string(name), " must be in [0, ", kMaxHarmonics, "], got ", order));
    }
  }
  if (daily_order + weekly_order + custom_order > kMaxHarmonics) {
    return bad(
        absl::StrCat("daily_order + weekly_order + seasonality.fourier_order must be at most ",
                     kMaxHarmonics, ", got ", daily_order + weekly_order + custom_order));
  }
  if (custom_period_ms < 0 || custom_period_ms > kMaxPeriodMs) {
    return bad("seasonality.period must be positive and at most 3650 days");
  }
  if (custom_period_ms > 0 && custom_order == 0) {
    return bad("seasonality.period needs seasonality.fourier_order >= 1");
  }
  if (custom_order > 0 && custom_period_ms == 0) {
    return bad("seasonality.fourier_order needs seasonality.period");
  }
  if (custom_order > 0 && custom_period_ms < 1000 * custom_order) {
    return bad("seasonality.period is too short: its highest harmonic's cycle is under 1s");
  }
  if (absl::Status s = ValidateBandSigmas(kFourierKind, band_sigmas); !s.ok()) return s;
  const std::pair<std::string_view, int64_t> positive[] = {
      {"half_life", half_life_ms},
      {"level_half_life", level_half_life_ms},
      {"correction_half_life", correction_half_life_ms},
      {"scale_half_life", scale_half_life_ms},
  };
  for (const auto& [name, ms] : positive) {
    if (ms <= 0) return bad(absl::StrCat(std::string(name), " must be positive"));
  }
  if (trend_half_life_ms < 0) return bad("trend_half_life must not be negative");
  if (residual_half_life_ms < 0) return bad("residual_half_life must not be negative");
  return absl::OkStatus();
}

absl::StatusOr<FourierOptions> FourierOptions::FromArgs(const ModelArgs& args) {
  FourierOptions o;
  // Prophet's period is a (fractional) number of days; a duration reads as
  // itself. The reader takes durations, so a bare number becomes one.
  ModelArgs own = args;
  if (auto it = own.find("seasonality.period"); it != own.end()) {
    double days;
    if (absl::SimpleAtod(it->second, &days)) {
      if (!(days > 0) || days > static_cast<double>(kMaxPeriodMs / kDayMs)) {
        return absl::InvalidArgumentError(
            absl::StrCat(std::string(kFourierKind), " arg \"seasonality.period\" = \"", it->second,
                         "\": a number of days must be positive and at most 3650"));
      }
      it->second = absl::StrCat(std::llround(days * static_cast<double>(kDayMs)), "ms");
    }
  }
  ModelArgReader r(kFourierKind, own);
  r.Int("daily_order", &o.daily_order);
  r.Int("weekly_order", &o.weekly_order);
  r.Duration("seasonality.period", &o.custom_period_ms);
  r.Int("seasonality.fourier_order", &o.custom_order);
  r.Duration("half_life", &o.half_life_ms);
  r.Duration("level_half_life", &o.level_half_life_ms);
  r.DurationOrNone("trend_half_life", 0, &o.trend_half_life_ms);
  r.Double("band_sigmas", &o.band_sigmas);
  r.Duration("residual_half_life", &o.residual_half_life_ms);
  r.Duration("correction_half_life", &o.correction_half_life_ms);
  r.Duration("scale_half_life", &o.scale_half_life_ms);
  return r.Finish(o);
}

uint64_t FourierOptions::Fingerprint() const {
  return OptionsFingerprint([this](StateWriter& w) {
    w.I64(daily_order);
    w.I64(weekly_order);
    w.I64(custom_period_ms);
    w.I64(custom_order);
    w.I64(half_life_ms);
    w.I64(level_half_life_ms);
    w.I64(trend_half_life_ms);
    w.F64(band_sigmas);
    w.I64(residual_half_life_ms);
    w.I64(correction_half_life_ms);
    w.I64(scale_half_life_ms);
  });
}

absl::StatusOr<ModelFactory> MakeFourierFactory(const FourierOptions& options) {
  return MakeFactoryOf<Fourier>(kFourierKind, options);
}

Fourier::Fourier(std::shared_ptr<const FourierOptions> options)
    : options_(std::move(options)),
      correction_half_life_s_(Seconds(options_->correction_half_life_ms)) {
  const FourierOptions& o = *options_;
  std::array<Group, 3> wanted = {{
      {kDayMs, 0, static_cast<uint8_t>(o.daily_order), 0},
      {kWeekMs, 0, static_cast<uint8_t>(o.weekly_order), 0},
      {o.custom_period_ms, 0, static_cast<uint8_t>(o.custom_order), 0},
  }};
  // Shorter periods first: they start learning first (see the header).
  std::stable_sort(wanted.begin(), wanted.end(),
                   [](const Group& a, const Group& b) { return a.period_ms < b.period_ms; });
  size_t features = 0;
  for (const Group& g : wanted) {
    if (g.order == 0) continue;
    Group kept = g;
    for (int k = 1; k <= g.order; ++k) {
      // Harmonic k of P is harmonic k' of an earlier P' when k P' = k' P.
      bool duplicate = false;
      for (uint8_t e = 0; e < n_groups_ && !duplicate; ++e) {
        const Group& earlier = groups_[e];
        for (int k2 = 1; k2 <= earlier.order && !duplicate; ++k2) {
          duplicate =
              ((earlier.keep >> (k2 - 1)) & 1) != 0 && k * earlier.period_ms == k2 * g.period_ms;
        }
      }
      if (!duplicate) {
        kept.keep = static_cast<uint16_t>(kept.keep | (1u << (k - 1)));
        features += 2;
      }
    }
    if (kept.keep == 0) continue;
    kept.end = static_cast<uint8_t>(features);
    groups_[n_groups_++] = kept;
  }
  theta_.assign(features, 0.0);
  covariance_.assign(features * (features + 1) / 2, 0.0f);
  ResetCovariance();
}

size_t Fourier::Packed(size_t i, size_t j) const {
  return i * theta_.size() - i * (i - 1) / 2 + (j - i);
}

void Fourier::ResetCovariance() {
  std::fill(covariance_.begin(), covariance_.end(), 0.0f);
  for (size_t i = 0; i < theta_.size(); ++i) {
    covariance_[Packed(i, i)] = static_cast<float>(kPriorVariance);
  }
}

void Fourier::FeaturesAt(int64_t t_ms, Vector* x) const {
  size_t f = 0;
  for (uint8_t g = 0; g < n_groups_; ++g) {
    const Group& group = groups_[g];
    // The phase from integer arithmetic: t_ms itself is too large for a
    // double angle to keep sub-second precision.
    const double angle = 2 * std::numbers::pi *
                         static_cast<double>(FloorMod(t_ms, group.period_ms)) /
                         static_cast<double>(group.period_ms);
    const double s1 = std::sin(angle);
    const double c1 = std::cos(angle);
    double s = s1;
    double c = c1;
    for (int k = 1; k <= group.order; ++k) {
      if ((group.keep >> (k - 1)) & 1) {
        (*x)[f++] = s;
        (*x)[f++] = c;
      }
      // Angle addition: harmonic k+1 without another sin/cos call.
      const double next_s = s * c1 + c * s1;
      c = c * c1 - s * s1;
      s = next_s;
    }
  }
}

double Fourier::Seasonal(const Vector& x) const {
  double sum = 0;
  for (size_t i = 0; i < theta_.size(); ++i) sum += theta_[i] * x[i];
  return sum;
}

Fourier::Parts Fourier::Decompose(int64_t t_ms, Vector* x) const {
  const FourierOptions& o = *options_;
  const double h = Seconds(std::max<int64_t>(t_ms - t_last_ms_, 0));
  const double fade = 1 - Weight(h, correction_half_life_s_);
  Parts p;
  p.base = level_;
  if (o.trend_half_life_ms > 0) {
    // The trend fades along the horizon: integral of 2^(-s / half-life) ds.
    const double tau = Seconds(o.trend_half_life_ms) / std::numbers::ln2;
    p.base += trend_per_s_ * tau * -std::expm1(-h / tau);
  }
  FeaturesAt(t_ms, x);
  p.seasonal = Seasonal(*x);
  p.correction = correction_ * fade;
  // Far ahead the correction is gone, so the error is the deviation from
  // baseline+harmonics; the band widens towards that, never narrows.
  p.half_width = o.band_sigmas * kMeanAbsToSigma * scales_.At(fade, ScaleFloor(level_));
  return p;
}

Forecast Fourier::Predict(int64_t t_ms) const {
  if (n_ == 0) return Forecast{};
  Vector x;
  const Parts p = Decompose(t_ms, &x);
  const double yhat = p.yhat();
  return Forecast{yhat, yhat - p.half_width, yhat + p.half_width};
}

Verdict Fourier::Observe(int64_t t_ms, double value) {
  const FourierOptions& o = *options_;
  // Nothing was forecast before the first sample; values near the limits
  // of double can overflow the forecast or the error, and then learning
  // starts afresh rather than poisoning every later forecast with NaN.
  Vector x{};
  const Parts p = n_ == 0 ? Parts{} : Decompose(t_ms, &x);
  const double yhat = p.yhat();
  const double error = value - yhat;
  if (n_ == 0 || !Finite(error) || !Finite(yhat - p.half_width) || !Finite(yhat + p.half_width)) {
    Start(t_ms, value);
    return Verdict{Forecast{value, value, value}, 0, false};
  }
  const double dt_s = Seconds(std::max<int64_t>(t_ms - t_last_ms_, 0));
  const double learn_s = std::min(dt_s, kMaxLearnStepS);

  Verdict verdict;
  verdict.forecast = Forecast{yhat, yhat - p.half_width, yhat + p.half_width};
  verdict.anomaly_score =
      std::min(std::abs(error) / p.half_width, std::numeric_limits<double>::max());
  const bool warmed_up = n_ >= kWarmUpSamples;
  verdict.anomaly = warmed_up && verdict.anomaly_score > 1;

  // Before warm-up the scale is not trusted yet, so nothing is clipped.
  const double inf = std::numeric_limits<double>::infinity();
  const double sigma = p.half_width / o.band_sigmas;
  const double clip = warmed_up ? kClipSigmas * sigma : inf;
  const int side = error > 0 ? 1 : -1;
  if (std::abs(error) <= clip) {
    run_ = 0;
  } else {
    run_ = static_cast<int8_t>(run_ * side > 0 ? run_ + side : side);
  }
  const double seen = static_cast<double>(n_);
  t_last_ms_ = t_ms;
  ++n_;
  if (std::abs(run_) >= kShiftRun) {
    // A level shift: the series now lives here. Jump rather than creep up
    // 3 sigmas a sample, and keep the harmonics and the band as they were.
    level_ = value - p.seasonal;
    trend_per_s_ = 0;
    correction_ = 0;
    run_ = 0;
    if (!Finite(level_)) Start(t_ms, value);
    return verdict;
  }

  const double learnt = yhat + std::clamp(error, -clip, clip);
  const double deviation = learnt - p.base - p.seasonal;

  // Scales: a running mean at first, then exponential forgetting.
  const double w_scale = std::max(Weight(learn_s, Seconds(o.scale_half_life_ms)), 1.0 / seen);
  const double floor = ScaleFloor(level_);
  scales_.Learn(w_scale, error, value - p.base - p.seasonal, floor, warmed_up);

  // Level and optional damped trend, against the sample less its harmonics.
  const double old_level = level_;
  // A running mean at first too: the harmonics cannot hold an offset, so
  // a level stuck near the first sample would bias forecasts for days.
  level_ = p.base +
           std::max(Weight(learn_s, Seconds(o.level_half_life_ms)), 1.0 / (seen + 1)) * deviation;
  if (o.trend_half_life_ms > 0 && dt_s > 0) {
    const double half_life_s = Seconds(o.trend_half_life_ms);
    const double trend = trend_per_s_ * std::exp2(-dt_s / half_life_s);
    trend_per_s_ = trend + Weight(learn_s, half_life_s) * ((level_ - old_level) / dt_s - trend);
  }

  // Harmonics of the periods watched for a whole period already.
  size_t active = 0;
  for (uint8_t g = 0; g < n_groups_; ++g) {
    if (t_ms - t_first_ms_ >= groups_[g].period_ms) active = groups_[g].end;
  }
  LearnHarmonics(x, active, learnt - level_ - p.seasonal,
                 std::exp2(-learn_s / Seconds(o.half_life_ms)));

  // Short-term correction: exponential smoothing of the deviation, decayed
  // over the step like the forecast decayed it.
  correction_ =
      p.correction + Weight(learn_s, Seconds(o.residual_half_life_ms)) * (deviation - p.correction);

  // Moments for Retrain()'s AR(1) fit, on the deviation in units of its
  // own scale so that huge series do not overflow the squares.
  const double u = std::clamp(deviation / std::max(scales_.baseline, floor), -kMaxScaledDeviation,
                              kMaxScaledDeviation);
  const double w_moment = std::max(Weight(learn_s, kMomentHalfLifeS), 1.0 / seen);
  u_var_ += w_moment * (u * u - u_var_);
  u_lag_ += w_moment * (u * u_prev_ - u_lag_);
  u_prev_ = u;
  step_s_ += w_moment * (learn_s - step_s_);

  bool finite = Finite(level_) && Finite(trend_per_s_) && Finite(correction_) &&
                Finite(scales_.one_step) && Finite(scales_.baseline) && Finite(u_var_) &&
                Finite(u_lag_);
  for (size_t i = 0; i < active && finite; ++i) finite = Finite(theta_[i]);
  if (!finite) Start(t_ms, value);
  return verdict;
}

void Fourier::LearnHarmonics(const Vector& x, size_t active, double error, double forget) {
  if (active == 0) return;
  // P x over the active block, from the upper triangle.
  Vector px{};
  for (size_t i = 0; i < active; ++i) {
    size_t k = Packed(i, i);
    px[i] += covariance_[k] * x[i];
    for (size_t j = i + 1; j < active; ++j) {
      const double v = covariance_[++k];
      px[i] += v * x[j];
      px[j] += v * x[i];
    }
  }
  double xpx = 0;
  for (size_t i = 0; i < active; ++i) xpx += x[i] * px[i];
  if (!(xpx >= 0) || !Finite(xpx)) {
    // Rounding made the matrix indefinite: start its estimate over.
    ResetCovariance();
    return;
  }
  const double denom = forget + xpx;
  for (size_t i = 0; i < active; ++i) theta_[i] += px[i] / denom * error;
  for (size_t i = 0; i < active; ++i) {
    size_t k = Packed(i, i);
    for (size_t j = i; j < active; ++j, ++k) {
      covariance_[k] = static_cast<float>((covariance_[k] - px[i] * px[j] / denom) / forget);
    }
  }
  CapCovariance();
}

void Fourier::CapCovariance() {
  const size_t m = theta_.size();
  for (size_t i = 0; i < m; ++i) {
    const double d = covariance_[Packed(i, i)];
    if (!(d > 0) || !Finite(d)) {
      ResetCovariance();
      return;
    }
    if (d <= kPriorVariance) continue;
    const double s = std::sqrt(kPriorVariance / d);
    for (size_t j = 0; j < i; ++j) covariance_[Packed(j, i)] *= static_cast<float>(s);
    for (size_t j = i + 1; j < m; ++j) covariance_[Packed(i, j)] *= static_cast<float>(s);
    covariance_[Packed(i, i)] = static_cast<float>(kPriorVariance);
  }
}

void Fourier::Start(int64_t t_ms, double value) {
  *this = Fourier(options_);
  level_ = value;
  t_first_ms_ = t_ms;
  t_last_ms_ = t_ms;
  n_ = 1;
}

void Fourier::Retrain() {
  if (n_ < kMinRetrainSamples || !(u_var_ > 0) || !(step_s_ > 0)) return;
  const double rho = u_lag_ / u_var_;
  if (rho <= kMinCarriedAutocorrelation) {
    correction_half_life_s_ = 0;
    return;
  }
  // rho per mean step = 2^(-step / half-life).
  correction_half_life_s_ =
      std::min(step_s_ * std::numbers::ln2 / -std::log(std::min(rho, kMaxAutocorrelation)),
               kMaxCorrectionHalfLifeS);
}

void Fourier::SerializeTo(std::string* out) const {
  out->reserve(out->size() + 128 + 8 * theta_.size() + 4 * covariance_.size());
  StateWriter w(out);
  WriteStateHeader(Header(*options_), &w);
  w.I64(n_);
  w.I64(t_last_ms_);
  w.I64(t_first_ms_);
  w.U8(static_cast<uint8_t>(run_));
  w.F64(level_);
  w.F64(trend_per_s_);
  w.F64(correction_);
  w.F64(scales_.one_step);
  w.F64(scales_.baseline);
  w.F64(correction_half_life_s_);
  w.F64(u_var_);
  w.F64(u_lag_);
  w.F64(u_prev_);
  w.F64(step_s_);
  w.U16(static_cast<uint16_t>(theta_.size()));
  for (double t : theta_) w.F64(t);
  for (float c : covariance_) w.F32(c);
}

absl::Status Fourier::Restore(std::string_view state) {
  auto corrupt = [](std::string_view why) { return StateRejected(kFourierKind, why); };
  StateReader r(state);
  if (absl::Status s = ReadStateHeader(Header(*options_), &r); !s.ok()) return s;
  Fourier next(options_);
  uint8_t run = 0;
  uint16_t features = 0;
  const bool ok = r.I64(&next.n_) && r.I64(&next.t_last_ms_) && r.I64(&next.t_first_ms_) &&
                  r.U8(&run) && r.F64(&next.level_) && r.F64(&next.trend_per_s_) &&
                  r.F64(&next.correction_) && r.F64(&next.scales_.one_step) &&
                  r.F64(&next.scales_.baseline) && r.F64(&next.correction_half_life_s_) &&
                  r.F64(&next.u_var_) && r.F64(&next.u_lag_) && r.F64(&next.u_prev_) &&
                  r.F64(&next.step_s_) && r.U16(&features);
  if (!ok) return corrupt("truncated");
  if (features != next.theta_.size()) return corrupt("wrong number of features");
  for (double& t : next.theta_) {
    if (!r.F64(&t)) return corrupt("truncated coefficients");
    if (!Finite(t)) return corrupt("non-finite coefficient");
  }
  for (float& c : next.covariance_) {
    if (!r.F32(&c)) return corrupt("truncated matrix");
    if (!std::isfinite(c)) return corrupt("non-finite matrix entry");
  }
  if (!r.AtEnd()) return corrupt("trailing bytes");
  for (size_t i = 0; i < features; ++i) {
    const float d = next.covariance_[next.Packed(i, i)];
    if (!(d > 0) || d > kPriorVariance) return corrupt("matrix diagonal out of range");
  }
  next.run_ = static_cast<int8_t>(run);
  const double scalars[] = {next.level_,           next.trend_per_s_,
                            next.correction_,      next.scales_.one_step,
                            next.scales_.baseline, next.correction_half_life_s_,
                            next.u_var_,           next.u_lag_,
                            next.u_prev_,          next.step_s_};
  for (double v : scalars) {
    if (!Finite(v)) return corrupt("non-finite value");
  }
  if (next.n_ < 0 || next.t_first_ms_ > next.t_last_ms_ || next.scales_.one_step < 0 ||
      next.scales_.baseline < 0 || next.correction_half_life_s_ < 0 || next.u_var_ < 0 ||
      next.step_s_ < 0 || std::abs(next.run_) >= kShiftRun) {
    return corrupt("value out of range");
  }
  *this = std::move(next);
  return absl::OkStatus();
}

size_t Fourier::MemoryBytes() const {
  return sizeof(*this) + theta_.capacity() * sizeof(double) +
         covariance_.capacity() * sizeof(float);
}

}  // namespace kad::models
