// Prometheus' XOR chunk (tsdb/chunkenc/xor.go of Prometheus 2.42), bit for
// bit: the columns of the stored forecast blocks (storage/block_codec.h),
// which a streamed remote read sends as they lie, and the chunks a read
// encodes afresh.
//
// A chunk is its sample count (2 bytes, big-endian), then one bit stream,
// most significant bit first, zero-padded to a whole byte:
//   sample 0   timestamp as a zigzag varint, value as its 64 bits
//   sample 1   timestamp delta as a varint, value as below
//   later      delta of deltas: '0' | '10' + 14 bits | '110' + 17 bits |
//              '1110' + 20 bits | '1111' + 64 bits (two's complement; an
//              n-bit bucket holds -(2^(n-1) - 1) to 2^(n-1), as Prometheus'
//              bitRange)
//   values     XOR with the previous value: '0' when equal; '10' + the bits
//              inside the previous window; '11' + 5 bits leading zeros (at
//              most 31) + 6 bits significant bits (0 for 64) + the bits.
//
//   XorChunkEncoder enc;
//   enc.Append(1000, 1.5);
//   enc.Append(16000, 1.7);
//   send(enc.bytes());                       // valid after every Append
//   for (XorChunkDecoder dec(enc.bytes()); dec.Next();) use(dec.t(), dec.v());
//
// The encoder and decoder are plain values owned by one caller: not
// thread-safe. The bit-level pieces below them (XorTimeBits, XorValueBits,
// PutBits) are what storage/block_codec.cc builds its six-column blocks from.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "storage/bit_reader.h"

namespace kad::storage {

// Prometheus cuts chunks at 120 samples; the count field allows 65535.
inline constexpr int kMaxChunkSamples = 65535;
inline constexpr int kChunkHeaderBytes = 2;

// Up to 128 bits a sample adds to a stream, written in order: the low
// `first_n` bits of `first` (1..64), then the low `second_n` of `second`
// (0..64).
struct BitRun {
  uint64_t first = 0;
  uint64_t second = 0;
  uint8_t first_n = 0;
  uint8_t second_n = 0;
  int size() const { return first_n + second_n; }
};

// The bits of sample number `count`'s timestamp t_ms (greater than the last
// one's), updating the chunk's timestamp state.
BitRun XorTimeBits(int64_t t_ms, int count, int64_t* last_t, int64_t* last_delta);

// The bits of sample number `count`'s value, updating the chunk's value
// state: the last value's bits and its XOR window (leading 0xff: none yet).
BitRun XorValueBits(double v, int count, uint64_t* last, uint8_t* leading, uint8_t* trailing);

// Room a stream needs past its last byte for PutBits' whole-word writes.
inline constexpr size_t kPutBitsSlack = 8;

// Writes the low n bits of v (n is 1..64) at bit `*pos` of `stream`, and
// advances *pos. The stream must be zero from *pos on, with kPutBitsSlack
// bytes past the bits' last byte that it may read and write back unchanged
// (a word at a time: a byte loop was most of encoding).
inline void PutBits(uint64_t v, int n, unsigned char* stream, uint32_t* pos) {
  unsigned char* p = stream + *pos / 8;
  const int used = static_cast<int>(*pos % 8);
  *pos += static_cast<uint32_t>(n);
  const uint64_t bits = n == 64 ? v : v << (64 - n);  // left-aligned; v's higher bits drop out
  uint64_t word;
  std::memcpy(&word, p, 8);
  word = __builtin_bswap64(__builtin_bswap64(word) | bits >> used);  // most significant bit first
  std::memcpy(p, &word, 8);
  if (used + n > 64) p[8] = static_cast<unsigned char>(bits << (64 - used) >> 56);
}

// Writes a run.
inline void PutRun(const BitRun& run, unsigned char* stream, uint32_t* pos) {
  PutBits(run.first, run.first_n, stream, pos);
  if (run.second_n != 0) PutBits(run.second, run.second_n, stream, pos);
}
// Writes a run and `then` after it, in one word when both fit in one.
inline void PutRuns(const BitRun& run, const BitRun& then, unsigned char* stream, uint32_t* pos) {
  if (run.second_n == 0 && then.second_n == 0 && run.first_n + then.first_n <= 64) {
    PutBits(run.first << then.first_n | then.first, run.first_n + then.first_n, stream, pos);
    return;
  }
  PutRun(run, stream, pos);
  PutRun(then, stream, pos);
}

// The first timestamp of a chunk, nullopt if it has none or is malformed.
std::optional<int64_t> XorChunkFirstTime(std::string_view chunk);

class XorChunkEncoder {
 public:
  // t_ms must exceed the last sample's; at most kMaxChunkSamples samples.
  void Append(int64_t t_ms, double v);
  void Reset();

  int num_samples() const { return count_; }
  int64_t min_time_ms() const { return first_t_; }
  int64_t max_time_ms() const { return last_t_; }
  // The chunk: count, then the stream, last byte zero-padded.
  std::string_view bytes() const {
    return std::string_view(bytes_).substr(0, kChunkHeaderBytes + (bit_pos_ + 7) / 8);
  }

 private:
  // The chunk, then zeros to grow into (kept by Reset).
  std::string bytes_ = std::string(kChunkHeaderBytes + kPutBitsSlack, '\0');
  uint32_t bit_pos_ = 0;  // in the stream, after the header
  int count_ = 0;
  int64_t first_t_ = 0;
  int64_t last_t_ = 0;
  int64_t last_delta_ = 0;
  uint64_t last_v_ = 0;
  uint8_t leading_ = 0xff;
  uint8_t trailing_ = 0;
};

class XorChunkDecoder {
 public:
  // `chunk` is a whole chunk, count included, and must outlive the decoder.
  explicit XorChunkDecoder(std::string_view chunk);

  int count() const { return count_; }
  // Reads the next sample into t() and v(); false after the last one, or
  // when the stream ends before its count says (then ok() is false).
  bool Next();
  int64_t t() const { return t_; }
  double v() const { return std::bit_cast<double>(v_); }
  bool ok() const { return ok_ && in_.ok(); }

 private:
  uint64_t ReadUvarint();
  void ReadValue();

  BitReader in_;
  int count_ = 0;
  int read_ = 0;
  bool ok_ = true;
  int64_t t_ = 0;
  int64_t delta_ = 0;
  uint64_t v_ = 0;
  int leading_ = 0;
  int trailing_ = 0;
};

}  // namespace kad::storage
