// Prometheus XOR chunks; see xor_chunk.h. The layout follows
// tsdb/chunkenc/xor.go of Prometheus 2.42 bit for bit, because remote-read
// clients decode these chunks with that code.
#include "storage/xor_chunk.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>

#include "storage/codec.h"

namespace kad::storage {
namespace {

constexpr uint64_t Mask(int n) { return n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1; }

// Whether the delta of deltas fits the n-bit bucket: [-(2^(n-1) - 1),
// 2^(n-1)], Prometheus' bitRange, so the same value picks the same bucket.
bool FitsBits(int64_t x, int n) {
  const int64_t half = int64_t{1} << (n - 1);
  return -(half - 1) <= x && x <= half;
}

// A bucket's n bits back to the delta of deltas: above 2^(n-1) they are
// negative, as Prometheus reads them.
int64_t FromBucket(uint64_t raw, int n) {
  return raw > (uint64_t{1} << (n - 1)) ? static_cast<int64_t>(raw) - (int64_t{1} << n)
                                        : static_cast<int64_t>(raw);
}

// The bytes of a uvarint, as stream bits.
BitRun UvarintRun(uint64_t u) {
  BitRun run;
  for (int i = 0;; ++i) {
    const uint64_t byte = u >= 0x80 ? (u & 0x7f) | 0x80 : u;
    if (i < 8) {
      run.first = (run.first << 8) | byte;
      run.first_n = static_cast<uint8_t>(run.first_n + 8);
    } else {
      run.second = (run.second << 8) | byte;
      run.second_n = static_cast<uint8_t>(run.second_n + 8);
    }
    if (u < 0x80) return run;
    u >>= 7;
  }
}

}  // namespace

BitRun XorTimeBits(int64_t t_ms, int count, int64_t* last_t, int64_t* last_delta) {
  BitRun run;
  if (count == 0) {
    run = UvarintRun(ZigZag(t_ms));
    *last_delta = 0;
  } else {
    // Unsigned arithmetic wraps like Go's instead of overflowing.
    const auto delta =
        static_cast<int64_t>(static_cast<uint64_t>(t_ms) - static_cast<uint64_t>(*last_t));
    if (count == 1) {
      run = UvarintRun(static_cast<uint64_t>(delta));
    } else {
      const auto dod =
          static_cast<int64_t>(static_cast<uint64_t>(delta) - static_cast<uint64_t>(*last_delta));
      // Written as the low bits of the two's complement, as Prometheus does.
      const auto raw = static_cast<uint64_t>(dod);
      if (dod == 0) {
        run = {.first = 0, .first_n = 1};
      } else if (FitsBits(dod, 14)) {
        run = {.first = (uint64_t{0b10} << 14) | (raw & Mask(14)), .first_n = 16};
      } else if (FitsBits(dod, 17)) {
        run = {.first = (uint64_t{0b110} << 17) | (raw & Mask(17)), .first_n = 20};
      } else if (FitsBits(dod, 20)) {
        run = {.first = (uint64_t{0b1110} << 20) | (raw & Mask(20)), .first_n = 24};
      } else {
        run = {.first = 0b1111, .second = raw, .first_n = 4, .second_n = 64};
      }
    }
    *last_delta = delta;
  }
  *last_t = t_ms;
  return run;
}

BitRun XorValueBits(double v, int count, uint64_t* last, uint8_t* leading, uint8_t* trailing) {
  const auto bits = std::bit_cast<uint64_t>(v);
  const uint64_t x = bits ^ *last;
  *last = bits;
  if (count == 0) return {.first = bits, .first_n = 64};
  if (x == 0) return {.first = 0, .first_n = 1};
  // Leading zeros go in 5 bits, so Prometheus caps them at 31.
  const int lead = std::min(std::countl_zero(x), 31);
  const int trail = std::countr_zero(x);
  if (*leading != 0xff && lead >= *leading && trail >= *trailing) {
    const int sig = 64 - *leading - *trailing;
    const uint64_t m = x >> *trailing;
    if (sig <= 62)
      return {.first = (uint64_t{0b10} << sig) | m, .first_n = static_cast<uint8_t>(2 + sig)};
    return {.first = 0b10, .second = m, .first_n = 2, .second_n = static_cast<uint8_t>(sig)};
  }
  *leading = static_cast<uint8_t>(lead);
  *trailing = static_cast<uint8_t>(trail);
  const int sig = 64 - lead - trail;
  // '11', 5 bits of leading zeros, 6 of significant bits: 64 does not fit,
  // and 0 stands for it since a zero XOR never gets here.
  const uint64_t head =
      (uint64_t{0b11} << 11) | (static_cast<uint64_t>(lead) << 6) | static_cast<uint64_t>(sig & 63);
  const uint64_t m = x >> trail;
  if (sig <= 51) return {.first = (head << sig) | m, .first_n = static_cast<uint8_t>(13 + sig)};
  return {.first = head, .second = m, .first_n = 13, .second_n = static_cast<uint8_t>(sig)};
}

std::optional<int64_t> XorChunkFirstTime(std::string_view chunk) {
  if (chunk.size() <= kChunkHeaderBytes || (chunk[0] == 0 && chunk[1] == 0)) return std::nullopt;
  uint64_t u = 0;
  for (size_t i = kChunkHeaderBytes; i < chunk.size() && i < kChunkHeaderBytes + 10; ++i) {
    const auto byte = static_cast<unsigned char>(chunk[i]);
    u |= static_cast<uint64_t>(byte & 0x7f) << (7 * (i - kChunkHeaderBytes));
    if (byte < 0x80) return UnZigZag(u);
  }
  return std::nullopt;
}

// --- XorChunkEncoder ---------------------------------------------------------

void XorChunkEncoder::Reset() {
  std::string bytes = std::move(bytes_);
  std::fill_n(bytes.begin(), bytes.size() - kPutBitsSlack, '\0');
  *this = XorChunkEncoder();
  bytes_ = std::move(bytes);
}

void XorChunkEncoder::Append(int64_t t_ms, double v) {
  assert(count_ < kMaxChunkSamples);
  assert(count_ == 0 || t_ms > last_t_);
  if (count_ == 0) first_t_ = t_ms;
  const BitRun t = XorTimeBits(t_ms, count_, &last_t_, &last_delta_);
  const BitRun x = XorValueBits(v, count_, &last_v_, &leading_, &trailing_);
  const size_t need = kChunkHeaderBytes + (bit_pos_ + t.size() + x.size() + 7) / 8 + kPutBitsSlack;
  if (bytes_.size() < need) bytes_.resize(std::max(need, 2 * bytes_.size()));
  auto* stream = reinterpret_cast<unsigned char*>(bytes_.data()) + kChunkHeaderBytes;
  PutRuns(t, x, stream, &bit_pos_);
  ++count_;
  bytes_[0] = static_cast<char>(count_ >> 8);
  bytes_[1] = static_cast<char>(count_ & 0xff);
}

// --- XorChunkDecoder ---------------------------------------------------------

XorChunkDecoder::XorChunkDecoder(std::string_view chunk)
    : in_(chunk.size() < kChunkHeaderBytes ? std::string_view() : chunk.substr(kChunkHeaderBytes)),
      count_(chunk.size() < kChunkHeaderBytes ? 0
                                              : (static_cast<unsigned char>(chunk[0]) << 8) |
                                                    static_cast<unsigned char>(chunk[1])),
      ok_(chunk.size() >= kChunkHeaderBytes) {}

uint64_t XorChunkDecoder::ReadUvarint() {
  uint64_t u = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    const uint64_t byte = in_.Read(8);
    u |= (byte & 0x7f) << shift;
    if (byte < 0x80) return u;
  }
  ok_ = false;  // more than ten bytes: not a varint
  return 0;
}

// Inline: half of decoding a chunk is here.
inline void XorChunkDecoder::ReadValue() {
  if (in_.Read(1) == 0) return;  // the same value again
  if (in_.Read(1) != 0) {        // a new window
    leading_ = static_cast<int>(in_.Read(5));
    int sig = static_cast<int>(in_.Read(6));
    if (sig == 0) sig = 64;
    trailing_ = 64 - leading_ - sig;
    if (trailing_ < 0) {
      ok_ = false;
      return;
    }
  }
  // A '10' before any window reads 64 bits, as Prometheus does.
  v_ ^= in_.Read(64 - leading_ - trailing_) << trailing_;
}

bool XorChunkDecoder::Next() {
  if (read_ == count_ || !ok()) return false;
  if (read_ == 0) {
    t_ = UnZigZag(ReadUvarint());
    v_ = in_.Read(64);
  } else if (read_ == 1) {
    delta_ = static_cast<int64_t>(ReadUvarint());
    t_ = static_cast<int64_t>(static_cast<uint64_t>(t_) + static_cast<uint64_t>(delta_));
    ReadValue();
  } else {
    int64_t dod = 0;
    if (in_.Read(1) != 0) {
      if (in_.Read(1) == 0) {
        dod = FromBucket(in_.Read(14), 14);
      } else if (in_.Read(1) == 0) {
        dod = FromBucket(in_.Read(17), 17);
      } else if (in_.Read(1) == 0) {
        dod = FromBucket(in_.Read(20), 20);
      } else {
        dod = static_cast<int64_t>(in_.Read(64));
      }
    }
    delta_ = static_cast<int64_t>(static_cast<uint64_t>(delta_) + static_cast<uint64_t>(dod));
    t_ = static_cast<int64_t>(static_cast<uint64_t>(t_) + static_cast<uint64_t>(delta_));
    ReadValue();
  }
  ++read_;
  return ok();
}

}  // namespace kad::storage
