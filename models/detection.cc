#include "models/detection.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <numbers>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "models/state_codec.h"

namespace kad::models {
namespace {

constexpr uint8_t kFormatVersion = 1;
constexpr uint8_t kDetectorTag = 0xD1;

// Histogram of log2(raw z): kBins bins of kBinOctaves from 2^kMinLog2.
constexpr double kMinLog2 = -8;
constexpr double kBinOctaves = 0.25;
// Before the series has its own history the histogram holds this much
// weight of a prior: the raw z of Gaussian residuals against a 3-sigma
// band, so the published band starts close to the kind's own.
constexpr double kPriorMass = 50;
constexpr double kPriorBandSigmas = 3;
// Scores are capped so a zero-width band never publishes infinity.
constexpr double kMaxScore = 1e9;
// After a surprise the band stays widened to it, fading with this
// half-life in samples, so one incident alarms once, not on every sample
// of it (NAB: 60 beats 15, 30, 120 and 250).
constexpr double kSurpriseHalfLife = 60;
// The band widens after a surprise by at most this factor, so it never
// explodes: a spike a thousand bands high widens it 8x, fading over ~3
// half-lives. (Unbounded, NAB scored holt_winters higher, 45 against 38,
// by keeping it quiet for hundreds of samples after a big spike; a band
// that wide is useless to look at.)
constexpr double kMaxBoost = 8;
constexpr double kLearnCap = 2;
// Sustained errors: the mean raw z over the last ~10 samples against the
// mean over the last ~1000. When the short mean is kSustainedRatio times
// the long one the band has narrowed to half, at 3x to a third: a shift
// of moderate errors sample after sample is news even if no single one is
// (NAB: +5 points; ratio 2 beats 1.5, 2.5, 3 and 5; 10/1000 samples beat
// 5, 20, 30 and 300, 3000). Each raw z counts at most kSustainedZCap.
constexpr double kSustainedRatio = 2;
constexpr double kShortHalfLife = 10;
constexpr double kLongHalfLife = 1000;
constexpr double kSustainedZCap = 10;
// The tail beyond the 99% quantile is extrapolated as exponential in z,
// with the slope from the 90% and 99% quantiles.
constexpr double kLowerTail = 0.10;
constexpr double kUpperTail = 0.01;

double Log2Z(int bin_edge) { return kMinLog2 + kBinOctaves * bin_edge; }

int BinOf(double z) {
  if (!(z > 0)) return 0;
  const double b = (std::log2(z) - kMinLog2) / kBinOctaves;
  if (!(b < Detector::kBins)) return Detector::kBins - 1;
  return std::max(0, static_cast<int>(b));
}

// The Gaussian prior: mass of |N(0,1)| / kPriorBandSigmas in each bin.
std::array<float, Detector::kBins> ComputePrior() {
  std::array<float, Detector::kBins> h{};
  auto cdf = [](double z) {  // P(|N| / s <= z)
    return std::erf(z * kPriorBandSigmas / std::numbers::sqrt2);
  };
  for (int b = 0; b < Detector::kBins; ++b) {
    const double lo = b == 0 ? 0 : std::exp2(Log2Z(b));
    const double hi = b == Detector::kBins - 1 ? std::numeric_limits<double>::infinity()
                                               : std::exp2(Log2Z(b + 1));
    h[b] = static_cast<float>(kPriorMass * ((std::isinf(hi) ? 1 : cdf(hi)) - cdf(lo)));
  }
  return h;
}

// Computed once: every new Detector starts from it (a restart makes a
// million, each then restored over it).
const std::array<float, Detector::kBins>& Prior() {
  static const std::array<float, Detector::kBins> prior = ComputePrior();
  return prior;
}

absl::Status ParseMinDev(const std::string& text, DetectionOptions* o) {
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    const bool relative = absl::ConsumeSuffix(&part, "%");
    double v;
    if (!absl::SimpleAtod(part, &v) || !(v >= 0) || !std::isfinite(v)) {
      return absl::InvalidArgumentError(
          "min_dev_from_expected: want a number >= 0, a percentage like 10%, or both");
    }
    (relative ? o->min_dev_relative : o->min_dev_abs) = relative ? v / 100 : v;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status DetectionOptions::Validate() const {
  if (min_n_samples_seen < 1) {
    return absl::InvalidArgumentError("min_n_samples_seen must be >= 1");
  }
  if (!(alarm_probability > 0 && alarm_probability < kUpperTail)) {
    return absl::InvalidArgumentError("alarm_probability must be in (0, 0.01)");
  }
  if (!(likelihood_half_life >= 1) || !std::isfinite(likelihood_half_life)) {
    return absl::InvalidArgumentError("likelihood_half_life must be >= 1 (samples)");
  }
  if (!(min_dev_abs >= 0) || !(min_dev_relative >= 0)) {
    return absl::InvalidArgumentError("min_dev_from_expected must not be negative");
  }
  return absl::OkStatus();
}

absl::StatusOr<DetectionOptions> DetectionOptions::Extract(std::string_view kind, ModelArgs* args) {
  DetectionOptions o;
  auto fail = [&](const std::string& name, const std::string& text, std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(kind), " arg \"", name, "\" = \"",
                                                   text, "\": ", std::string(why)));
  };
  auto take = [&](const std::string& name) -> std::optional<std::string> {
    auto it = args->find(name);
    if (it == args->end()) return std::nullopt;
    std::string text = std::move(it->second);
    args->erase(it);
    return text;
  };
  if (auto text = take("detection_direction")) {
    if (*text == "both") {
      o.direction = Direction::kBoth;
    } else if (*text == "above_expected") {
      o.direction = Direction::kAboveExpected;
    } else if (*text == "below_expected") {
      o.direction = Direction::kBelowExpected;
    } else {
      return fail("detection_direction", *text, "want both, above_expected or below_expected");
    }
  }
  if (auto text = take("min_dev_from_expected")) {
    if (absl::Status s = ParseMinDev(*text, &o); !s.ok()) {
      return fail("min_dev_from_expected", *text, std::string(s.message()));
    }
  }
  if (auto text = take("min_n_samples_seen")) {
    if (!absl::SimpleAtoi(*text, &o.min_n_samples_seen) || o.min_n_samples_seen < 1) {
      return fail("min_n_samples_seen", *text, "want an integer >= 1");
    }
  }
  if (auto text = take("alarm_probability")) {
    if (!absl::SimpleAtod(*text, &o.alarm_probability)) {
      return fail("alarm_probability", *text, "not a number");
    }
  }
  if (auto text = take("likelihood_half_life")) {
    if (!absl::SimpleAtod(*text, &o.likelihood_half_life)) {
      return fail("likelihood_half_life", *text, "not a number");
    }
  }
  if (absl::Status s = o.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(kind), " arg ", s.message()));
  }
  return o;
}

uint64_t DetectionOptions::Fingerprint() const {
  return OptionsFingerprint([&](StateWriter& w) {
    w.U8(static_cast<uint8_t>(direction));
    w.F64(min_dev_abs);
    w.F64(min_dev_relative);
    w.I64(min_n_samples_seen);
    w.F64(alarm_probability);
    w.F64(likelihood_half_life);
  });
}

Detector::Detector(std::shared_ptr<const DetectionOptions> options,
                   std::unique_ptr<Forecaster> kind)
    : options_(std::move(options)),
      kind_(std::move(kind)),
      histogram_keep_(static_cast<float>(std::exp2(-1 / options_->likelihood_half_life))),
      histogram_(Prior()),
      alarm_z_(AlarmZ()) {}

void Detector::Prefetch(int step) const {
  // The kind is one pointer further: its first line (vtable pointer) once
  // kind_ has arrived, then its own steps, one behind.
  if (step == 0) {
    PrefetchBytes(this, sizeof(*this));
  } else if (step == 1) {
    __builtin_prefetch(kind_.get());
  } else {
    kind_->Prefetch(step - 2);
  }
}

double Detector::AlarmZ() const {
  // The mass in kLanes running sums, which the CPU adds side by side
  // instead of waiting for each addition before the next (it runs for
  // every sample).
  constexpr int kLanes = 8;
  static_assert(kBins % kLanes == 0);
  double lanes[kLanes] = {};
  for (int b = 0; b < kBins; b += kLanes) {
    for (int k = 0; k < kLanes; ++k) lanes[k] += histogram_[b + k];
  }
  const double mass = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
                      ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
  // Upper-tail quantiles, interpolated in log z within a bin.
  auto quantile = [&](double tail) {
    const double target = tail * mass;
    double above = 0;
    for (int b = kBins - 1; b >= 0; --b) {
      const double in_bin = histogram_[b];
      if (above + in_bin >= target && in_bin > 0) {
        const double frac = (target - above) / in_bin;  // from the bin's top
        return std::exp2(Log2Z(b + 1) - frac * kBinOctaves);
      }
      above += in_bin;
    }
    return std::exp2(kMinLog2);
  };
  const double z_lower = quantile(kLowerTail);
  const double z_upper = std::max(quantile(kUpperTail), z_lower);
  const double octaves = (std::log(options_->alarm_probability) - std::log(kUpperTail)) /
                         (std::log(kUpperTail) - std::log(kLowerTail));
  return z_upper + (z_upper - z_lower) * octaves;
}

Forecast Detector::Publish(const Forecast& raw, double alarm_z) const {
  const DetectionOptions& o = *options_;
  const double min_dev = std::max(o.min_dev_abs, o.min_dev_relative * std::abs(raw.yhat));
  const double up = std::max(alarm_z * (raw.yhat_upper - raw.yhat), min_dev);
  const double down = std::max(alarm_z * (raw.yhat - raw.yhat_lower), min_dev);
  return Forecast{raw.yhat, raw.yhat - down, raw.yhat + up};
}

double Detector::Score(const Forecast& f, double value) const {
  const double error = value - f.yhat;
  const bool above = error > 0;
  if (above && options_->direction == DetectionOptions::Direction::kBelowExpected) return 0;
  if (!above && options_->direction == DetectionOptions::Direction::kAboveExpected) return 0;
  const double half_width = above ? f.yhat_upper - f.yhat : f.yhat - f.yhat_lower;
  if (error == 0) return 0;
  if (!std::isfinite(error)) return kMaxScore;
  if (!(half_width > 0)) return kMaxScore;
  return std::min(std::abs(error) / half_width, kMaxScore);
}

void Detector::Learn(double raw_z) {
  for (float& h : histogram_) h *= histogram_keep_;
  histogram_[BinOf(raw_z)] += 1;
}

Verdict Detector::Observe(int64_t t_ms, double value) {
  const Verdict raw = kind_->Observe(t_ms, value);
  Verdict v;
  const double alarm_z = alarm_z_;
  const double sustained =
      std::max(1.0, (short_z_ / std::max(long_z_, 1e-12) - 1) / (kSustainedRatio - 1));
  v.forecast = Publish(raw.forecast, alarm_z * std::max(1.0, recent_surprise_) / sustained);
  v.anomaly_score = Score(v.forecast, value);

  const bool warmed_up = n_ >= options_->min_n_samples_seen;
  if (!warmed_up) v.anomaly_score = std::min(v.anomaly_score, 1.0);
  v.anomaly = warmed_up && v.anomaly_score > 1;
  // The series' own error distribution starts after warm-up: the kind's
  // first residuals measure its learning, not the series.
  if (warmed_up) {
    const double unboosted = v.anomaly_score * std::max(1.0, recent_surprise_);
    recent_surprise_ = std::max(recent_surprise_ * std::exp2(-1 / kSurpriseHalfLife),
                                std::min(unboosted, kMaxBoost));
    const double error = value - raw.forecast.yhat;
    const double half_width = error > 0 ? raw.forecast.yhat_upper - raw.forecast.yhat
                                        : raw.forecast.yhat - raw.forecast.yhat_lower;
    double raw_z = half_width > 0 ? std::abs(error) / half_width : (error == 0 ? 0 : kMaxScore);
    if (!(raw_z <= kMaxScore)) raw_z = kMaxScore;  // also an overflowed (NaN) error
    const double capped = std::min(raw_z, kSustainedZCap);
    // Running means at first, so both start from the same errors.
    const double learnt = static_cast<double>(n_ - options_->min_n_samples_seen + 1);
    short_z_ += (capped - short_z_) *
                std::max(1 / learnt, -std::expm1(-std::numbers::ln2 / kShortHalfLife));
    long_z_ +=
        (capped - long_z_) * std::max(1 / learnt, -std::expm1(-std::numbers::ln2 / kLongHalfLife));
    // Learnt at most kLearnCap alarm widths out, so one early spike cannot
    // swamp the tail estimate; a heavier tail is still learnt, step by step.
    Learn(std::min(raw_z, kLearnCap * alarm_z));
    alarm_z_ = AlarmZ();
  }
  ++n_;
  return v;
}

Forecast Detector::Predict(int64_t t_ms) const { return Publish(kind_->Predict(t_ms), alarm_z_); }

void Detector::Retrain() { kind_->Retrain(); }

StateHeader Detector::Header() const {
  return StateHeader{"detector", kFormatVersion, kDetectorTag, options_->Fingerprint()};
}

void Detector::SerializeTo(std::string* out) const {
  StateWriter w(out);
  WriteStateHeader(Header(), &w);
  w.I64(n_);
  w.F64(recent_surprise_);
  w.F64(short_z_);
  w.F64(long_z_);
  for (float h : histogram_) w.F32(h);
  kind_->SerializeTo(out);
}

absl::Status Detector::Restore(std::string_view state) {
  auto corrupt = [](std::string_view why) { return StateRejected("detector", why); };
  StateReader r(state);
  if (absl::Status s = ReadStateHeader(Header(), &r); !s.ok()) return s;
  int64_t n = 0;
  double surprise = 0;
  double short_z = 0;
  double long_z = 0;
  std::array<float, kBins> histogram{};
  if (!r.I64(&n) || !r.F64(&surprise) || !r.F64(&short_z) || !r.F64(&long_z)) {
    return corrupt("truncated");
  }
  double mass = 0;
  for (float& h : histogram) {
    if (!r.F32(&h)) return corrupt("truncated histogram");
    if (!(h >= 0) || !std::isfinite(h)) return corrupt("bad histogram value");
    mass += h;
  }
  const bool in_range = [](std::initializer_list<double> vs) {
    for (double v : vs) {
      if (!(v >= 0) || !std::isfinite(v)) return false;
    }
    return true;
  }({surprise, short_z, long_z});
  if (n < 0 || !(mass > 0) || !in_range) {
    return corrupt("value out of range");
  }
  const size_t header = 2 + 8 + 8 + 3 * 8 + 4 * kBins;
  if (absl::Status s = kind_->Restore(state.substr(header)); !s.ok()) return s;
  n_ = n;
  recent_surprise_ = surprise;
  short_z_ = short_z;
  long_z_ = long_z;
  histogram_ = histogram;
  alarm_z_ = AlarmZ();
  return absl::OkStatus();
}

}  // namespace kad::models
