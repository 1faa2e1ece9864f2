#include "models/hourly_range.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "models/smoothing.h"
#include "models/state_codec.h"

namespace kad::models {
namespace {

constexpr uint8_t kFormatVersion = 1;
static_assert(HourlyRange::kHours == 24, "HourOfDay() numbers the hours of the day");

absl::Status Rejected(std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("hourly range state rejected: ", std::string(why)));
}

}  // namespace

void HourlyRange::Add(int64_t t_ms, double value) {
  if (std::isnan(value)) return;
  if (!started_) {
    started_ = true;
    first_ms_ = t_ms;
    lowest_.fill(1);
    highest_.fill(0);
  }
  first_ms_ = std::min(first_ms_, t_ms);
  const int hour = HourOfDay(t_ms);
  const float v = static_cast<float>(std::clamp(value, -kMaxValue, kMaxValue));
  // (kMaxValue as a float is a little above kMaxValue; Restore() allows that.)
  if (lowest_[hour] > highest_[hour]) {
    lowest_[hour] = highest_[hour] = v;
  } else {
    lowest_[hour] = std::min(lowest_[hour], v);
    highest_[hour] = std::max(highest_[hour], v);
  }
}

std::optional<HourlyRange::Range> HourlyRange::Around(int64_t t_ms) const {
  // The difference in unsigned arithmetic: exact for t >= first, and no
  // overflow whatever the timestamps.
  if (!started_ || t_ms < first_ms_ ||
      static_cast<uint64_t>(t_ms) - static_cast<uint64_t>(first_ms_) < kWarmUpMs) {
    return std::nullopt;
  }
  const int hour = HourOfDay(t_ms);
  Range r{kMaxValue, -kMaxValue};
  for (int d = -kSpreadHours; d <= kSpreadHours; ++d) {
    const int h = (hour + d + kHours) % kHours;
    if (lowest_[h] > highest_[h]) return std::nullopt;
    r.lowest = std::min<double>(r.lowest, lowest_[h]);
    r.highest = std::max<double>(r.highest, highest_[h]);
  }
  return r;
}

void HourlyRange::SerializeTo(std::string* out) const {
  out->reserve(out->size() + kSerializedBytes);
  StateWriter w(out);
  w.U8(started_ ? kFormatVersion | 0x80 : kFormatVersion);
  w.I64(first_ms_);
  for (int h = 0; h < kHours; ++h) {
    w.F32(lowest_[h]);
    w.F32(highest_[h]);
  }
}

absl::Status HourlyRange::Restore(std::string_view state) {
  if (state.size() != kSerializedBytes) {
    return Rejected(absl::StrCat(state.size(), " bytes, want ", kSerializedBytes));
  }
  StateReader r(state);
  uint8_t tag = 0;
  HourlyRange next;
  r.U8(&tag);
  if ((tag & 0x7f) != kFormatVersion) {
    return Rejected(absl::StrCat("unsupported format version ", tag & 0x7f));
  }
  next.started_ = (tag & 0x80) != 0;
  r.I64(&next.first_ms_);
  for (int h = 0; h < kHours; ++h) {
    r.F32(&next.lowest_[h]);
    r.F32(&next.highest_[h]);
    constexpr float kMax = static_cast<float>(kMaxValue);
    if (!(std::abs(next.lowest_[h]) <= kMax) || !(std::abs(next.highest_[h]) <= kMax)) {
      return Rejected("value out of range");
    }
  }
  *this = next;
  return absl::OkStatus();
}

}  // namespace kad::models
