// HourlyRange: the range of values a series has taken at each hour of the
// day, so a model can ask "is this value new for this time of day?": a CPU
// at 80% at 3 am when every night so far stayed under 20%, a shop's traffic
// at its weekend low on a weekday afternoon, a daily cycle that stops.
//
// It keeps the lowest and highest value seen in each of the 24 hours of
// the UTC day, for ever (like a series' overall range: a value seen once at
// this time of day is never news again there). Around(t) answers with the
// range over the kSpreadHours hours either side of t's hour as well, so a
// cycle that drifts by an hour, or a daylight-saving shift, is not news;
// and only after kWarmUpMs of history, and when each of those hours has
// seen a value, so a series' first days (or a gap at some hours) do not
// make every value new.
//
// Timestamps may be irregular, out of order or before 1970; values are
// clamped to +-kMaxValue (NaN is ignored), so the floats stay finite.
//
// State: kSerializedBytes (201 bytes). Add() and Around() are O(1).
//
//   HourlyRange hours;
//   hours.Add(t_ms, value);                        // every sample
//   if (std::optional<HourlyRange::Range> r = hours.Around(t_ms)) { ... r->lowest ... }
//
// Not thread-safe: it belongs to the model that owns it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace kad::models {

class HourlyRange {
 public:
  static constexpr int kHours = 24;
  static constexpr int kSpreadHours = 2;
  static constexpr int64_t kWarmUpMs = 4 * 86'400'000LL;
  static constexpr double kMaxValue = 1e30;
  static constexpr size_t kSerializedBytes = 1 + 8 + kHours * 2 * 4;

  struct Range {
    double lowest = 0;
    double highest = 0;
  };

  void Add(int64_t t_ms, double value);
  // The range of the values seen within kSpreadHours of t's hour of the
  // day; nullopt before kWarmUpMs of history (from the first sample) or
  // while one of those hours has seen no value.
  std::optional<Range> Around(int64_t t_ms) const;

  // Appends exactly kSerializedBytes bytes.
  void SerializeTo(std::string* out) const;
  // Strict: InvalidArgument, leaving this unchanged, unless `state` is
  // exactly what SerializeTo() writes.
  absl::Status Restore(std::string_view state);

 private:
  bool started_ = false;
  int64_t first_ms_ = 0;
  // Per hour of the day; lowest_ > highest_ while the hour has no value.
  std::array<float, kHours> lowest_{};
  std::array<float, kHours> highest_{};
};

}  // namespace kad::models
