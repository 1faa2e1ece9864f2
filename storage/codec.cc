#include "storage/codec.h"

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

std::array<char, kPointKeySize> PointKey(uint64_t id, int64_t timestamp_ms) {
  std::array<char, kPointKeySize> key;
  const uint64_t t = static_cast<uint64_t>(timestamp_ms) ^ kSignBit;
  for (size_t i = 0; i < 8; ++i) {
    key[i] = static_cast<char>(id >> (56 - 8 * i));
    key[8 + i] = static_cast<char>(t >> (56 - 8 * i));
  }
  return key;
}

std::string EncodePointKey(uint64_t id, int64_t timestamp_ms) {
  const std::array<char, kPointKeySize> key = PointKey(id, timestamp_ms);
  return std::string(key.data(), key.size());
}

std::optional<int64_t> DecodePointKeyTime(std::string_view key) {
  if (key.size() != kPointKeySize) return std::nullopt;
  return static_cast<int64_t>(ReadBigEndian(key.data() + kIdKeySize) ^ kSignBit);
}

void AppendVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

}  // namespace kad::storage
