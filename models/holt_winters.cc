#include "models/holt_winters.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <utility>

#include "absl/strings/str_cat.h"
#include "models/model_args.h"
#include "models/state_codec.h"

namespace kad::models {
namespace {

constexpr uint8_t kFormatVersion = 1;
constexpr uint8_t kKindTag = 1;  // holt_winters, in every state's header

// sigma of a normal residual per unit of mean |residual|: sqrt(pi / 2).
constexpr double kMeanAbsToSigma = 1.2533141373155003;
// Residuals are learnt (and fed to the scales) clipped at this many sigmas:
// a spike moves the state no more than a 3-sigma sample would.
constexpr double kClipSigmas = 3;
// A constant series still gets a band: sigma is at least this fraction of
// the level, plus an absolute epsilon for a series that sits at zero.
constexpr double kRelativeScaleFloor = 1e-4;
constexpr double kAbsoluteScaleFloor = 1e-9;
// A sample after a gap is learnt as if it came this long after the previous
// one: a gap says nothing about how much to trust the sample after it.
constexpr double kMaxLearnStepS = 300;
// Retrain() refits the correction only from at least this many samples and
// switches half-life only for at least this much less error.
constexpr size_t kMinReplaySamples = 8;
constexpr double kMinReplayGain = 0.98;
// During the first seasons each bucket learns at least like a running mean
// of the passes so far (1/(k+1) of the gap on pass k, at most this much),
// so the shape is usable after a day instead of after several half-lives.
constexpr double kMaxBootstrapSeasonGain = 0.9;
constexpr std::array<double, 7> kCandidateResidualHalfLivesS = {0, 15, 30, 60, 120, 300, 600};

double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000; }

// Weight of a new observation after dt under exponential forgetting with
// `half_life` (same unit); 1 when the half-life is 0.
double Weight(double dt, double half_life) {
  if (half_life <= 0) return 1;
  return -std::expm1(-dt * std::numbers::ln2 / half_life);
}

// Floor division, so negative timestamps still land in the right season.
int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

bool Finite(double v) { return std::isfinite(v); }

}  // namespace

absl::Status HoltWintersOptions::Validate() const {
  auto bad = [](std::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(kHoltWintersKind), " options: ", std::string(what)));
  };
  if (season_ms < 0) return bad("season must not be negative");
  if (season_ms > 0 && (season_buckets < 1 || season_buckets > 65'535)) {
    return bad(absl::StrCat("season_buckets must be in [1, 65535], got ", season_buckets));
  }
  if (season_ms > 0 && season_ms < season_buckets) {
    return bad("season is shorter than one millisecond per bucket");
  }
  if (!(band_sigmas > 0) || !Finite(band_sigmas)) {
    return bad("band_sigmas must be a positive number");
  }
  if (min_n_samples_seen < 1) return bad("min_n_samples_seen must be >= 1");
  if (!(season_half_life > 0) || !Finite(season_half_life)) {
    return bad("season_half_life (in seasons) must be a positive number");
  }
  const std::pair<std::string_view, int64_t> positive[] = {
      {"level_half_life", level_half_life_ms}, {"trend_half_life", trend_half_life_ms},
      {"trend_damping", trend_damping_ms},     {"correction_half_life", correction_half_life_ms},
      {"scale_half_life", scale_half_life_ms},
  };
  for (const auto& [name, ms] : positive) {
    if (ms <= 0) return bad(absl::StrCat(std::string(name), " must be positive"));
  }
  if (residual_half_life_ms < 0) {
    return bad("residual_half_life must not be negative");
  }
  return absl::OkStatus();
}

absl::StatusOr<HoltWintersOptions> HoltWintersOptions::FromArgs(const ModelArgs& args) {
  HoltWintersOptions o;
  ModelArgReader r(kHoltWintersKind, args);
  r.DurationOrNone("season", 0, &o.season_ms);
  r.Int("season_buckets", &o.season_buckets);
  r.Double("band_sigmas", &o.band_sigmas);
  r.Int("min_n_samples_seen", &o.min_n_samples_seen);
  r.Duration("level_half_life", &o.level_half_life_ms);
  r.Duration("trend_half_life", &o.trend_half_life_ms);
  r.Duration("trend_damping", &o.trend_damping_ms);
  r.Double("season_half_life", &o.season_half_life);
  r.Duration("residual_half_life", &o.residual_half_life_ms);
  r.Duration("correction_half_life", &o.correction_half_life_ms);
  r.Duration("scale_half_life", &o.scale_half_life_ms);
  if (absl::Status s = r.Finish(); !s.ok()) return s;
  if (absl::Status s = o.Validate(); !s.ok()) return s;
  return o;
}

uint64_t HoltWintersOptions::Fingerprint() const {
  std::string bytes;
  StateWriter w(&bytes);
  w.I64(season_ms);
  w.I64(season_buckets);
  w.F64(band_sigmas);
  w.I64(min_n_samples_seen);
  w.I64(level_half_life_ms);
  w.I64(trend_half_life_ms);
  w.I64(trend_damping_ms);
  w.F64(season_half_life);
  w.I64(residual_half_life_ms);
  w.I64(correction_half_life_ms);
  w.I64(scale_half_life_ms);
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, stable across platforms
  for (char c : bytes) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

absl::StatusOr<ModelFactory> MakeHoltWintersFactory(const HoltWintersOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  auto shared = std::make_shared<const HoltWintersOptions>(options);
  return ModelFactory{std::string(kHoltWintersKind), [shared]() -> std::unique_ptr<Forecaster> {
                        return std::make_unique<HoltWinters>(shared);
                      }};
}

HoltWinters::HoltWinters(std::shared_ptr<const HoltWintersOptions> options)
    : options_(std::move(options)),
      residual_half_life_s_(Seconds(options_->residual_half_life_ms)),
      season_(options_->season_ms > 0 ? options_->season_buckets : 0, 0.0f) {}

HoltWinters::SeasonPoint HoltWinters::LocateInSeason(int64_t t_ms) const {
  const int64_t season = options_->season_ms;
  const int64_t phase_ms = t_ms - FloorDiv(t_ms, season) * season;
  const size_t buckets = season_.size();
  // Bucket i is centred at (i + 0.5) bucket widths into the season.
  double x =
      static_cast<double>(phase_ms) / static_cast<double>(season) * static_cast<double>(buckets) -
      0.5;
  if (x < 0) x += static_cast<double>(buckets);
  const double lo = std::floor(x);
  SeasonPoint p;
  p.lo = static_cast<size_t>(lo) % buckets;
  p.hi = (p.lo + 1) % buckets;
  p.hi_weight = x - lo;
  return p;
}

double HoltWinters::SeasonalAt(const SeasonPoint& p) const {
  return (1 - p.hi_weight) * season_[p.lo] + p.hi_weight * season_[p.hi];
}

double HoltWinters::ScaleFloor() const {
  return kRelativeScaleFloor * std::abs(level_) + kAbsoluteScaleFloor;
}

HoltWinters::Parts HoltWinters::Decompose(int64_t t_ms) const {
  const HoltWintersOptions& o = *options_;
  const double h = Seconds(std::max<int64_t>(t_ms - t_last_ms_, 0));
  // The trend fades along the horizon: integral of 2^(-s / damping) ds.
  const double damping_tau = Seconds(o.trend_damping_ms) / std::numbers::ln2;
  const double fade = 1 - Weight(h, Seconds(o.correction_half_life_ms));
  Parts p;
  p.base = level_ + trend_per_s_ * damping_tau * -std::expm1(-h / damping_tau);
  if (!season_.empty()) p.seasonal = SeasonalAt(LocateInSeason(t_ms));
  p.correction = correction_ * fade;
  // Far ahead the correction is gone, so the error is the deviation from
  // baseline+season; the band widens towards that, never narrows.
  const double scale =
      std::max(fade * scale_ + (1 - fade) * std::max(scale_, scale_long_), ScaleFloor());
  p.half_width = o.band_sigmas * kMeanAbsToSigma * scale;
  return p;
}

Forecast HoltWinters::Predict(int64_t t_ms) const {
  if (n_ == 0) return Forecast{};
  const Parts p = Decompose(t_ms);
  const double yhat = p.yhat();
  return Forecast{yhat, yhat - p.half_width, yhat + p.half_width};
}

Verdict HoltWinters::Observe(int64_t t_ms, double value) {
  const HoltWintersOptions& o = *options_;
  // Nothing was forecast before the first sample; values near the limits
  // of double can overflow the forecast, and then learning starts afresh
  // rather than poisoning every later forecast with NaN.
  const Parts p = n_ == 0 ? Parts{} : Decompose(t_ms);
  const double yhat = p.yhat();
  if (n_ == 0 || !Finite(yhat) || !Finite(p.half_width)) {
    Start(t_ms, value);
    return Verdict{Forecast{value, value, value}, 0, false};
  }
  const int64_t dt_ms = std::max<int64_t>(t_ms - t_last_ms_, 0);
  const double dt_s = Seconds(dt_ms);
  const double learn_s = std::min(dt_s, kMaxLearnStepS);

  Verdict verdict;
  verdict.forecast = Forecast{yhat, yhat - p.half_width, yhat + p.half_width};
  const double error = value - yhat;
  verdict.anomaly_score = std::abs(error) / p.half_width;
  const bool warmed_up = n_ >= o.min_n_samples_seen;
  verdict.anomaly = warmed_up && verdict.anomaly_score > 1;

  // Before warm-up the scale is not trusted yet, so nothing is clipped.
  const double inf = std::numeric_limits<double>::infinity();
  const double sigma = p.half_width / o.band_sigmas;
  const double clip = warmed_up ? kClipSigmas * sigma : inf;
  const double learnt = yhat + std::clamp(error, -clip, clip);
  const double deviation = learnt - p.base - p.seasonal;

  // Scales: a running mean at first, then exponential forgetting.
  const double w_scale =
      std::max(Weight(learn_s, Seconds(o.scale_half_life_ms)), 1.0 / static_cast<double>(n_));
  const double floor = ScaleFloor();
  const double scale_cap =
      warmed_up ? kClipSigmas * kMeanAbsToSigma * std::max(scale_, floor) : inf;
  const double long_cap =
      warmed_up ? kClipSigmas * kMeanAbsToSigma * std::max(scale_long_, floor) : inf;
  scale_ += w_scale * (std::min(std::abs(error), scale_cap) - scale_);
  scale_long_ +=
      w_scale * (std::min(std::abs(value - p.base - p.seasonal), long_cap) - scale_long_);

  // Level and damped trend, against the seasonally adjusted sample.
  const double old_level = level_;
  level_ = p.base + Weight(learn_s, Seconds(o.level_half_life_ms)) * (learnt - p.seasonal - p.base);
  const double damping_tau = Seconds(o.trend_damping_ms) / std::numbers::ln2;
  const double trend = trend_per_s_ * std::exp(-dt_s / damping_tau);
  if (dt_s > 0) {
    trend_per_s_ = trend + Weight(learn_s, Seconds(o.trend_half_life_ms)) *
                               ((level_ - old_level) / dt_s - trend);
  }

  // Seasonal profile: a gradient step on the two interpolated buckets,
  // weighted per unit of time spent in the bucket.
  SeasonPoint sp;
  if (!season_.empty()) {
    sp = LocateInSeason(t_ms);
    const double bucket_s = Seconds(o.season_ms) / season_.size();
    const double passes = static_cast<double>(FloorDiv(t_ms - t_first_ms_, o.season_ms));
    const double gain_per_pass = std::max(-std::expm1(-std::numbers::ln2 / o.season_half_life),
                                          std::min(kMaxBootstrapSeasonGain, 1 / (passes + 1)));
    const double w = -std::expm1(std::log1p(-gain_per_pass) * learn_s / bucket_s);
    const double step = w * (learnt - level_ - p.seasonal);
    season_[sp.lo] += static_cast<float>(step * (1 - sp.hi_weight));
    season_[sp.hi] += static_cast<float>(step * sp.hi_weight);
  }

  // Short-term correction: exponential smoothing of the deviation, decayed
  // over the step like the forecast decayed it.
  correction_ = p.correction + Weight(learn_s, residual_half_life_s_) * (deviation - p.correction);

  // Clamped so a huge series still writes a state that Restore() accepts.
  constexpr double kFloatMax = std::numeric_limits<float>::max();
  window_[window_next_] = Recent{static_cast<float>(std::min(dt_s, kFloatMax)),
                                 static_cast<float>(std::clamp(deviation, -kFloatMax, kFloatMax))};
  window_next_ = static_cast<uint8_t>((window_next_ + 1) % kWindowSize);
  if (window_size_ < kWindowSize) ++window_size_;

  // Once per season, keep the profile centred so level and profile do not
  // drift apart along their shared degree of freedom. Amortised O(1).
  if (!season_.empty() && FloorDiv(t_ms, o.season_ms) != FloorDiv(t_last_ms_, o.season_ms)) {
    Recentre();
  }
  t_last_ms_ = t_ms;
  ++n_;
  const bool finite =
      Finite(level_) && Finite(trend_per_s_) && Finite(correction_) && Finite(scale_) &&
      Finite(scale_long_) &&
      (season_.empty() || (std::isfinite(season_[sp.lo]) && std::isfinite(season_[sp.hi])));
  if (!finite) Start(t_ms, value);
  return verdict;
}

void HoltWinters::Start(int64_t t_ms, double value) {
  *this = HoltWinters(options_);
  level_ = value;
  t_first_ms_ = t_ms;
  t_last_ms_ = t_ms;
  n_ = 1;
}

void HoltWinters::Recentre() {
  if (season_.empty()) return;
  double sum = 0;
  for (float s : season_) sum += s;
  const double mean = sum / static_cast<double>(season_.size());
  for (float& s : season_) s = static_cast<float>(s - mean);
  level_ += mean;
}

HoltWinters::Replay HoltWinters::ReplayWindow(double half_life_s) const {
  const double correction_half_life_s = Seconds(options_->correction_half_life_ms);
  const size_t first = (window_next_ + kWindowSize - window_size_) % kWindowSize;
  Replay replay;
  double correction = window_[first].deviation;
  double error_sum = 0;
  for (size_t k = 1; k < window_size_; ++k) {
    const Recent& r = window_[(first + k) % kWindowSize];
    const double decayed = correction * (1 - Weight(r.dt_s, correction_half_life_s));
    error_sum += std::abs(r.deviation - decayed);
    correction = decayed + Weight(std::min<double>(r.dt_s, kMaxLearnStepS), half_life_s) *
                               (r.deviation - decayed);
  }
  replay.mean_abs_error = error_sum / static_cast<double>(window_size_ - 1);
  replay.correction = correction;
  return replay;
}

void HoltWinters::Retrain() {
  Recentre();
  if (window_size_ < kMinReplaySamples) return;
  const Replay current = ReplayWindow(residual_half_life_s_);
  double best_half_life = residual_half_life_s_;
  Replay best = current;
  for (double candidate : kCandidateResidualHalfLivesS) {
    const Replay r = ReplayWindow(candidate);
    if (r.mean_abs_error < best.mean_abs_error) {
      best = r;
      best_half_life = candidate;
    }
  }
  if (!(best.mean_abs_error < kMinReplayGain * current.mean_abs_error)) return;
  // The band's scale is left to adapt over scale_half_life: narrowing it
  // at once on a 32-sample estimate would trade misses for false alarms.
  residual_half_life_s_ = best_half_life;
  correction_ = best.correction;
}

void HoltWinters::SerializeTo(std::string* out) const {
  out->reserve(out->size() + 96 + 4 * season_.size() + 8 * kWindowSize);
  StateWriter w(out);
  w.U8(kFormatVersion);
  w.U8(kKindTag);
  w.U64(options_->Fingerprint());
  w.I64(n_);
  w.I64(t_last_ms_);
  w.I64(t_first_ms_);
  w.F64(level_);
  w.F64(trend_per_s_);
  w.F64(correction_);
  w.F64(scale_);
  w.F64(scale_long_);
  w.F64(residual_half_life_s_);
  w.U32(static_cast<uint32_t>(season_.size()));
  for (float s : season_) w.F32(s);
  w.U8(window_size_);
  w.U8(window_next_);
  for (const Recent& r : window_) {
    w.F32(r.dt_s);
    w.F32(r.deviation);
  }
}

absl::Status HoltWinters::Restore(std::string_view state) {
  auto corrupt = [](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(kHoltWintersKind), " state rejected: ", std::string(why)));
  };
  StateReader r(state);
  uint8_t version = 0;
  uint8_t kind = 0;
  uint64_t fingerprint = 0;
  if (!r.U8(&version) || !r.U8(&kind) || !r.U64(&fingerprint)) {
    return corrupt("truncated header");
  }
  if (version != kFormatVersion) {
    return corrupt(absl::StrCat("unsupported format version ", version));
  }
  if (kind != kKindTag) return corrupt("written by another model kind");
  if (fingerprint != options_->Fingerprint()) {
    return corrupt("written with different model args");
  }
  HoltWinters next(options_);
  uint32_t buckets = 0;
  bool ok = r.I64(&next.n_) && r.I64(&next.t_last_ms_) && r.I64(&next.t_first_ms_) &&
            r.F64(&next.level_) && r.F64(&next.trend_per_s_) && r.F64(&next.correction_) &&
            r.F64(&next.scale_) && r.F64(&next.scale_long_) && r.F64(&next.residual_half_life_s_) &&
            r.U32(&buckets);
  if (!ok) return corrupt("truncated");
  if (buckets != next.season_.size()) return corrupt("wrong profile size");
  for (float& s : next.season_) {
    if (!r.F32(&s)) return corrupt("truncated profile");
    if (!std::isfinite(s)) return corrupt("non-finite profile value");
  }
  if (!r.U8(&next.window_size_) || !r.U8(&next.window_next_)) {
    return corrupt("truncated window");
  }
  for (Recent& recent : next.window_) {
    if (!r.F32(&recent.dt_s) || !r.F32(&recent.deviation)) {
      return corrupt("truncated window");
    }
    if (!std::isfinite(recent.dt_s) || !std::isfinite(recent.deviation) || recent.dt_s < 0) {
      return corrupt("bad window entry");
    }
  }
  if (!r.AtEnd()) return corrupt("trailing bytes");
  const double scalars[] = {next.level_, next.trend_per_s_, next.correction_,
                            next.scale_, next.scale_long_,  next.residual_half_life_s_};
  for (double v : scalars) {
    if (!Finite(v)) return corrupt("non-finite value");
  }
  if (next.n_ < 0 || next.t_first_ms_ > next.t_last_ms_ || next.scale_ < 0 ||
      next.scale_long_ < 0 || next.residual_half_life_s_ < 0 || next.window_size_ > kWindowSize ||
      next.window_next_ >= kWindowSize) {
    return corrupt("value out of range");
  }
  *this = std::move(next);
  return absl::OkStatus();
}

size_t HoltWinters::MemoryBytes() const {
  return sizeof(*this) + season_.capacity() * sizeof(float);
}

}  // namespace kad::models
