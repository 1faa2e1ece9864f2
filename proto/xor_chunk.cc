// Prometheus XOR chunk encoder; see xor_chunk.h. The layout follows
// tsdb/chunkenc/xor.go of Prometheus 2.42 bit for bit, because remote-read
// clients decode these chunks with that code.
#include "proto/xor_chunk.h"

#include <algorithm>
#include <bit>
#include <cassert>

namespace kad::proto {
namespace {

// Whether the delta-of-delta `x` fits the `bits`-wide bucket. The range is
// asymmetric, [-(2^(bits-1) - 1), 2^(bits-1)], exactly as Prometheus'
// bitRange, so the same value picks the same bucket.
bool FitsBits(int64_t x, int bits) {
  const int64_t half = int64_t{1} << (bits - 1);
  return -(half - 1) <= x && x <= half;
}

}  // namespace

void XorChunkEncoder::Reset() {
  bytes_.assign(2, '\0');
  free_bits_ = 0;
  num_samples_ = 0;
  first_t_ = 0;
  last_t_ = 0;
  last_delta_ = 0;
  last_v_bits_ = 0;
  leading_ = 0xff;
  trailing_ = 0;
}

void XorChunkEncoder::Append(int64_t t_ms, double v) {
  assert(num_samples_ < kMaxSamples);
  assert(num_samples_ == 0 || t_ms > last_t_);
  const uint64_t v_bits = std::bit_cast<uint64_t>(v);
  int64_t delta = 0;
  if (num_samples_ == 0) {
    first_t_ = t_ms;
    WriteVarint(t_ms);
    WriteBits(v_bits, 64);
  } else {
    // Unsigned arithmetic wraps like Go's instead of overflowing.
    delta = static_cast<int64_t>(static_cast<uint64_t>(t_ms) - static_cast<uint64_t>(last_t_));
    if (num_samples_ == 1) {
      WriteUvarint(static_cast<uint64_t>(delta));
    } else {
      const int64_t dod =
          static_cast<int64_t>(static_cast<uint64_t>(delta) - static_cast<uint64_t>(last_delta_));
      // Written as the low bits of the two's complement, as Prometheus does.
      const auto raw = static_cast<uint64_t>(dod);
      if (dod == 0) {
        WriteBits(0b0, 1);
      } else if (FitsBits(dod, 14)) {
        WriteBits(0b10, 2);
        WriteBits(raw, 14);
      } else if (FitsBits(dod, 17)) {
        WriteBits(0b110, 3);
        WriteBits(raw, 17);
      } else if (FitsBits(dod, 20)) {
        WriteBits(0b1110, 4);
        WriteBits(raw, 20);
      } else {
        WriteBits(0b1111, 4);
        WriteBits(raw, 64);
      }
    }
    const uint64_t x = v_bits ^ last_v_bits_;
    if (x == 0) {
      WriteBits(0b0, 1);
    } else {
      // Leading zeros go in 5 bits, so Prometheus caps them at 31.
      const int leading = std::min(std::countl_zero(x), 31);
      const int trailing = std::countr_zero(x);
      if (leading_ != 0xff && leading >= leading_ && trailing >= trailing_) {
        WriteBits(0b10, 2);
        WriteBits(x >> trailing_, 64 - leading_ - trailing_);
      } else {
        leading_ = leading;
        trailing_ = trailing;
        const int significant = 64 - leading - trailing;
        WriteBits(0b11, 2);
        WriteBits(static_cast<uint64_t>(leading), 5);
        // 64 significant bits do not fit in 6 bits; 0 stands for 64 since a
        // zero XOR never reaches this branch.
        WriteBits(static_cast<uint64_t>(significant & 63), 6);
        WriteBits(x >> trailing, significant);
      }
    }
  }
  last_t_ = t_ms;
  last_delta_ = delta;
  last_v_bits_ = v_bits;
  ++num_samples_;
  bytes_[0] = static_cast<char>((num_samples_ >> 8) & 0xff);
  bytes_[1] = static_cast<char>(num_samples_ & 0xff);
}

void XorChunkEncoder::WriteBits(uint64_t bits, int n) {
  // n is 1..64; only the low n bits of `bits` count.
  uint64_t left_aligned = bits << (64 - n);
  if (free_bits_ > 0) {
    // The last byte's free low bits take the first of them.
    const int k = std::min(n, free_bits_);
    const auto top = static_cast<uint8_t>(left_aligned >> (64 - k));
    bytes_.back() =
        static_cast<char>(static_cast<uint8_t>(bytes_.back()) | (top << (free_bits_ - k)));
    free_bits_ -= k;
    n -= k;
    if (n == 0) return;
    left_aligned <<= k;
  }
  // Byte-aligned now: the rest in one append, the last byte zero-padded.
  char out[8];
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(left_aligned >> (56 - 8 * i));
  const int whole = (n + 7) / 8;
  bytes_.append(out, whole);
  free_bits_ = whole * 8 - n;
}

void XorChunkEncoder::WriteVarint(int64_t v) {
  // Zigzag, as Go's binary.PutVarint.
  const uint64_t zigzag = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  WriteUvarint(zigzag);
}

void XorChunkEncoder::WriteUvarint(uint64_t v) {
  while (v >= 0x80) {
    WriteBits((v & 0x7f) | 0x80, 8);
    v >>= 7;
  }
  WriteBits(v, 8);
}

}  // namespace kad::proto
