#include "models/holt_winters.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <utility>

#include "absl/strings/str_cat.h"
#include "models/model_args.h"
#include "models/smoothing.h"
#include "models/state_codec.h"

namespace kad::models {
namespace {

constexpr uint8_t kFormatVersion = 1;
constexpr uint8_t kKindTag = 1;  // holt_winters, in every state's header

// The seasonal profile learns up to this many sigmas: a sharp daily edge
// is a pattern to learn, not a spike to resist (NAB: 6 beats 3; the profile
// still moves at most 6 sigmas a pass for a one-off spike).
constexpr double kSeasonClipSigmas = 6;
// Until this many samples the residual scale is not trusted: nothing is
// clipped and no sample is an anomaly (the scale is then within ~15%).
constexpr int64_t kWarmUpSamples = 30;
// Retrain() refits the correction only from at least this many samples and
// switches half-life only for at least this much less error.
constexpr size_t kMinReplaySamples = 8;
constexpr double kMinReplayGain = 0.98;
// During the first seasons each bucket learns at least like a running mean
// of the passes so far (1/(k+1) of the gap on pass k, at most this much),
// so the shape is usable after a day instead of after several half-lives.
constexpr double kMaxBootstrapSeasonGain = 0.9;
// season: auto looks for a new cycle at most this often (in data time):
// detection scans the whole history, about 60 us.
constexpr int64_t kDetectionIntervalMs = 6 * 3'600'000LL;
constexpr std::array<double, 7> kCandidateResidualHalfLivesS = {0, 15, 30, 60, 120, 300, 600};

StateHeader Header(const HoltWintersOptions& o) {
  return {kHoltWintersKind, kFormatVersion, kKindTag, o.Fingerprint()};
}

}  // namespace

absl::Status HoltWintersOptions::Validate() const {
  auto bad = [](std::string_view what) { return OptionsError(kHoltWintersKind, what); };
  if (season_ms < 0 && season_ms != kSeasonAuto) return bad("season must not be negative");
  if (season_ms != 0 && (season_buckets < 1 || season_buckets > 65'535)) {
    return bad(absl::StrCat("season_buckets must be in [1, 65535], got ", season_buckets));
  }
  if (season_ms > 0 && season_ms < season_buckets) {
    return bad("season is shorter than one millisecond per bucket");
  }
  if (absl::Status s = ValidateBandSigmas(kHoltWintersKind, band_sigmas); !s.ok()) return s;
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
  // "auto" is the default; the reader parses the other values.
  ModelArgs rest = args;
  if (auto it = rest.find("season"); it != rest.end() && it->second == "auto") rest.erase(it);
  ModelArgReader r(kHoltWintersKind, rest);
  r.DurationOrNone("season", 0, &o.season_ms);
  r.Int("season_buckets", &o.season_buckets);
  r.Double("band_sigmas", &o.band_sigmas);
  r.Duration("level_half_life", &o.level_half_life_ms);
  r.Duration("trend_half_life", &o.trend_half_life_ms);
  r.Duration("trend_damping", &o.trend_damping_ms);
  r.Double("season_half_life", &o.season_half_life);
  r.Duration("residual_half_life", &o.residual_half_life_ms);
  r.Duration("correction_half_life", &o.correction_half_life_ms);
  r.Duration("scale_half_life", &o.scale_half_life_ms);
  return r.Finish(o);
}

uint64_t HoltWintersOptions::Fingerprint() const {
  return OptionsFingerprint([this](StateWriter& w) {
    w.I64(season_ms);
    w.I64(season_buckets);
    w.F64(band_sigmas);
    w.I64(level_half_life_ms);
    w.I64(trend_half_life_ms);
    w.I64(trend_damping_ms);
    w.F64(season_half_life);
    w.I64(residual_half_life_ms);
    w.I64(correction_half_life_ms);
    w.I64(scale_half_life_ms);
  });
}

absl::StatusOr<ModelFactory> MakeHoltWintersFactory(const HoltWintersOptions& options) {
  return MakeFactoryOf<HoltWinters>(kHoltWintersKind, options);
}

HoltWinters::HoltWinters(std::shared_ptr<const HoltWintersOptions> options)
    : options_(std::move(options)),
      residual_half_life_s_(Seconds(options_->residual_half_life_ms)),
      season_ms_(std::max<int64_t>(options_->season_ms, 0)),
      season_(options_->season_ms != 0 ? options_->season_buckets : 0, 0.0f) {}

HoltWinters::SeasonPoint HoltWinters::LocateInSeason(int64_t t_ms) const {
  const int64_t season = season_ms_;
  const int64_t phase_ms = t_ms - FloorDiv(t_ms, season) * season;
  const size_t buckets = season_.size();
  // Bucket i sits at i bucket widths into the season, so samples on a
  // round grid (every 5 minutes, say) each land on one bucket exactly.
  const double x =
      static_cast<double>(phase_ms) / static_cast<double>(season) * static_cast<double>(buckets);
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

HoltWinters::Parts HoltWinters::Decompose(int64_t t_ms) const {
  const HoltWintersOptions& o = *options_;
  const double h = Seconds(std::max<int64_t>(t_ms - t_last_ms_, 0));
  // The trend fades along the horizon: integral of 2^(-s / damping) ds.
  const double damping_tau = Seconds(o.trend_damping_ms) / std::numbers::ln2;
  const double fade = 1 - Weight(h, Seconds(o.correction_half_life_ms));
  Parts p;
  p.base = level_ + trend_per_s_ * damping_tau * -std::expm1(-h / damping_tau);
  if (season_ms_ > 0) p.seasonal = SeasonalAt(LocateInSeason(t_ms));
  p.correction = correction_ * fade;
  // Far ahead the correction is gone, so the error is the deviation from
  // baseline+season; the band widens towards that, never narrows.
  p.half_width = o.band_sigmas * kMeanAbsToSigma * scales_.At(fade, ScaleFloor(level_));
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
  // of double can overflow the forecast or the error, and then learning starts afresh
  // rather than poisoning every later forecast with NaN.
  const Parts p = n_ == 0 ? Parts{} : Decompose(t_ms);
  const double yhat = p.yhat();
  if (n_ == 0 || !Finite(yhat) || !Finite(p.half_width) || !Finite(value - yhat)) {
    Start(t_ms, value);
    return Verdict{Forecast{value, value, value}, 0, false};
  }
  if (options_->season_ms == kSeasonAuto) history_.Add(t_ms, value);
  const int64_t dt_ms = std::max<int64_t>(t_ms - t_last_ms_, 0);
  const double dt_s = Seconds(dt_ms);
  const double learn_s = std::min(dt_s, kMaxLearnStepS);

  Verdict verdict;
  verdict.forecast = Forecast{yhat, yhat - p.half_width, yhat + p.half_width};
  const double error = value - yhat;
  verdict.anomaly_score = std::abs(error) / p.half_width;
  const bool warmed_up = n_ >= kWarmUpSamples;
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
  scales_.Learn(w_scale, error, value - p.base - p.seasonal, ScaleFloor(level_), warmed_up);

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
  if (season_ms_ > 0) {
    sp = LocateInSeason(t_ms);
    const double bucket_s = Seconds(season_ms_) / season_.size();
    const double passes = static_cast<double>(FloorDiv(t_ms - t_first_ms_, season_ms_));
    const double gain_per_pass = std::max(-std::expm1(-std::numbers::ln2 / o.season_half_life),
                                          std::min(kMaxBootstrapSeasonGain, 1 / (passes + 1)));
    const double w = -std::expm1(std::log1p(-gain_per_pass) * learn_s / bucket_s);
    const double season_clip = warmed_up ? kSeasonClipSigmas * sigma : inf;
    const double seasonal_target = yhat + std::clamp(error, -season_clip, season_clip);
    const double step = w * (seasonal_target - level_ - p.seasonal);
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
  if (season_ms_ > 0 && FloorDiv(t_ms, season_ms_) != FloorDiv(t_last_ms_, season_ms_)) {
    Recentre();
  }
  t_last_ms_ = t_ms;
  ++n_;
  const bool finite =
      Finite(level_) && Finite(trend_per_s_) && Finite(correction_) && Finite(scales_.one_step) &&
      Finite(scales_.baseline) &&
      (season_ms_ == 0 || (std::isfinite(season_[sp.lo]) && std::isfinite(season_[sp.hi])));
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
  if (season_ms_ == 0) return;
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

void HoltWinters::DetectSeason() {
  if (options_->season_ms != kSeasonAuto) return;
  if (t_last_ms_ - last_detection_ms_ < kDetectionIntervalMs) return;
  last_detection_ms_ = t_last_ms_;
  const int64_t detected = history_.DetectSeasonMs(season_ms_);
  if (detected == season_ms_) return;
  // A new cycle: the old profile's mean stays in the level, its shape goes,
  // and the new one learns from now like a first season.
  Recentre();
  std::fill(season_.begin(), season_.end(), 0.0f);
  season_ms_ = detected;
  t_first_ms_ = t_last_ms_;
}

void HoltWinters::Retrain() {
  DetectSeason();
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
  WriteStateHeader(Header(*options_), &w);
  w.I64(n_);
  w.I64(t_last_ms_);
  w.I64(t_first_ms_);
  w.F64(level_);
  w.F64(trend_per_s_);
  w.F64(correction_);
  w.F64(scales_.one_step);
  w.F64(scales_.baseline);
  w.F64(residual_half_life_s_);
  w.I64(season_ms_);
  w.I64(last_detection_ms_);
  w.U32(static_cast<uint32_t>(season_.size()));
  for (float s : season_) w.F32(s);
  w.U8(window_size_);
  w.U8(window_next_);
  for (const Recent& r : window_) {
    w.F32(r.dt_s);
    w.F32(r.deviation);
  }
  // Last, and of fixed size, so Restore() can slice it off.
  if (options_->season_ms == kSeasonAuto) history_.SerializeTo(out);
}

absl::Status HoltWinters::Restore(std::string_view state) {
  auto corrupt = [](std::string_view why) { return StateRejected(kHoltWintersKind, why); };
  HoltWinters next(options_);
  if (options_->season_ms == kSeasonAuto) {
    if (state.size() < SeasonHistory::kSerializedBytes) return corrupt("truncated");
    const size_t body = state.size() - SeasonHistory::kSerializedBytes;
    if (absl::Status s = next.history_.Restore(state.substr(body)); !s.ok()) {
      return corrupt(std::string(s.message()));
    }
    state = state.substr(0, body);
  }
  StateReader r(state);
  if (absl::Status s = ReadStateHeader(Header(*options_), &r); !s.ok()) return s;
  uint32_t buckets = 0;
  bool ok = r.I64(&next.n_) && r.I64(&next.t_last_ms_) && r.I64(&next.t_first_ms_) &&
            r.F64(&next.level_) && r.F64(&next.trend_per_s_) && r.F64(&next.correction_) &&
            r.F64(&next.scales_.one_step) && r.F64(&next.scales_.baseline) &&
            r.F64(&next.residual_half_life_s_) && r.I64(&next.season_ms_) &&
            r.I64(&next.last_detection_ms_) && r.U32(&buckets);
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
  const double scalars[] = {next.level_,           next.trend_per_s_,
                            next.correction_,      next.scales_.one_step,
                            next.scales_.baseline, next.residual_half_life_s_};
  for (double v : scalars) {
    if (!Finite(v)) return corrupt("non-finite value");
  }
  if (next.n_ < 0 || next.t_first_ms_ > next.t_last_ms_ || next.scales_.one_step < 0 ||
      next.scales_.baseline < 0 || next.residual_half_life_s_ < 0 ||
      next.window_size_ > kWindowSize || next.window_next_ >= kWindowSize ||
      !next.SeasonAllowed(next.season_ms_)) {
    return corrupt("value out of range");
  }
  *this = std::move(next);
  return absl::OkStatus();
}

bool HoltWinters::SeasonAllowed(int64_t season_ms) const {
  if (options_->season_ms != kSeasonAuto)
    return season_ms == std::max<int64_t>(options_->season_ms, 0);
  return season_ms == 0 || season_ms >= static_cast<int64_t>(season_.size());
}

size_t HoltWinters::MemoryBytes() const {
  return sizeof(*this) + season_.capacity() * sizeof(float);
}

}  // namespace kad::models
