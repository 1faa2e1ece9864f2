#include "models/hourly_profile.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "models/smoothing.h"
#include "models/state_codec.h"

namespace kad::models {
namespace {

constexpr uint8_t kFormatVersion = 1;
static_assert(HourlyProfile::kHours == 24, "HourOfDay() numbers the hours of the day");
static_assert(HourlyProfile::kFullCount <= 255, "counts are stored in a byte");

absl::Status Rejected(std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("hourly profile state rejected: ", std::string(why)));
}

}  // namespace

void HourlyProfile::Add(int64_t t_ms, double value) {
  if (std::isnan(value)) return;
  const int hour = HourOfDay(t_ms);
  const double v = std::clamp(value, -kMaxValue, kMaxValue);
  if (count_[hour] < kFullCount) ++count_[hour];
  const double w = std::max(1.0 / count_[hour], kLearnRate);
  const double error = v - mean_[hour];
  // The first sample only sets the mean (w is 1): it has no deviation yet.
  if (count_[hour] > 1) {
    deviation_[hour] += static_cast<float>(w * (std::abs(error) - deviation_[hour]));
  }
  mean_[hour] += static_cast<float>(w * error);
}

std::optional<HourlyProfile::Hour> HourlyProfile::At(int64_t t_ms) const {
  const int hour = HourOfDay(t_ms);
  if (count_[hour] == 0) return std::nullopt;
  return Hour{mean_[hour], deviation_[hour]};
}

double HourlyProfile::MeanDeviation() const {
  double sum = 0;
  int hours = 0;
  for (int h = 0; h < kHours; ++h) {
    if (count_[h] == 0) continue;
    sum += deviation_[h];
    ++hours;
  }
  return hours == 0 ? 0 : sum / hours;
}

void HourlyProfile::SerializeTo(std::string* out) const {
  out->reserve(out->size() + kSerializedBytes);
  StateWriter w(out);
  w.U8(kFormatVersion);
  for (int h = 0; h < kHours; ++h) {
    w.F32(mean_[h]);
    w.F32(deviation_[h]);
    w.U8(count_[h]);
  }
}

absl::Status HourlyProfile::Restore(std::string_view state) {
  if (state.size() != kSerializedBytes) {
    return Rejected(absl::StrCat(state.size(), " bytes, want ", kSerializedBytes));
  }
  StateReader r(state);
  uint8_t version = 0;
  r.U8(&version);
  if (version != kFormatVersion) {
    return Rejected(absl::StrCat("unsupported format version ", version));
  }
  HourlyProfile next;
  // Learnt from values within +-kMaxValue, a mean stays within them and a
  // deviation within twice that (the floats round a little beyond).
  constexpr float kMax = static_cast<float>(kMaxValue);
  for (int h = 0; h < kHours; ++h) {
    r.F32(&next.mean_[h]);
    r.F32(&next.deviation_[h]);
    r.U8(&next.count_[h]);
    if (!(std::abs(next.mean_[h]) <= kMax) || !(next.deviation_[h] >= 0) ||
        !(next.deviation_[h] <= 2 * kMax) || next.count_[h] > kFullCount) {
      return Rejected("value out of range");
    }
  }
  *this = next;
  return absl::OkStatus();
}

}  // namespace kad::models
