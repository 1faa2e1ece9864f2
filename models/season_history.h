// SeasonHistory: a compact record of a series' recent past from which a
// model finds its season length at retrain ("season: auto").
//
// Samples are averaged into two rings of bucket means:
//   - 1 h buckets over the last 4 days (96 buckets): enough for the lag of
//     one day to be seen over 2..3 cycles at 24 points per cycle;
//   - 4 h buckets over the last 3 weeks (126 buckets): the lag of one week
//     over 2 cycles, next to the lag of one day at 6 points per cycle.
// Averaging makes the record independent of the scrape interval (15 s and
// 5 min series fill it the same way) and of irregular timestamps; a bucket
// that got no sample (a gap) is marked empty by a bit, never by NaN.
//
// DetectSeasonMs() tells which season the record shows: for a candidate
// period P it removes the trend with a moving median over one period (it
// spans a whole cycle, so it follows the trend, not the season, and spikes
// do not drag it), clips the residuals at 5 robust sigmas (MAD) from their
// median (spikes can neither fake nor hide a cycle), and takes their
// autocorrelation at lag P over the pairs of non-empty buckets. That autocorrelation must clear a
// significance bar: 3 standard errors of a no-season estimate, widened when what remains after the
// mean profile over P is smooth (a random walk wanders with a shape that
// repeats by chance), and the record must span at least two periods:
//   - kWeekMs when, on the 3-week ring, the lag-1w autocorrelation is
//     significant and beats the lag-1d one (same residuals) by 0.08 and by
//     30% of what the lag-1d one leaves unexplained: a daily cycle alone
//     repeats at 1w as well as at 1d; only a weekday/weekend difference, or
//     any other weekly shape, makes 1w stronger;
//   - else kDayMs when the lag-1d autocorrelation is significant on the
//     4-day ring or on the 3-week ring;
//   - else 0: white noise, random walks, trends, constant series and too
//     short a history show no season.
// Cost: O(ring size x period) for the three moving medians, about 60 us on
// the reference machine; meant for Retrain(), not for every sample. Add()
// costs ~14 ns.
//
// State: a fixed kSerializedBytes (959 bytes), so a model can embed it in
// its own state and slice it back out by length.
//
//   SeasonHistory history;
//   history.Add(t_ms, value);            // every sample, O(1)
//   season_ms = history.DetectSeasonMs(season_ms);  // at retrain: 1d, 1w or 0
//
// Not thread-safe: it belongs to the model that owns it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace kad::models {

class SeasonHistory {
 public:
  static constexpr int64_t kDayMs = 86'400'000;
  static constexpr int64_t kWeekMs = 7 * kDayMs;
  // Values are clamped to +-kMaxValue (NaN is ignored), so bucket means
  // stay finite floats whatever the series does.
  static constexpr double kMaxValue = 1e30;

  // Autocorrelations behind a detection, for logs and tests. A threshold
  // is +infinity when its ring holds too little data for that lag.
  struct Evidence {
    double daily = 0;  // lag 1d, 4-day ring
    double daily_threshold = std::numeric_limits<double>::infinity();
    double daily_long = 0;  // lag 1d, 3-week ring
    double daily_long_threshold = std::numeric_limits<double>::infinity();
    double weekly = 0;           // lag 1w, 3-week ring
    double daily_in_weekly = 0;  // lag 1d, 3-week ring, same residuals as `weekly`
    double weekly_threshold = std::numeric_limits<double>::infinity();
  };

  // Records a sample. Timestamps may be irregular; a sample older than the
  // bucket being filled (out of order) is ignored. O(1), except that the
  // first sample after a gap marks the skipped buckets empty (at most the
  // ring size).
  void Add(int64_t t_ms, double value);

  // kWeekMs, kDayMs or 0 (no season); see the file comment. Pass the
  // season the model uses now: it is kept while its evidence clears 80% of
  // the bars, so borderline evidence does not flip it at every retrain.
  int64_t DetectSeasonMs(int64_t current_season_ms = 0) const;
  Evidence Measure() const;

  // Appends exactly kSerializedBytes bytes.
  void SerializeTo(std::string* out) const;
  // Strict: InvalidArgument, leaving this unchanged, unless `state` is
  // exactly what SerializeTo() writes.
  absl::Status Restore(std::string_view state);

  // Bytes this instance holds (no heap).
  size_t MemoryBytes() const { return sizeof(*this); }

  static constexpr size_t kDailyBuckets = 96;
  static constexpr size_t kWeeklyBuckets = 126;
  static constexpr size_t kSerializedBytes = 1 + 2 * (1 + 8 + 8 + 4) +
                                             (kDailyBuckets * 4 + (kDailyBuckets + 7) / 8) +
                                             (kWeeklyBuckets * 4 + (kWeeklyBuckets + 7) / 8);

 private:
  // Bucket b (b = floor(t / width)) lives in slot b % N; `current` is being
  // filled in sum/count and its slot holds nothing valid yet.
  template <size_t N>
  struct Ring {
    bool started = false;
    int64_t current = 0;
    double sum = 0;
    uint32_t count = 0;
    std::array<float, N> mean{};
    std::array<uint8_t, (N + 7) / 8> valid{};

    void Add(int64_t bucket, double value);
    bool Valid(size_t slot) const { return (valid[slot / 8] >> (slot % 8)) & 1; }
    void SetValid(size_t slot, bool v);
  };

  Ring<kDailyBuckets> daily_;    // 1 h buckets
  Ring<kWeeklyBuckets> weekly_;  // 4 h buckets
};

}  // namespace kad::models
