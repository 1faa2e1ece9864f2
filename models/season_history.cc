#include "models/season_history.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "models/smoothing.h"
#include "models/state_codec.h"

namespace kad::models {
namespace {

constexpr uint8_t kFormatVersion = 1;
constexpr int64_t kDailyBucketMs = 3'600'000;
constexpr int64_t kWeeklyBucketMs = 4 * 3'600'000;
// Bucket indices of any int64 millisecond time lie within +-kMaxBucket.
constexpr int64_t kMaxBucket = std::numeric_limits<int64_t>::max() / kDailyBucketMs + 1;
// Lags in buckets of each ring.
constexpr size_t kDayInDaily = SeasonHistory::kDayMs / kDailyBucketMs;      // 24
constexpr size_t kDayInWeekly = SeasonHistory::kDayMs / kWeeklyBucketMs;    // 6
constexpr size_t kWeekInWeekly = SeasonHistory::kWeekMs / kWeeklyBucketMs;  // 42
constexpr size_t kMaxBuckets =
    std::max(SeasonHistory::kDailyBuckets, SeasonHistory::kWeeklyBuckets);

// Residuals below this fraction of the series' mean magnitude are float
// rounding of a constant series, not a cycle.
constexpr double kMinRelativeSpread = 1e-5;
// Residuals are clipped at this many robust sigmas (1.4826 MADs) from
// their median, or to these quantiles when their MAD is 0.
constexpr double kClipMads = 5;
constexpr double kMadToSigma = 1.4826;
constexpr double kClipQuantile = 0.04;
// An autocorrelation is significant above max(kMinAcf, kZ standard errors
// of a no-season estimate); the error is widened for a smooth remainder,
// whose smoothness is capped so that a real cycle on top of slow day-to-day
// changes can still clear the bar (the cap bounds the bar at 0.61 over
// four days of hourly buckets).
constexpr double kMinAcf = 0.3;
constexpr double kZ = 3;
constexpr double kMaxSmoothness = 0.7;
// 1w wins over 1d only when its autocorrelation is higher by this much,
// and by this share of what the daily autocorrelation leaves unexplained.
constexpr double kWeeklyMargin = 0.08;
constexpr double kWeeklyShare = 0.3;
// The season a model already uses has to clear only this fraction of each
// bar, so borderline evidence does not flip it at every retrain.
constexpr double kKeep = 0.8;

// The finished buckets of a ring, oldest first, without leading and
// trailing empty ones.
struct Series {
  std::array<double, kMaxBuckets> x{};
  std::array<bool, kMaxBuckets> ok{};
  size_t n = 0;
};

struct Acf {
  double r = 0;
  size_t pairs = 0;
};

// Median of values[0, n), which it reorders.
double MedianOf(double* values, size_t n) {
  std::nth_element(values, values + n / 2, values + n);
  return values[n / 2];
}

// Residuals around a moving median over `period` buckets (centred, shifted
// inwards at the ends so it always spans one period and so does not follow
// the season; a median, so spikes do not drag it), clipped and centred.
// n = 0 when the series is shorter than two periods or shows no spread.
Series Detrend(const Series& s, size_t period) {
  Series e;
  if (s.n < 2 * period) return e;
  double magnitude = 0;
  size_t valid = 0;
  for (size_t i = 0; i < s.n; ++i) {
    if (!s.ok[i]) continue;
    magnitude += std::abs(s.x[i]);
    ++valid;
  }
  magnitude /= static_cast<double>(valid);
  e.n = s.n;
  std::array<double, kMaxBuckets> scratch{};
  std::array<double, kMaxBuckets> residuals{};
  size_t m = 0;
  for (size_t i = 0; i < s.n; ++i) {
    if (!s.ok[i]) continue;
    const size_t from = std::min(i - std::min(i, period / 2), s.n - period);
    size_t in_window = 0;
    for (size_t j = from; j < from + period; ++j) {
      if (s.ok[j]) scratch[in_window++] = s.x[j];
    }
    if (2 * in_window < period) continue;
    e.ok[i] = true;
    e.x[i] = s.x[i] - MedianOf(scratch.data(), in_window);
    residuals[m++] = e.x[i];
  }
  if (m == 0) return Series{};
  // Clip at kClipMads robust sigmas from the median (spikes up to half the
  // buckets); when most residuals are equal (an on/off series) the MAD is
  // 0 and the outer quantiles bound them instead.
  const double median = MedianOf(residuals.data(), m);
  for (size_t k = 0; k < m; ++k) scratch[k] = std::abs(residuals[k] - median);
  const double mad = MedianOf(scratch.data(), m);
  double lo = median - kClipMads * kMadToSigma * mad;
  double hi = median + kClipMads * kMadToSigma * mad;
  if (!(mad > 0)) {
    std::sort(residuals.begin(), residuals.begin() + m);
    const size_t k = static_cast<size_t>(kClipQuantile * static_cast<double>(m));
    lo = residuals[k];
    hi = residuals[m - 1 - k];
  }
  double mean = 0;
  for (size_t i = 0; i < e.n; ++i) {
    if (!e.ok[i]) continue;
    e.x[i] = std::clamp(e.x[i], lo, hi);
    mean += e.x[i];
  }
  mean /= static_cast<double>(m);
  double spread = 0;
  for (size_t i = 0; i < e.n; ++i) {
    if (!e.ok[i]) continue;
    e.x[i] -= mean;
    spread = std::max(spread, std::abs(e.x[i]));
  }
  if (!(spread > kMinRelativeSpread * magnitude)) return Series{};
  return e;
}

// Autocorrelation of centred residuals at `lag` over the pairs where both
// buckets are non-empty.
Acf Autocorrelation(const Series& e, size_t lag) {
  Acf acf;
  double variance = 0;
  size_t m = 0;
  for (size_t i = 0; i < e.n; ++i) {
    if (!e.ok[i]) continue;
    variance += e.x[i] * e.x[i];
    ++m;
  }
  if (m == 0 || !(variance > 0)) return acf;
  variance /= static_cast<double>(m);
  double cross = 0;
  for (size_t i = 0; i + lag < e.n; ++i) {
    if (!e.ok[i] || !e.ok[i + lag]) continue;
    cross += e.x[i] * e.x[i + lag];
    ++acf.pairs;
  }
  if (acf.pairs == 0) return acf;
  acf.r = cross / static_cast<double>(acf.pairs) / variance;
  return acf;
}

// Whether `acf` covers enough pairs to judge a cycle of `lag` buckets: the
// residuals span two periods, so pairs over at least half a period remain
// after gaps.
bool Enough(const Acf& acf, size_t lag) { return 2 * acf.pairs >= lag; }

// Lag-1 autocorrelation of what remains of the residuals `e` once their
// mean profile over `period` is removed: how smooth the non-seasonal part
// is, which makes a chance autocorrelation at any lag that much likelier.
double RemainderSmoothness(const Series& e, size_t period) {
  std::array<double, kMaxBuckets> profile{};
  std::array<size_t, kMaxBuckets> count{};
  for (size_t i = 0; i < e.n; ++i) {
    if (!e.ok[i]) continue;
    profile[i % period] += e.x[i];
    ++count[i % period];
  }
  Series rest = e;
  for (size_t i = 0; i < e.n; ++i) {
    if (e.ok[i]) rest.x[i] -= profile[i % period] / static_cast<double>(count[i % period]);
  }
  return Autocorrelation(rest, 1).r;
}

// What the autocorrelation at `period` of residuals `e` must reach to be
// significant: kZ standard errors of a no-season estimate, the error
// widened (Bartlett) for a remainder as smooth as an AR(1) of RemainderSmoothness().
double Threshold(const Series& e, const Acf& acf, size_t period) {
  const double phi = std::clamp(RemainderSmoothness(e, period), 0.0, kMaxSmoothness);
  const double n_eff = static_cast<double>(acf.pairs) * (1 - phi * phi) / (1 + phi * phi);
  return std::max(kMinAcf, kZ / std::sqrt(n_eff));
}

// Slot of `bucket` in a ring of n slots (also for negative buckets).
size_t SlotOf(int64_t bucket, size_t n) {
  return static_cast<size_t>(FloorMod(bucket, static_cast<int64_t>(n)));
}

// The finished buckets of `ring`, oldest first, without leading and
// trailing empty ones. (A template so it takes the private Ring type.)
template <typename Ring>
Series Finished(const Ring& ring) {
  constexpr size_t n = std::tuple_size_v<decltype(ring.mean)>;
  Series s;
  if (!ring.started) return s;
  size_t first = n;
  size_t last = 0;
  for (size_t k = 0; k + 1 < n; ++k) {
    const size_t slot = SlotOf(ring.current - static_cast<int64_t>(n - 1 - k), n);
    s.ok[k] = ring.Valid(slot);
    s.x[k] = ring.mean[slot];
    if (s.ok[k]) {
      first = std::min(first, k);
      last = k;
    }
  }
  if (first == n) return Series{};
  Series trimmed;
  trimmed.n = last - first + 1;
  std::copy(s.x.begin() + first, s.x.begin() + last + 1, trimmed.x.begin());
  std::copy(s.ok.begin() + first, s.ok.begin() + last + 1, trimmed.ok.begin());
  return trimmed;
}

}  // namespace

template <size_t N>
void SeasonHistory::Ring<N>::SetValid(size_t slot, bool v) {
  const uint8_t bit = static_cast<uint8_t>(1u << (slot % 8));
  valid[slot / 8] = static_cast<uint8_t>(v ? valid[slot / 8] | bit : valid[slot / 8] & ~bit);
}

template <size_t N>
void SeasonHistory::Ring<N>::Add(int64_t bucket, double value) {
  if (!started) {
    started = true;
    current = bucket;
  }
  if (bucket < current) return;
  if (bucket > current) {
    // Close the current bucket, then mark the skipped ones (and the new
    // one's slot, which holds a bucket N older) empty.
    const size_t slot = SlotOf(current, N);
    mean[slot] = count > 0 ? static_cast<float>(sum / count) : 0.0f;
    SetValid(slot, count > 0);
    const int64_t skipped = std::min<int64_t>(bucket - current, static_cast<int64_t>(N));
    for (int64_t b = bucket - skipped + 1; b <= bucket; ++b) {
      const size_t s = SlotOf(b, N);
      mean[s] = 0;
      SetValid(s, false);
    }
    current = bucket;
    sum = 0;
    count = 0;
  }
  if (count == std::numeric_limits<uint32_t>::max()) return;
  sum += value;
  ++count;
}

void SeasonHistory::Add(int64_t t_ms, double value) {
  if (std::isnan(value)) return;
  value = std::clamp(value, -kMaxValue, kMaxValue);
  daily_.Add(FloorDiv(t_ms, kDailyBucketMs), value);
  weekly_.Add(FloorDiv(t_ms, kWeeklyBucketMs), value);
}

namespace {

// The autocorrelation at `lag` of `series` detrended over `lag`, and the
// threshold it must reach (infinite when there is too little data).
std::pair<double, double> LagEvidence(const Series& series, size_t lag) {
  const Series residuals = Detrend(series, lag);
  const Acf acf = Autocorrelation(residuals, lag);
  if (!Enough(acf, lag)) return {0, std::numeric_limits<double>::infinity()};
  return {acf.r, Threshold(residuals, acf, lag)};
}

}  // namespace

SeasonHistory::Evidence SeasonHistory::Measure() const {
  Evidence ev;
  const Series weekly = Finished(weekly_);
  const Series weekly_residuals = Detrend(weekly, kWeekInWeekly);
  const Acf acf = Autocorrelation(weekly_residuals, kWeekInWeekly);
  if (Enough(acf, kWeekInWeekly)) {
    ev.weekly = acf.r;
    ev.weekly_threshold = Threshold(weekly_residuals, acf, kWeekInWeekly);
    ev.daily_in_weekly = Autocorrelation(weekly_residuals, kDayInWeekly).r;
  }
  std::tie(ev.daily, ev.daily_threshold) = LagEvidence(Finished(daily_), kDayInDaily);
  std::tie(ev.daily_long, ev.daily_long_threshold) = LagEvidence(weekly, kDayInWeekly);
  return ev;
}

int64_t SeasonHistory::DetectSeasonMs(int64_t current_season_ms) const {
  const Evidence ev = Measure();
  // Each bar is lowered to kKeep of itself for the season in use.
  const double weekly_bar = current_season_ms == kWeekMs ? kKeep : 1;
  const double daily_bar = current_season_ms == kDayMs ? kKeep : 1;
  const double weekly_gain = ev.weekly - ev.daily_in_weekly;
  if (ev.weekly >= weekly_bar * ev.weekly_threshold && weekly_gain >= weekly_bar * kWeeklyMargin &&
      weekly_gain >= weekly_bar * kWeeklyShare * (1 - ev.daily_in_weekly)) {
    return kWeekMs;
  }
  if (ev.daily >= daily_bar * ev.daily_threshold ||
      ev.daily_long >= daily_bar * ev.daily_long_threshold) {
    return kDayMs;
  }
  return 0;
}

namespace {

template <typename Ring>
void WriteRing(const Ring& ring, StateWriter& w) {
  w.U8(ring.started ? 1 : 0);
  w.I64(ring.current);
  w.F64(ring.sum);
  w.U32(ring.count);
  for (float m : ring.mean) w.F32(m);
  for (uint8_t v : ring.valid) w.U8(v);
}

// False unless the ring read is one WriteRing() can have written.
template <typename Ring>
bool ReadRing(StateReader& r, Ring* ring) {
  constexpr size_t n = std::tuple_size_v<decltype(ring->mean)>;
  uint8_t started = 0;
  if (!r.U8(&started) || started > 1 || !r.I64(&ring->current) || !r.F64(&ring->sum) ||
      !r.U32(&ring->count)) {
    return false;
  }
  ring->started = started == 1;
  // Bounds as Add() keeps them (the sum with room for rounding), so that
  // nothing later overflows.
  const double max_sum = SeasonHistory::kMaxValue * static_cast<double>(ring->count) * (1 + 1e-9);
  if (!(std::abs(ring->sum) <= max_sum) || std::abs(ring->current) > kMaxBucket) return false;
  if (!ring->started && (ring->current != 0 || ring->count != 0)) return false;
  for (float& m : ring->mean) {
    if (!r.F32(&m) || !(std::abs(m) <= static_cast<float>(SeasonHistory::kMaxValue))) return false;
  }
  for (uint8_t& v : ring->valid) {
    if (!r.U8(&v)) return false;
  }
  // Padding bits are never set; empty slots hold 0; the current bucket's
  // slot holds nothing yet.
  if (n % 8 != 0 && (ring->valid.back() >> (n % 8)) != 0) return false;
  for (size_t slot = 0; slot < n; ++slot) {
    if (!ring->Valid(slot) && ring->mean[slot] != 0) return false;
  }
  return !ring->started || !ring->Valid(SlotOf(ring->current, n));
}

}  // namespace

void SeasonHistory::SerializeTo(std::string* out) const {
  out->reserve(out->size() + kSerializedBytes);
  StateWriter w(out);
  w.U8(kFormatVersion);
  WriteRing(daily_, w);
  WriteRing(weekly_, w);
}

absl::Status SeasonHistory::Restore(std::string_view state) {
  if (state.size() != kSerializedBytes) {
    return absl::InvalidArgumentError(absl::StrCat("season history state rejected: ", state.size(),
                                                   " bytes, want ", kSerializedBytes));
  }
  StateReader r(state);
  uint8_t version = 0;
  if (!r.U8(&version) || version != kFormatVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("season history state rejected: unsupported format version ", version));
  }
  SeasonHistory next;
  if (!ReadRing(r, &next.daily_) || !ReadRing(r, &next.weekly_) || !r.AtEnd()) {
    return absl::InvalidArgumentError("season history state rejected: corrupt ring");
  }
  // Both rings saw the same samples, so they are filling the same time.
  if (next.daily_.started != next.weekly_.started ||
      FloorDiv(next.daily_.current, kWeeklyBucketMs / kDailyBucketMs) != next.weekly_.current) {
    return absl::InvalidArgumentError("season history state rejected: rings disagree");
  }
  *this = next;
  return absl::OkStatus();
}

}  // namespace kad::models
