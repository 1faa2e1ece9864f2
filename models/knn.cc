#include "models/knn.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "models/model_args.h"
#include "models/smoothing.h"
#include "models/state_codec.h"

namespace kad::models {
namespace {

constexpr uint8_t kFormatVersion = 1;
constexpr uint8_t kKindTag = 4;  // knn, in every state's header

// The band edge comes from the largest eighth of the calibration set: their
// mean is this many sigmas for a normal |residual| (the mean of |z| above
// its 87.5th percentile, phi(1.5341) / 0.0625). A mean over 16 alphas is
// steadier than any one order statistic.
constexpr size_t kTailFraction = 8;
constexpr double kTailMeanToSigma = 1.9677;
// Until this many alphas are in, the nonconformity's sigma is taken as 1.
constexpr size_t kMinCalibration = 16;
// The successors' spread counts this much towards u: it makes the band
// local (narrow where the past agreed on what comes next), but as a mean
// over k values it is noisy, and at full weight widens the tails of alpha.
constexpr double kSpreadWeight = 0.5;
// The nonconformity's sigma never falls below this: a run of perfect
// forecasts (a constant series) does not shrink the band to nothing.
constexpr double kMinAlphaSigma = 0.1;
// Weight of one sample in the decayed mean |error|: a half-life of 512
// samples. The local part of u is the successors' spread; this is the
// series' usual error, slow so a burst of errors still stands out (on NAB
// a half-life of 32 samples scored 5 points lower).
constexpr double kErrorWeight = 0.00135288710902981;  // 1 - 2^(-1/512)
// Retrain() replays this many samples, at most once per kRefitEvery
// samples (more often would reuse the same evidence), and switches k only
// for at least kMinReplayGain less error.
constexpr size_t kReplaySamples = 16;
constexpr uint8_t kRefitEvery = 64;
constexpr size_t kReplayLags = Knn::kHistory - kReplaySamples;
constexpr double kMinReplayGain = 0.98;

StateHeader Header(const KnnOptions& o) {
  return {kKnnKind, kFormatVersion, kKindTag, o.Fingerprint()};
}

static_assert(Knn::kHistory <= 256, "a pattern's age must fit in 8 bits");
// Distances() sums this many lags at once, in registers.
constexpr size_t kLagBlock = 8;

// Alphas are kept as the top half of their float's bits (a truncated
// bfloat16): within 1/128 of the value, plenty for a band edge, and for
// values >= 0 the order of the codes is the order of the values.
uint16_t EncodeAlpha(double alpha) {
  const float clamped =
      static_cast<float>(std::min(alpha, double{std::numeric_limits<float>::max()}));
  return static_cast<uint16_t>(std::bit_cast<uint32_t>(clamped) >> 16);
}
double DecodeAlpha(uint16_t code) { return std::bit_cast<float>(uint32_t{code} << 16); }
// Codes of finite values >= 0: sign bit clear, exponent not all ones.
constexpr uint16_t kFirstNonFiniteCode = 0x7f80;

}  // namespace

absl::Status KnnOptions::Validate() const {
  auto bad = [](std::string_view what) { return OptionsError(kKnnKind, what); };
  if (window < 1 || window > kMaxWindow) {
    return bad(absl::StrCat("window must be in [1, ", kMaxWindow, "], got ", window));
  }
  if (k < 1 || k > kMaxK) return bad(absl::StrCat("k must be in [1, ", kMaxK, "], got ", k));
  return ValidateBandSigmas(kKnnKind, band_sigmas);
}

absl::StatusOr<KnnOptions> KnnOptions::FromArgs(const ModelArgs& args) {
  KnnOptions o;
  ModelArgReader r(kKnnKind, args);
  r.Int("window", &o.window);
  r.Int("k", &o.k);
  r.Double("band_sigmas", &o.band_sigmas);
  return r.Finish(o);
}

uint64_t KnnOptions::Fingerprint() const {
  return OptionsFingerprint([this](StateWriter& w) {
    w.I64(window);
    w.I64(k);
    w.F64(band_sigmas);
  });
}

absl::StatusOr<ModelFactory> MakeKnnFactory(const KnnOptions& options) {
  return MakeFactoryOf<Knn>(kKnnKind, options);
}

Knn::Knn(std::shared_ptr<const KnnOptions> options)
    : options_(std::move(options)), k_(static_cast<uint8_t>(options_->k)) {}

template <size_t kLags>
void Knn::Distances(size_t query_end, double* __restrict distance) const {
  static_assert(kLags % kLagBlock == 0);
  const size_t window = static_cast<size_t>(options_->window);
  // Pattern j ends kLags - j values before the query. A block of lags is
  // summed in registers over the window: independent sums (no chain of
  // dependent adds) and a fixed trip count the compiler vectorises.
  for (size_t block = 0; block < kLags; block += kLagBlock) {
    std::array<double, kLagBlock> sum{};
    for (size_t i = 0; i < window; ++i) {
      const double q = values_[query_end - i];
      const double* pattern = values_.data() + query_end - i - kLags + block;
#pragma GCC unroll 8
      for (size_t j = 0; j < kLagBlock; ++j) sum[j] += std::abs(q - pattern[j]);
    }
    std::copy(sum.begin(), sum.end(), distance + block);
  }
}

template <size_t kLags>
Knn::Neighbours Knn::Nearest(size_t query_end, size_t valid, size_t kk) const {
  std::array<double, kLags> distance;
  Distances<kLags>(query_end, distance.data());
  // Each distance (>= 0, so its bits order like its value) carries its
  // pattern's age in the low 8 bits: one integer key to keep sorted, and
  // among equally near patterns (to 2^-44 relative) the newest wins.
  std::array<uint64_t, KnnOptions::kMaxK> nearest;
  size_t count = 0;
  for (size_t age = 0; age < valid; ++age) {
    const uint64_t key =
        (std::bit_cast<uint64_t>(distance[kLags - 1 - age]) & ~uint64_t{0xff}) | age;
    if (count == kk && key >= nearest[kk - 1]) continue;
    size_t at = count < kk ? count++ : kk - 1;
    for (; at > 0 && key < nearest[at - 1]; --at) nearest[at] = nearest[at - 1];
    nearest[at] = key;
  }
  Neighbours n;
  n.count = count;
  for (size_t i = 0; i < count; ++i) {
    n.end[i] = static_cast<uint16_t>(query_end - 1 - (nearest[i] & 0xff));
  }
  return n;
}

double Knn::MeanSuccessor(const Neighbours& n, size_t k) const {
  double mean = 0;
  // Each divided first, so huge values do not overflow the sum.
  for (size_t j = 0; j < k; ++j) mean += values_[n.end[j] + 1] / static_cast<double>(k);
  return mean;
}

void Knn::AddAlpha(uint16_t alpha) {
  uint16_t* sorted_end = sorted_.data() + calibration_size_;
  if (calibration_size_ == kCalibrationSize) {
    // The oldest alpha leaves the sorted copy to make room.
    uint16_t* oldest =
        std::lower_bound(sorted_.data(), sorted_end, calibration_[calibration_next_]);
    std::copy(oldest + 1, sorted_end, oldest);
    --sorted_end;
  } else {
    ++calibration_size_;
  }
  uint16_t* at = std::upper_bound(sorted_.data(), sorted_end, alpha);
  std::copy_backward(at, sorted_end, sorted_end + 1);
  *at = alpha;
  calibration_[calibration_next_] = alpha;
  calibration_next_ = static_cast<uint8_t>((calibration_next_ + 1) % kCalibrationSize);
}

bool Knn::WarmedUp() const { return calibration_size_ >= kCalibrationSize / 2; }

void Knn::Prepare() {
  const size_t last = Buffer() - 1;
  double yhat = values_[last];
  double spread = 0;
  // Patterns whose successor is known end at most at last - 1.
  if (count_ > options_->window) {
    // All kHistory lags are measured (a fixed trip count the compiler
    // vectorises); those before the first value are not chosen.
    const Neighbours n = Nearest<kHistory>(last, count_ - options_->window, k_);
    yhat = MeanSuccessor(n, n.count);
    for (size_t j = 0; j < n.count; ++j) spread += std::abs(values_[n.end[j] + 1] - yhat);
    spread /= static_cast<double>(n.count);
  }
  double alpha_sigma = 1;
  if (calibration_size_ >= kMinCalibration) {
    const size_t tail = calibration_size_ / kTailFraction;
    double sum = 0;
    for (size_t i = calibration_size_ - tail; i < calibration_size_; ++i)
      sum += DecodeAlpha(sorted_[i]);
    alpha_sigma = std::max(sum / static_cast<double>(tail) / kTailMeanToSigma, kMinAlphaSigma);
  }
  next_.uncertainty = kSpreadWeight * spread + error_scale_ + ScaleFloor(yhat);
  next_.alpha_sigma = alpha_sigma;
  const double half_width = options_->band_sigmas * alpha_sigma * next_.uncertainty;
  next_.forecast = Forecast{yhat, yhat - half_width, yhat + half_width};
}

Forecast Knn::Predict(int64_t t_ms) const { return next_.forecast; }

Verdict Knn::Observe(int64_t t_ms, double value) {
  const Forecast f = next_.forecast;
  const double error = value - f.yhat;
  // Near the limits of double the error overflows; learning then starts
  // afresh rather than poisoning every later verdict.
  if (n_ == 0 || !Finite(error)) {
    Start(value);
    return Verdict{Forecast{value, value, value}, 0, false};
  }
  Verdict verdict;
  verdict.forecast = f;
  verdict.anomaly_score = std::abs(error) / (f.yhat_upper - f.yhat);
  const bool warmed_up = WarmedUp();
  verdict.anomaly = warmed_up && verdict.anomaly_score > 1;

  // Alphas are clipped from the start (their sigma starts at 1, the scale
  // alpha has by construction), so a spike in warm-up does not inflate the
  // band for the next kCalibrationSize samples. Before warm-up the error
  // scale is not trusted yet, so errors are not clipped.
  const double inf = std::numeric_limits<double>::infinity();
  const double alpha = std::abs(error) / next_.uncertainty;
  AddAlpha(EncodeAlpha(std::min(alpha, kClipSigmas * next_.alpha_sigma)));
  const double error_cap =
      warmed_up ? kClipSigmas * kMeanAbsToSigma * std::max(error_scale_, ScaleFloor(f.yhat)) : inf;
  const double w = std::max(kErrorWeight, 1.0 / static_cast<double>(n_));
  error_scale_ += w * (std::min(std::abs(error), error_cap) - error_scale_);

  const size_t buffer = Buffer();
  std::memmove(values_.data(), values_.data() + 1, (buffer - 1) * sizeof(double));
  values_[buffer - 1] = value;
  if (count_ < buffer) ++count_;
  if (samples_since_refit_ < kRefitEvery) ++samples_since_refit_;
  ++n_;
  Prepare();
  if (!Finite(error_scale_) || !Finite(next_.forecast.yhat_lower) ||
      !Finite(next_.forecast.yhat_upper)) {
    Start(value);
  }
  return verdict;
}

void Knn::Start(double value) {
  *this = Knn(options_);
  values_[Buffer() - 1] = value;
  count_ = 1;
  n_ = 1;
  Prepare();
}

void Knn::Retrain() {
  const size_t buffer = Buffer();
  const size_t first_target = buffer - kReplaySamples;
  // Each replayed forecast chooses among the kReplayLags patterns before
  // it, the oldest of which starts at the oldest value kept.
  if (count_ < buffer || samples_since_refit_ < kRefitEvery) return;
  samples_since_refit_ = 0;
  std::array<double, KnnOptions::kMaxK + 1> error{};
  for (size_t target = first_target; target < buffer; ++target) {
    const Neighbours n = Nearest<kReplayLags>(target - 1, kReplayLags, KnnOptions::kMaxK);
    for (size_t k = 1; k <= n.count; ++k) {
      error[k] += std::abs(values_[target] - MeanSuccessor(n, k));
    }
  }
  size_t best = k_;
  for (size_t k = 1; k <= KnnOptions::kMaxK; ++k) {
    if (error[k] < error[best]) best = k;
  }
  if (!(error[best] < kMinReplayGain * error[k_])) return;
  k_ = static_cast<uint8_t>(best);
  Prepare();
}

void Knn::SerializeTo(std::string* out) const {
  out->reserve(out->size() + 40 + 8 * count_ + 2 * kCalibrationSize);
  StateWriter w(out);
  WriteStateHeader(Header(*options_), &w);
  w.I64(n_);
  w.F64(error_scale_);
  w.U8(k_);
  w.U8(samples_since_refit_);
  w.U16(count_);
  for (size_t i = Buffer() - count_; i < Buffer(); ++i) w.F64(values_[i]);
  w.U8(calibration_size_);
  w.U8(calibration_next_);
  for (uint16_t a : calibration_) w.U16(a);
}

absl::Status Knn::Restore(std::string_view state) {
  auto corrupt = [](std::string_view why) { return StateRejected(kKnnKind, why); };
  StateReader r(state);
  if (absl::Status s = ReadStateHeader(Header(*options_), &r); !s.ok()) return s;
  Knn next(options_);
  if (!r.I64(&next.n_) || !r.F64(&next.error_scale_) || !r.U8(&next.k_) ||
      !r.U8(&next.samples_since_refit_) || !r.U16(&next.count_)) {
    return corrupt("truncated");
  }
  const size_t buffer = Buffer();
  if (next.n_ < 1 || next.count_ != std::min<int64_t>(next.n_, buffer)) {
    return corrupt("sample count out of range");
  }
  for (size_t i = buffer - next.count_; i < buffer; ++i) {
    if (!r.F64(&next.values_[i])) return corrupt("truncated values");
    if (!Finite(next.values_[i])) return corrupt("non-finite value");
  }
  if (!r.U8(&next.calibration_size_) || !r.U8(&next.calibration_next_)) {
    return corrupt("truncated calibration");
  }
  for (uint16_t& a : next.calibration_) {
    if (!r.U16(&a)) return corrupt("truncated calibration");
    if (a >= kFirstNonFiniteCode) return corrupt("bad calibration entry");
  }
  if (!r.AtEnd()) return corrupt("trailing bytes");
  next.sorted_ = next.calibration_;
  std::sort(next.sorted_.begin(), next.sorted_.begin() + next.calibration_size_);
  const int64_t alphas = next.n_ - 1;  // one per sample after the first
  if (!Finite(next.error_scale_) || next.error_scale_ < 0 || next.k_ < 1 ||
      next.k_ > KnnOptions::kMaxK || next.samples_since_refit_ > kRefitEvery ||
      next.calibration_size_ != std::min<int64_t>(alphas, kCalibrationSize) ||
      next.calibration_next_ != alphas % static_cast<int64_t>(kCalibrationSize)) {
    return corrupt("value out of range");
  }
  next.Prepare();
  if (!Finite(next.next_.forecast.yhat_lower) || !Finite(next.next_.forecast.yhat_upper)) {
    return corrupt("forecast overflows");
  }
  *this = std::move(next);
  return absl::OkStatus();
}

}  // namespace kad::models
