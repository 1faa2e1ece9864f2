// Format 2 blocks, read only; see block_v2.h.
#include "storage/block_v2.h"

#include <bit>
#include <cstdint>

#include "storage/bit_reader.h"
#include "storage/codec.h"

namespace kad::storage {
namespace {

constexpr int kFields = 5;  // value, yhat, yhat_lower, yhat_upper, anomaly_score

// Sign-extends the low n bits of v.
int64_t SignExtend(uint64_t v, int n) {
  if (n >= 64) return static_cast<int64_t>(v);
  const uint64_t sign = uint64_t{1} << (n - 1);
  return static_cast<int64_t>((v ^ sign) - sign);
}

// The fields' XOR state while decoding one block.
struct FieldState {
  uint64_t last_bits[kFields] = {};
  uint8_t leading[kFields] = {};
  uint8_t significant[kFields] = {};
};

double ReadValue(int field, BitReader& in, FieldState& s) {
  if (in.Read(1) != 0) {
    uint64_t x;
    if (in.Read(1) == 0) {
      const int sig = s.significant[field];
      if (sig == 0) {
        in.Fail();  // a window that was never opened
        return 0;
      }
      x = in.Read(sig) << (64 - s.leading[field] - sig);
    } else {
      const int leading = static_cast<int>(in.Read(5));
      const int sig = static_cast<int>(in.Read(6)) + 1;
      if (leading + sig > 64) {
        in.Fail();
        return 0;
      }
      x = in.Read(sig) << (64 - leading - sig);
      s.leading[field] = static_cast<uint8_t>(leading);
      s.significant[field] = static_cast<uint8_t>(sig);
    }
    s.last_bits[field] ^= x;
  }
  return std::bit_cast<double>(s.last_bits[field]);
}

}  // namespace

bool DecodeBlockV2(std::string_view value, std::vector<ForecastPoint>* out) {
  if (value.empty() || value[0] != kBlockFormatV2) return false;
  value.remove_prefix(1);
  uint64_t count = 0;
  if (!ReadVarint(&value, &count) || count == 0 || count > value.size() * 8) return false;
  BitReader in(value);
  FieldState s;
  int64_t last_t = 0;
  uint64_t last_delta = 0;
  for (uint64_t i = 0; i < count && in.ok(); ++i) {
    ForecastPoint p;
    if (i == 0) {
      p.timestamp_ms = static_cast<int64_t>(in.Read(64));
      for (uint64_t& bits : s.last_bits) bits = in.Read(64);
    } else {
      int64_t dod = 0;
      if (in.Read(1) != 0) {
        if (in.Read(1) == 0) {
          dod = SignExtend(in.Read(7), 7);
        } else if (in.Read(1) == 0) {
          dod = SignExtend(in.Read(14), 14);
        } else if (in.Read(1) == 0) {
          dod = SignExtend(in.Read(24), 24);
        } else {
          dod = static_cast<int64_t>(in.Read(64));
        }
      }
      last_delta += static_cast<uint64_t>(dod);
      p.timestamp_ms = static_cast<int64_t>(static_cast<uint64_t>(last_t) + last_delta);
      for (int f = 0; f < kFields; ++f) ReadValue(f, in, s);
    }
    p.value = std::bit_cast<double>(s.last_bits[0]);
    p.yhat = std::bit_cast<double>(s.last_bits[1]);
    p.yhat_lower = std::bit_cast<double>(s.last_bits[2]);
    p.yhat_upper = std::bit_cast<double>(s.last_bits[3]);
    p.anomaly_score = std::bit_cast<double>(s.last_bits[4]);
    p.anomaly = in.Read(1) != 0;
    last_t = p.timestamp_ms;
    if (in.ok()) out->push_back(p);
  }
  return in.ok();
}

}  // namespace kad::storage
