#include "storage/codec.h"

#include <bit>
#include <cstring>

namespace kad::storage {
namespace {

constexpr uint64_t kSignBit = uint64_t{1} << 63;

void AppendBigEndian(uint64_t v, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

uint64_t ReadBigEndian(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void AppendDouble(double d, std::string* out) {
  const uint64_t bits = std::bit_cast<uint64_t>(d);
  for (int shift = 0; shift < 64; shift += 8) {
    out->push_back(static_cast<char>((bits >> shift) & 0xff));
  }
}

double ReadDouble(const char* p) {
  uint64_t bits = 0;
  for (int i = 7; i >= 0; --i) {
    bits = (bits << 8) | static_cast<unsigned char>(p[i]);
  }
  return std::bit_cast<double>(bits);
}

}  // namespace

std::string EncodeIdKey(uint64_t id) {
  std::string key;
  key.reserve(kIdKeySize);
  AppendBigEndian(id, &key);
  return key;
}

std::optional<uint64_t> DecodeIdKey(std::string_view key) {
  if (key.size() != kIdKeySize) return std::nullopt;
  return ReadBigEndian(key.data());
}

std::string EncodePointKey(uint64_t id, int64_t timestamp_ms) {
  std::string key;
  key.reserve(kPointKeySize);
  AppendBigEndian(id, &key);
  AppendBigEndian(static_cast<uint64_t>(timestamp_ms) ^ kSignBit, &key);
  return key;
}

std::optional<int64_t> DecodePointKeyTime(std::string_view key) {
  if (key.size() != kPointKeySize) return std::nullopt;
  return static_cast<int64_t>(ReadBigEndian(key.data() + kIdKeySize) ^ kSignBit);
}

std::string EncodePointValue(const ForecastPoint& point) {
  std::string value;
  value.reserve(kPointValueSize);
  value.push_back(kPointFormatV1);
  AppendDouble(point.value, &value);
  AppendDouble(point.yhat, &value);
  AppendDouble(point.yhat_lower, &value);
  AppendDouble(point.yhat_upper, &value);
  AppendDouble(point.anomaly_score, &value);
  value.push_back(point.anomaly ? 1 : 0);
  return value;
}

bool DecodePointValue(std::string_view value, ForecastPoint* point) {
  if (value.size() != kPointValueSize || value[0] != kPointFormatV1) {
    return false;
  }
  const char* p = value.data() + 1;
  point->value = ReadDouble(p);
  point->yhat = ReadDouble(p + 8);
  point->yhat_lower = ReadDouble(p + 16);
  point->yhat_upper = ReadDouble(p + 24);
  point->anomaly_score = ReadDouble(p + 32);
  point->anomaly = p[40] != 0;
  return true;
}

}  // namespace kad::storage
