// Prometheus XOR (Gorilla) chunk encoder, bit-exact with chunkenc.XORChunk,
// for STREAMED_XOR_CHUNKS remote read (and later for stored point blocks).
//
//   XorChunkEncoder enc;
//   enc.Append(1000, 1.5);
//   enc.Append(16000, 1.7);
//   send(enc.bytes());  // valid after every Append
//
// Not thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace kad::proto {

class XorChunkEncoder {
 public:
  // Prometheus cuts chunks at 120 samples; the format allows 65535.
  static constexpr int kMaxSamples = 65535;

  // Timestamps must strictly increase; at most kMaxSamples samples.
  void Append(int64_t t_ms, double v);
  void Reset();

  int num_samples() const { return num_samples_; }
  int64_t min_time_ms() const { return first_t_; }
  int64_t max_time_ms() const { return last_t_; }
  // The chunk's bytes: big-endian sample count, then the bit stream, last
  // byte zero-padded.
  const std::string& bytes() const { return bytes_; }

 private:
  void WriteBits(uint64_t bits, int n);
  void WriteVarint(int64_t v);
  void WriteUvarint(uint64_t v);

  std::string bytes_ = std::string(2, '\0');
  int free_bits_ = 0;  // unused low bits in bytes_.back()
  int num_samples_ = 0;
  int64_t first_t_ = 0;
  int64_t last_t_ = 0;
  int64_t last_delta_ = 0;
  uint64_t last_v_bits_ = 0;
  int leading_ = 0xff;  // 0xff: no XOR window yet
  int trailing_ = 0;
};

}  // namespace kad::proto
