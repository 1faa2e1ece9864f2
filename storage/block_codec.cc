#include "storage/block_codec.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace kad::storage {
namespace {

constexpr uint64_t Mask(int n) { return n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1; }

// Sign-extends the low n bits of v.
int64_t SignExtend(uint64_t v, int n) {
  if (n >= 64) return static_cast<int64_t>(v);
  const uint64_t sign = uint64_t{1} << (n - 1);
  return static_cast<int64_t>((v ^ sign) - sign);
}

bool Fits(int64_t v, int n) { return v >= -(int64_t{1} << (n - 1)) && v < (int64_t{1} << (n - 1)); }

double FieldOf(const ForecastPoint& p, int field) {
  switch (field) {
    case 0:
      return p.value;
    case 1:
      return p.yhat;
    case 2:
      return p.yhat_lower;
    case 3:
      return p.yhat_upper;
    default:
      return p.anomaly_score;
  }
}

void SetField(ForecastPoint* p, int field, double d) {
  switch (field) {
    case 0:
      p->value = d;
      break;
    case 1:
      p->yhat = d;
      break;
    case 2:
      p->yhat_lower = d;
      break;
    case 3:
      p->yhat_upper = d;
      break;
    default:
      p->anomaly_score = d;
      break;
  }
}

}  // namespace

// The most bits one point takes: 64 for the timestamp, 5 x (2 + 5 + 6 + 64)
// for the values, 1 for the flag.
constexpr uint32_t kMaxPointBits = 64 + 5 * 77 + 1;

// Room is made once per point (Append), so this only writes.
void BlockEncoder::WriteBits(uint64_t v, int n, std::string* bits) {
  v &= Mask(n);
  auto* p = reinterpret_cast<unsigned char*>(bits->data()) + bit_size_ / 8;
  const int used = static_cast<int>(bit_size_ % 8);
  bit_size_ += static_cast<uint32_t>(n);
  if (used != 0) {
    const int room = 8 - used;
    const auto kept = static_cast<unsigned char>(*p & (0xff << room));
    if (n <= room) {
      *p = static_cast<unsigned char>(kept | (v << (room - n)));
      return;
    }
    n -= room;
    *p++ = static_cast<unsigned char>(kept | (v >> n));
  }
  while (n >= 8) {
    n -= 8;
    *p++ = static_cast<unsigned char>(v >> n);
  }
  if (n > 0) *p = static_cast<unsigned char>(v << (8 - n));
}

void BlockEncoder::WriteValue(int field, double d, std::string* bits) {
  const uint64_t b = std::bit_cast<uint64_t>(d);
  const uint64_t x = b ^ last_bits_[field];
  last_bits_[field] = b;
  if (x == 0) {
    WriteBits(0, 1, bits);
    return;
  }
  const int leading = std::min(std::countl_zero(x), 31);
  const int trailing = std::countr_zero(x);
  const int old_sig = significant_[field];
  const int old_lead = leading_[field];
  if (old_sig != 0 && leading >= old_lead && trailing >= 64 - old_lead - old_sig) {
    WriteBits(0b10, 2, bits);
    WriteBits(x >> (64 - old_lead - old_sig), old_sig, bits);
    return;
  }
  const int sig = 64 - leading - trailing;
  WriteBits(0b11, 2, bits);
  WriteBits(static_cast<uint64_t>(leading), 5, bits);
  WriteBits(static_cast<uint64_t>(sig - 1), 6, bits);
  WriteBits(x >> trailing, sig, bits);
  leading_[field] = static_cast<uint8_t>(leading);
  significant_[field] = static_cast<uint8_t>(sig);
}

void BlockEncoder::Append(const ForecastPoint& p, std::string* bits) {
  const size_t need = (bit_size_ + kMaxPointBits + 7) / 8;
  if (bits->size() < need) {
    // Open blocks live in memory for every series: grow by a quarter, not
    // by doubling.
    if (bits->capacity() < need) bits->reserve(std::max<size_t>(need + need / 4, 64));
    bits->resize(need);
  }
  if (count_ == 0) {
    WriteBits(static_cast<uint64_t>(p.timestamp_ms), 64, bits);
    for (int f = 0; f < kBlockFields; ++f) {
      last_bits_[f] = std::bit_cast<uint64_t>(FieldOf(p, f));
      WriteBits(last_bits_[f], 64, bits);
      significant_[f] = 0;
    }
    first_t_ = p.timestamp_ms;
    last_delta_ = 0;
  } else {
    // Modulo 2^64, so any two timestamps have a delta.
    const uint64_t delta = static_cast<uint64_t>(p.timestamp_ms) - static_cast<uint64_t>(last_t_);
    const auto dod = static_cast<int64_t>(delta - last_delta_);
    last_delta_ = delta;
    if (dod == 0) {
      WriteBits(0, 1, bits);
    } else if (Fits(dod, 7)) {
      WriteBits(0b10, 2, bits);
      WriteBits(static_cast<uint64_t>(dod), 7, bits);
    } else if (Fits(dod, 14)) {
      WriteBits(0b110, 3, bits);
      WriteBits(static_cast<uint64_t>(dod), 14, bits);
    } else if (Fits(dod, 24)) {
      WriteBits(0b1110, 4, bits);
      WriteBits(static_cast<uint64_t>(dod), 24, bits);
    } else {
      WriteBits(0b1111, 4, bits);
      WriteBits(static_cast<uint64_t>(dod), 64, bits);
    }
    for (int f = 0; f < kBlockFields; ++f) WriteValue(f, FieldOf(p, f), bits);
  }
  WriteBits(p.anomaly ? 1 : 0, 1, bits);
  last_t_ = p.timestamp_ms;
  ++count_;
}

BlockDecoder::BlockDecoder(std::string_view bits, uint32_t count)
    : next_(reinterpret_cast<const unsigned char*>(bits.data())),
      end_(next_ + bits.size()),
      left_(count) {}

inline void BlockDecoder::Refill() {
  // Whole bytes go in below the bits already held, as many as fit, so that
  // at least 57 are held unless the stream ends.
  if (end_ - next_ >= 8) [[likely]] {
    uint64_t w;
    std::memcpy(&w, next_, 8);
    w = __builtin_bswap64(w);  // the stream is most significant bit first
    // Bits past the whole bytes taken are the stream's next bits too, so
    // OR-ing them in again later changes nothing.
    buffer_ |= w >> held_;
    const int take = (64 - held_) / 8;
    next_ += take;
    held_ += take * 8;
    return;
  }
  RefillTail();
}

void BlockDecoder::RefillTail() {
  while (held_ <= 56 && next_ != end_) {
    buffer_ |= static_cast<uint64_t>(*next_++) << (56 - held_);
    held_ += 8;
  }
}

inline uint64_t BlockDecoder::ReadBits(int n) {
  // n is 1..64; buffer_ holds held_ bits, left-aligned. Inline, with the
  // refill from a whole word inline too, the common case is a shift: calls
  // were half of a remote read's decoding.
  if (n > held_) [[unlikely]] {
    Refill();
    if (n > held_) [[unlikely]] return ReadStraddling(n);
  }
  const uint64_t v = buffer_ >> (64 - n);
  buffer_ = n == 64 ? 0 : buffer_ << n;
  held_ -= n;
  return v;
}

uint64_t BlockDecoder::ReadStraddling(int n) {
  if (n <= 56 || n > held_ + 8 * (end_ - next_)) {
    ok_ = false;
    return 0;
  }
  // More than 56 bits straddling the refill: read them in two parts.
  const uint64_t top = ReadBits(n - 32);
  return (top << 32) | ReadBits(32);
}

double BlockDecoder::ReadValue(int field) {
  if (ReadBits(1) != 0) {
    uint64_t x;
    if (ReadBits(1) == 0) {
      const int sig = significant_[field];
      if (sig == 0) {
        ok_ = false;  // a window that was never opened
        return 0;
      }
      x = ReadBits(sig) << (64 - leading_[field] - sig);
    } else {
      const int leading = static_cast<int>(ReadBits(5));
      const int sig = static_cast<int>(ReadBits(6)) + 1;
      if (leading + sig > 64) {
        ok_ = false;
        return 0;
      }
      x = ReadBits(sig) << (64 - leading - sig);
      leading_[field] = static_cast<uint8_t>(leading);
      significant_[field] = static_cast<uint8_t>(sig);
    }
    last_bits_[field] ^= x;
  }
  return std::bit_cast<double>(last_bits_[field]);
}

bool BlockDecoder::Next(ForecastPoint* p) {
  if (left_ == 0 || !ok_) return false;
  if (first_) {
    first_ = false;
    p->timestamp_ms = static_cast<int64_t>(ReadBits(64));
    for (int f = 0; f < kBlockFields; ++f) {
      last_bits_[f] = ReadBits(64);
      SetField(p, f, std::bit_cast<double>(last_bits_[f]));
    }
  } else {
    int64_t dod = 0;
    if (ReadBits(1) != 0) {
      if (ReadBits(1) == 0) {
        dod = SignExtend(ReadBits(7), 7);
      } else if (ReadBits(1) == 0) {
        dod = SignExtend(ReadBits(14), 14);
      } else if (ReadBits(1) == 0) {
        dod = SignExtend(ReadBits(24), 24);
      } else {
        dod = static_cast<int64_t>(ReadBits(64));
      }
    }
    last_delta_ += static_cast<uint64_t>(dod);
    p->timestamp_ms = static_cast<int64_t>(static_cast<uint64_t>(last_t_) + last_delta_);
    for (int f = 0; f < kBlockFields; ++f) SetField(p, f, ReadValue(f));
  }
  p->anomaly = ReadBits(1) != 0;
  last_t_ = p->timestamp_ms;
  --left_;
  return ok_;
}

void AppendVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool ReadVarint(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0, i = 0; i < 10 && i < static_cast<int>(in->size()); ++i, shift += 7) {
    const auto byte = static_cast<unsigned char>((*in)[i]);
    if (i == 9 && byte > 1) return false;  // past 64 bits
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      in->remove_prefix(i + 1);
      *v = result;
      return true;
    }
  }
  return false;
}

std::string SealedBlockValue(const BlockEncoder& encoder, std::string_view bits) {
  std::string value;
  const size_t bytes = (encoder.bit_size() + 7) / 8;
  value.reserve(1 + 5 + bytes);
  value.push_back(kBlockFormatV2);
  AppendVarint(encoder.count(), &value);
  value.append(bits.data(), bytes);
  return value;
}

std::string EncodeBlock(const std::vector<ForecastPoint>& points) {
  BlockEncoder encoder;
  std::string bits;
  for (const ForecastPoint& p : points) encoder.Append(p, &bits);
  return SealedBlockValue(encoder, bits);
}

bool DecodeBits(std::string_view bits, uint32_t count, std::vector<ForecastPoint>* out) {
  BlockDecoder decoder(bits, count);
  ForecastPoint p;
  while (decoder.Next(&p)) out->push_back(p);
  return decoder.ok();
}

bool DecodeBlock(std::string_view value, std::vector<ForecastPoint>* out) {
  if (value.empty() || value[0] != kBlockFormatV2) return false;
  value.remove_prefix(1);
  uint64_t count = 0;
  if (!ReadVarint(&value, &count) || count == 0 || count > value.size() * 8) return false;
  return DecodeBits(value, static_cast<uint32_t>(count), out);
}

}  // namespace kad::storage
