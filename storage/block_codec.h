// Compressed time blocks of forecast points, in the spirit of Gorilla
// (Pelkonen et al., VLDB 2015): timestamps as delta-of-delta, the five
// doubles each XORed with its previous value, the anomaly flag as one bit.
// Internal to kad_storage (and its tests); nothing here touches RocksDB.
//
// Bitstream, per point (bits are written most significant first):
//   timestamp  first point: 64 bits. Later points: the delta of deltas
//              (first delta: against 0), modulo 2^64, as
//              '0' (zero) | '10' + 7 bits | '110' + 14 bits |
//              '1110' + 24 bits (two's complement) | '1111' + 64 bits.
//   5 doubles  value, yhat, yhat_lower, yhat_upper, anomaly_score. First
//              point: 64 bits each. Later: x = bits XOR previous bits;
//              '0' if x is 0; '10' + the bits of x inside the previous
//              window; '11' + 5 bits leading zeros (at most 31) + 6 bits
//              (significant bits - 1) + the significant bits (new window).
//   anomaly    1 bit.
// Timestamps must strictly increase within a block.
//
// A sealed block value: kBlockFormatV2, varint point count, bitstream.
//
// BlockEncoder and BlockDecoder are plain values owned by one caller: not
// thread-safe. The free functions are stateless.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/store.h"

namespace kad::storage {

inline constexpr char kBlockFormatV2 = 2;
inline constexpr int kBlockFields = 5;

// Appends points to a bitstream it does not own, so the owner decides where
// the bytes live (the open block of a series). Bytes past the current bit
// position may hold garbage: writes clear them. The string is kept longer
// than the stream (room for one more point); (bit_size() + 7) / 8 bytes of
// it are the stream.
class BlockEncoder {
 public:
  // Appends p; p.timestamp_ms must exceed last_timestamp() unless count()
  // is 0.
  void Append(const ForecastPoint& p, std::string* bits);

  uint32_t count() const { return count_; }
  uint32_t bit_size() const { return bit_size_; }
  size_t byte_size() const { return (bit_size_ + 7) / 8; }
  int64_t first_timestamp() const { return first_t_; }
  int64_t last_timestamp() const { return last_t_; }

 private:
  void WriteBits(uint64_t v, int n, std::string* bits);
  void WriteValue(int field, double d, std::string* bits);

  int64_t first_t_ = 0;
  int64_t last_t_ = 0;
  uint64_t last_delta_ = 0;
  uint64_t last_bits_[kBlockFields] = {};
  // The window of the last '11' value: leading zeros and significant bits.
  uint8_t leading_[kBlockFields] = {};
  uint8_t significant_[kBlockFields] = {};
  uint32_t count_ = 0;
  uint32_t bit_size_ = 0;
};

// Reads `count` points from a bitstream.
class BlockDecoder {
 public:
  BlockDecoder(std::string_view bits, uint32_t count);
  // False at the end, or when the stream is shorter than its count says
  // (then ok() is false).
  bool Next(ForecastPoint* p);
  bool ok() const { return ok_; }

 private:
  // Tops up buffer_ from the stream; RefillTail near its end.
  void Refill();
  void RefillTail();
  uint64_t ReadBits(int n);
  // ReadBits when a refill left fewer than n bits: the stream's end, or
  // more than 56 bits.
  uint64_t ReadStraddling(int n);
  double ReadValue(int field);

  // The stream not yet in buffer_.
  const unsigned char* next_;
  const unsigned char* end_;
  // The next held_ bits of the stream, most significant first.
  uint64_t buffer_ = 0;
  int held_ = 0;
  uint32_t left_;
  bool ok_ = true;
  bool first_ = true;
  int64_t last_t_ = 0;
  uint64_t last_delta_ = 0;
  uint64_t last_bits_[kBlockFields] = {};
  uint8_t leading_[kBlockFields] = {};
  uint8_t significant_[kBlockFields] = {};
};

// Encodes points (strictly increasing timestamps) as a sealed block value.
std::string EncodeBlock(const std::vector<ForecastPoint>& points);
// The value of a sealed block from an encoder's bitstream.
std::string SealedBlockValue(const BlockEncoder& encoder, std::string_view bits);
// Appends the points of a sealed block value to *out; false if the value is
// not a well-formed block.
bool DecodeBlock(std::string_view value, std::vector<ForecastPoint>* out);
// Decodes `count` points of a bitstream into *out; false if it is short.
bool DecodeBits(std::string_view bits, uint32_t count, std::vector<ForecastPoint>* out);

// Varints (LEB128) and zigzag, shared with the log record codec.
void AppendVarint(uint64_t v, std::string* out);
// Reads a varint at the front of *in and drops it; false if malformed.
bool ReadVarint(std::string_view* in, uint64_t* v);
inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

}  // namespace kad::storage
