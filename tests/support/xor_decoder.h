// A Prometheus XOR (Gorilla) chunk decoder for tests, written from the format
// description (PROTOCOL.md, Prometheus tsdb/chunkenc/xor.go) and sharing no
// code with storage/xor_chunk.cc, so it can serve as its oracle.
//
//   absl::StatusOr<DecodedChunk> c = DecodeXorChunk(chunk.data());
//   for (size_t i = 0; i < c->t.size(); ++i) Use(c->t[i], c->value(i));
//
// Plain functions; thread-safe.
#pragma once

#include <bit>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kad::testing {

struct DecodedChunk {
  std::vector<int64_t> t;
  std::vector<uint64_t> v_bits;  // values as raw bits: NaN payloads survive
  // Per sample from the third: the delta-of-delta width the encoder picked
  // (0, 14, 17, 20 or 64 bits).
  std::vector<int> dod_widths;

  double value(size_t i) const { return std::bit_cast<double>(v_bits[i]); }
};

// Decodes a whole chunk: big-endian uint16 sample count, then the bit
// stream. InvalidArgument when the bytes end before the announced samples,
// or are followed by more than seven bits of padding or by non-zero padding.
absl::StatusOr<DecodedChunk> DecodeXorChunk(std::string_view chunk);

}  // namespace kad::testing
