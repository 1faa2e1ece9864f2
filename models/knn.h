// "knn": a streaming k-nearest-neighbour conformal detector (in the spirit
// of KNN-CAD): a sample is anomalous when what came before it does not
// predict it as well as similar stretches of the past predicted theirs.
//
// The last `window` values form the current pattern. The model keeps the
// last 128 + window values, so 128 past patterns whose next value is known,
// and finds the k nearest to the current one (L1 distance on the raw
// values: a shift of level or scale would not change which are nearest, so
// no normalisation is needed). The forecast is the mean of what followed
// those k patterns. The local uncertainty is
//   u = decayed mean |error| (half-life 512 samples, errors clipped at 3
//       sigmas) + 0.5 * mean |successor - yhat| over the k successors,
// so the band narrows where the past agreed on what comes next. Each
// sample's nonconformity is alpha = |value - yhat| / u, and the last 128
// alphas are the conformal calibration set: the mean of its largest eighth,
// extrapolated to band_sigmas under a normal tail, is the alpha at the band
// edge. So
//   band = yhat +- alpha_edge * u,   anomaly_score = alpha / alpha_edge,
// above 1 exactly when the sample is outside the band, i.e. when its
// nonconformity is beyond what the recent past makes ordinary. Alphas enter
// the calibration clipped at 3 sigmas, so spikes do not widen the band; a
// level shift that persists is matched by patterns at the new level after
// window + k samples.
//
// Patterns are in sample order: irregular intervals and gaps are treated as
// if samples were evenly spaced. Predict() gives the next sample's forecast
// and band whatever the horizon. u never falls below 1e-4 * |yhat| (a
// constant series still has a band). Values so large that the arithmetic
// overflows restart the model from the sample that overflowed.
//
// Cost per sample: 128 * window absolute differences, vectorised, and a
// top-k selection: about 0.6 us for window 8 and k 8 on a loaded shared
// machine. State: 128 + window doubles, 128 alphas as 16-bit floats and a
// few scalars, 1392 bytes serialised for window 8.
//
//   absl::StatusOr<KnnOptions> o = KnnOptions::FromArgs(args);
//   absl::StatusOr<ModelFactory> f = MakeKnnFactory(*o);
//   std::unique_ptr<Forecaster> m = f->New();
//
// Not thread-safe (see Forecaster); instances of one factory share their
// immutable options.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/forecaster.h"
#include "models/registry.h"

namespace kad::models {

inline constexpr std::string_view kKnnKind = "knn";

// Each field is also the model arg of the same name.
struct KnnOptions {
  static constexpr int64_t kMaxWindow = 16;
  static constexpr int64_t kMaxK = 8;

  // Default: 8. Values in one pattern, in [1, 16].
  int64_t window = 8;
  // Default: 5. Neighbours whose successors are averaged, in [1, 8]. Only
  // the starting value: Retrain() refits it.
  int64_t k = 5;
  // Default: 3. Half-width of the band in sigmas of the nonconformity.
  double band_sigmas = 3;

  absl::Status Validate() const;

  // Options from config args (see the fields), validated.
  static absl::StatusOr<KnnOptions> FromArgs(const ModelArgs& args);

  // Hash of every field: state written under other options is rejected.
  uint64_t Fingerprint() const;
};

// A factory of "knn" forecasters; InvalidArgument if `options` does not
// validate.
absl::StatusOr<ModelFactory> MakeKnnFactory(const KnnOptions& options);

class Knn final : public Forecaster {
 public:
  // `options` must have passed Validate().
  explicit Knn(std::shared_ptr<const KnnOptions> options);

  Verdict Observe(int64_t t_ms, double value) override;
  Forecast Predict(int64_t t_ms) const override;
  // Refits k: replays the forecasts of the last 16 samples from the 96
  // patterns before each, for every k in [1, 8], and if the best k beats
  // the current one's mean |error| by 2%, switches to it. Does nothing
  // until 64 samples have come since the last refit, so however often it
  // is called it costs at most 16 * 96 * window / 64 operations per sample.
  void Retrain() override;
  void SerializeTo(std::string* out) const override;
  absl::Status Restore(std::string_view state) override;

  // Bytes this instance holds, excluding the shared options.
  size_t MemoryBytes() const { return sizeof(*this); }

  static constexpr size_t kHistory = 128;
  static constexpr size_t kCalibrationSize = 128;

 private:
  static constexpr size_t kBufferSize = kHistory + KnnOptions::kMaxWindow;

  // The forecast for the next sample with the quantities behind its band.
  struct Next {
    Forecast forecast;
    double uncertainty = 0;  // u
    double alpha_sigma = 0;  // sigma of the nonconformity
  };
  struct Neighbours {
    std::array<uint16_t, KnnOptions::kMaxK> end{};  // indices in values_
    size_t count = 0;
  };

  // Forgets everything and learns `value` as the first sample.
  void Start(double value);
  size_t Buffer() const { return kHistory + static_cast<size_t>(options_->window); }
  // The up-to-`kk` patterns nearest to the one ending at `query_end`, among
  // the `valid` newest of the kLags ending 1..kLags values before it,
  // nearest first, as end indices.
  template <size_t kLags>
  Neighbours Nearest(size_t query_end, size_t valid, size_t kk) const;
  // distance[j]: L1 distance from the pattern ending at `query_end` to the
  // one ending kLags - j values before it, for j in [0, kLags).
  template <size_t kLags>
  void Distances(size_t query_end, double* __restrict distance) const;
  // The mean of the first `k` neighbours' successors.
  double MeanSuccessor(const Neighbours& n, size_t k) const;
  // Computes next_ from the current state.
  void Prepare();
  bool WarmedUp() const;
  // Adds one alpha to the calibration set, replacing the oldest when full.
  void AddAlpha(uint16_t alpha);

  std::shared_ptr<const KnnOptions> options_;
  int64_t n_ = 0;           // samples learnt
  double error_scale_ = 0;  // decayed mean |one-step error|
  uint8_t k_ = 0;
  uint8_t samples_since_refit_ = 0;  // counts up to 64
  // The newest count_ values, oldest first, end at values_[Buffer() - 1].
  uint16_t count_ = 0;
  std::array<double, kBufferSize> values_{};
  uint8_t calibration_size_ = 0;
  uint8_t calibration_next_ = 0;
  // Alphas (encoded, see knn.cc), the oldest at calibration_next_ once full.
  std::array<uint16_t, kCalibrationSize> calibration_{};
  // Derived, recomputed by Restore(), not serialised: the first
  // calibration_size_ alphas in ascending order, and the next forecast.
  std::array<uint16_t, kCalibrationSize> sorted_{};
  Next next_;
};

}  // namespace kad::models
