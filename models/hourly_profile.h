// HourlyProfile: what a series usually does at each hour of the UTC day,
// the mean of its values there and their mean absolute deviation from that
// mean, so a model can ask "how far is this value from what this time of
// day usually sees, in that hour's own spread?". Where HourlyRange keeps
// the extremes an hour has ever seen, this keeps its norm: a day whose
// cycle stops, or runs at half height, stays inside every range but far
// from the profile, hour after hour.
//
// Each hour learns only its own samples: a running mean over its first
// kFullCount samples, then exponential forgetting with weight kLearnRate per
// sample (with 5-minute samples, a half-life of about 6 days of that hour).
// The deviation of a sample is taken from the mean before it is learnt.
// Timestamps may be irregular, out of order or before 1970; values are
// clamped to +-kMaxValue (NaN is ignored), so the floats stay finite.
//
// State: kSerializedBytes (217 bytes). Add() and At() are O(1),
// MeanDeviation() O(kHours).
//
//   HourlyProfile profile;
//   profile.Add(t_ms, value);                      // every sample
//   if (std::optional<HourlyProfile::Hour> h = profile.At(t_ms)) {
//     const double z = (value - h->mean) / std::max(h->deviation, floor);
//   }
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

class HourlyProfile {
 public:
  static constexpr int kHours = 24;
  // Samples an hour learns as a running mean; the weight of each later one.
  static constexpr int kFullCount = 100;
  static constexpr double kLearnRate = 1.0 / kFullCount;
  static constexpr double kMaxValue = 1e30;
  static constexpr size_t kSerializedBytes = 1 + kHours * (4 + 4 + 1);

  struct Hour {
    double mean = 0;
    double deviation = 0;  // mean |value - mean|; 0 after one sample
  };

  void Add(int64_t t_ms, double value);
  // The profile of t's hour of the day; nullopt while it has seen no value.
  std::optional<Hour> At(int64_t t_ms) const;
  // The mean of the deviations of the hours that have seen a value (0
  // before any), the yardstick of a usually calm or wild hour.
  double MeanDeviation() const;

  // Appends exactly kSerializedBytes bytes.
  void SerializeTo(std::string* out) const;
  // Strict: InvalidArgument, leaving this unchanged, unless `state` is
  // exactly what SerializeTo() writes.
  absl::Status Restore(std::string_view state);

 private:
  std::array<float, kHours> mean_{};
  std::array<float, kHours> deviation_{};
  // Samples learnt per hour, counted up to kFullCount.
  std::array<uint8_t, kHours> count_{};
};

}  // namespace kad::models
