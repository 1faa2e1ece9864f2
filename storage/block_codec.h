// Compressed blocks of forecast points: six Prometheus XOR chunks
// (storage/xor_chunk.h), one per Column, over the same timestamps. A read of
// one value type decodes one chunk, and a streamed remote read sends the
// stored chunk as it lies. Internal to kad_storage (and its tests); nothing
// here touches RocksDB.
//
// A sealed block value (format 3): kBlockFormatV3, varint point count, the
// six chunks' sizes as varints, then the chunks (counts included), all in
// Column order: a read finds the chunks it wants from the first bytes,
// without touching the others. Values of format 2 (storage/block_v2.h) are
// still read.
//
// OpenBlock is a plain value owned by one caller: not thread-safe. The free
// functions are stateless.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/store.h"
#include "storage/xor_chunk.h"

namespace kad::storage {

inline constexpr char kBlockFormatV3 = 3;

// The block a series is filling: its six chunks side by side in one buffer,
// each in a region that grows when its next point would not fit, with the
// state the next point's bits depend on.
class OpenBlock {
 public:
  OpenBlock() = default;
  OpenBlock(const OpenBlock& other);
  OpenBlock& operator=(const OpenBlock& other);
  OpenBlock(OpenBlock&&) noexcept = default;
  OpenBlock& operator=(OpenBlock&&) noexcept = default;

  // Appends p, whose time must be after last_timestamp() (unless empty);
  // at most kMaxChunkSamples points.
  void Append(const ForecastPoint& p);

  uint32_t count() const { return state_.count; }
  // The bytes of the six chunks.
  size_t byte_size() const;
  int64_t first_timestamp() const { return state_.first_t; }
  int64_t last_timestamp() const { return state_.last_t; }
  // Column c's chunk of the count() points.
  std::string_view Chunk(Column c) const;
  // The block as a sealed value (count() must not be 0): SealedHeader's
  // bytes, then the six chunks.
  std::string Sealed() const;
  static constexpr size_t kMaxSealedHeader = 1 + 3 + 3 * kNumColumns;
  size_t SealedHeader(char (&out)[kMaxSealedHeader]) const;
  // Appends its first n points to *out; false if they do not decode.
  bool Decode(uint32_t n, std::vector<ForecastPoint>* out) const;
  // Fetches the chunks' ends into the cache, for an Append soon.
  void Prefetch() const {
    if (buf_ == nullptr) return;
    for (int c = 0; c < kNumColumns; ++c) {
      __builtin_prefetch(ChunkStart(c) + kChunkHeaderBytes + state_.bits[c] / 8, 1);
    }
  }
  // Empties the block and frees its buffer, keeping the chunks' sizes: the
  // next block starts with half of that room and grows, so that an open
  // block holds about what its points take (it is RAM per series).
  void Clear();

  // Where the block stood: Rewind takes back what was appended since.
  struct Mark {
    uint32_t count = 0;
    int64_t first_t = 0;
    int64_t last_t = 0;
    int64_t last_delta = 0;
    std::array<uint32_t, kNumColumns> bits{};  // stream bits per column
    std::array<uint64_t, kNumColumns> last{};  // XOR state per column
    std::array<uint8_t, kNumColumns> leading = {0xff, 0xff, 0xff,
                                                0xff, 0xff, 0xff};  // no window yet
    std::array<uint8_t, kNumColumns> trailing{};
  };
  const Mark& mark() const { return state_; }
  // Only to a mark of this block since its last Clear.
  void Rewind(const Mark& mark);

 private:
  // Chunk c's first byte (its count), in buf_.
  unsigned char* ChunkStart(int c) const { return buf_.get() + start_[c]; }
  uint32_t RegionEnd(int c) const { return c + 1 < kNumColumns ? start_[c + 1] : capacity_; }
  uint32_t ChunkBytes(int c) const;
  void WriteCounts();
  // Moves the chunks to a new buffer where chunk c has room for need[c]
  // bytes, and more to grow into.
  void Grow(const std::array<uint32_t, kNumColumns>& need);

  std::unique_ptr<unsigned char[]> buf_;
  uint32_t capacity_ = 0;
  std::array<uint32_t, kNumColumns> start_{};
  Mark state_;
  // Each chunk's size in the last block, in 8-byte units (at most 255).
  std::array<uint8_t, kNumColumns> last_size_{};
};

// A sealed value's chunks, viewed in place.
struct SealedBlock {
  uint32_t count = 0;
  std::array<std::string_view, kNumColumns> chunks;
};
// Nullopt unless `value` is laid out as a format 3 value; the chunks
// themselves (their counts, their streams) are checked as they are read.
std::optional<SealedBlock> ParseSealed(std::string_view value);
// Whether a chunk's count (its first 2 bytes) is n.
bool ChunkCountIs(std::string_view chunk, uint32_t n);

// Encodes points (strictly increasing timestamps, at most
// kMaxChunkSamples) as a sealed value.
std::string EncodeBlock(const std::vector<ForecastPoint>& points);
// Appends the points of a sealed value (format 3 or 2) to *out; false if it
// is not a well-formed block.
bool DecodeBlock(std::string_view value, std::vector<ForecastPoint>* out);
// Appends the first n points of six column chunks to *out (a column
// without a chunk is left at 0); false if they do not decode.
bool DecodeChunks(const std::array<std::string_view, kNumColumns>& chunks, uint32_t n,
                  std::vector<ForecastPoint>* out);

}  // namespace kad::storage
