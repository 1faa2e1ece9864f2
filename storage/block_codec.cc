#include "storage/block_codec.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "storage/block_v2.h"
#include "storage/codec.h"
#include "storage/xor_chunk.h"

namespace kad::storage {
namespace {

// Room per chunk in a series' first block, before it grows.
constexpr uint32_t kFirstChunkBytes = 32;
constexpr char kEmptyChunk[kChunkHeaderBytes] = {0, 0};

uint32_t StreamBytes(uint32_t bits) { return (bits + 7) / 8; }

}  // namespace

OpenBlock::OpenBlock(const OpenBlock& other)
    : capacity_(other.capacity_),
      start_(other.start_),
      state_(other.state_),
      last_size_(other.last_size_) {
  if (other.buf_ != nullptr) {
    buf_.reset(new unsigned char[capacity_ + kPutBitsSlack]);
    std::memcpy(buf_.get(), other.buf_.get(), capacity_ + kPutBitsSlack);
  }
}

OpenBlock& OpenBlock::operator=(const OpenBlock& other) {
  if (this != &other) *this = OpenBlock(other);
  return *this;
}

uint32_t OpenBlock::ChunkBytes(int c) const {
  return kChunkHeaderBytes + StreamBytes(state_.bits[c]);
}

size_t OpenBlock::byte_size() const {
  if (state_.count == 0) return 0;
  size_t bytes = 0;
  for (int c = 0; c < kNumColumns; ++c) bytes += ChunkBytes(c);
  return bytes;
}

void OpenBlock::Append(const ForecastPoint& p) {
  Mark& s = state_;
  assert(s.count < kMaxChunkSamples);
  assert(s.count == 0 || p.timestamp_ms > s.last_t);
  const auto n = static_cast<int>(s.count);
  if (n == 0) s.first_t = p.timestamp_ms;
  // The timestamp's bits are the same in every chunk.
  const BitRun t = XorTimeBits(p.timestamp_ms, n, &s.last_t, &s.last_delta);
  const std::array<double, kNumColumns> values = ColumnValues(p);
  std::array<BitRun, kNumColumns> x;
  std::array<uint32_t, kNumColumns> need;
  bool fits = buf_ != nullptr;
  for (int c = 0; c < kNumColumns; ++c) {
    x[c] = XorValueBits(values[c], n, &s.last[c], &s.leading[c], &s.trailing[c]);
    need[c] = kChunkHeaderBytes + StreamBytes(s.bits[c] + t.size() + x[c].size());
    fits = fits && start_[c] + need[c] <= RegionEnd(c);
  }
  if (!fits) Grow(need);
  for (int c = 0; c < kNumColumns; ++c) {
    PutRuns(t, x[c], ChunkStart(c) + kChunkHeaderBytes, &s.bits[c]);
  }
  ++s.count;
  WriteCounts();
}

void OpenBlock::WriteCounts() {
  for (int c = 0; c < kNumColumns; ++c) {
    ChunkStart(c)[0] = static_cast<unsigned char>(state_.count >> 8);
    ChunkStart(c)[1] = static_cast<unsigned char>(state_.count & 0xff);
  }
}

void OpenBlock::Grow(const std::array<uint32_t, kNumColumns>& need) {
  // A block starts with half of the room the series' last one took, and
  // every chunk grows by half when one is full (they fill alike): two moves
  // a block, and a fifth of the room unused on average.
  std::array<uint32_t, kNumColumns> room;
  uint32_t total = 0;
  for (int c = 0; c < kNumColumns; ++c) {
    if (buf_ == nullptr) {
      room[c] = std::max(need[c], last_size_[c] != 0 ? last_size_[c] * 8 / 2 : kFirstChunkBytes);
    } else {
      const uint32_t region = RegionEnd(c) - start_[c];
      room[c] = std::max(need[c] + need[c] / 2, region + region / 2);
    }
    total += room[c];
  }
  // Zeros, as PutBits wants past the bits (and its slack past the end).
  std::unique_ptr<unsigned char[]> buf(new unsigned char[total + kPutBitsSlack]());
  uint32_t at = 0;
  for (int c = 0; c < kNumColumns; ++c) {
    if (buf_ != nullptr) std::memcpy(buf.get() + at, ChunkStart(c), ChunkBytes(c));
    start_[c] = at;
    at += room[c];
  }
  buf_ = std::move(buf);
  capacity_ = total;
}

std::string_view OpenBlock::Chunk(Column c) const {
  if (buf_ == nullptr) return {kEmptyChunk, kChunkHeaderBytes};
  const int i = static_cast<int>(c);
  return {reinterpret_cast<const char*>(ChunkStart(i)), ChunkBytes(i)};
}

size_t OpenBlock::SealedHeader(char (&out)[kMaxSealedHeader]) const {
  assert(count() > 0);
  char* p = out;
  *p++ = kBlockFormatV3;
  auto put = [&p](uint32_t v) {
    for (; v >= 0x80; v >>= 7) *p++ = static_cast<char>((v & 0x7f) | 0x80);
    *p++ = static_cast<char>(v);
  };
  put(count());                                              // at most 65535: 3 bytes
  for (int c = 0; c < kNumColumns; ++c) put(ChunkBytes(c));  // under 2^21 bytes: 3 each
  return static_cast<size_t>(p - out);
}

std::string OpenBlock::Sealed() const {
  char header[kMaxSealedHeader];
  std::string value(header, SealedHeader(header));
  value.reserve(value.size() + byte_size());
  for (int c = 0; c < kNumColumns; ++c) value.append(Chunk(static_cast<Column>(c)));
  return value;
}

bool OpenBlock::Decode(uint32_t n, std::vector<ForecastPoint>* out) const {
  std::array<std::string_view, kNumColumns> chunks;
  for (int c = 0; c < kNumColumns; ++c) chunks[c] = Chunk(static_cast<Column>(c));
  return DecodeChunks(chunks, n, out);
}

void OpenBlock::Clear() {
  if (state_.count > 0) {
    for (int c = 0; c < kNumColumns; ++c) {
      last_size_[c] = static_cast<uint8_t>(std::min<uint32_t>(255, (ChunkBytes(c) + 7) / 8));
    }
  }
  buf_.reset();
  capacity_ = 0;
  start_ = {};
  state_ = Mark();
}

void OpenBlock::Rewind(const Mark& mark) {
  if (buf_ != nullptr) {
    // What was appended since goes back to zeros, as PutBits wants.
    for (int c = 0; c < kNumColumns; ++c) {
      unsigned char* stream = ChunkStart(c) + kChunkHeaderBytes;
      const uint32_t from = mark.bits[c];
      const uint32_t to = state_.bits[c];
      if (to <= from) continue;
      if (from % 8 != 0) stream[from / 8] &= static_cast<unsigned char>(0xff << (8 - from % 8));
      const uint32_t whole = (from + 7) / 8;
      std::memset(stream + whole, 0, StreamBytes(to) - std::min(whole, StreamBytes(to)));
    }
  }
  state_ = mark;
  if (buf_ != nullptr) WriteCounts();
}

std::optional<SealedBlock> ParseSealed(std::string_view value) {
  if (value.empty() || value[0] != kBlockFormatV3) return std::nullopt;
  value.remove_prefix(1);
  uint64_t count = 0;
  if (!ReadVarint(&value, &count) || count == 0 || count > kMaxChunkSamples) return std::nullopt;
  std::array<uint64_t, kNumColumns> sizes;
  uint64_t total = 0;
  for (uint64_t& size : sizes) {
    if (!ReadVarint(&value, &size) || size < kChunkHeaderBytes || size > value.size()) {
      return std::nullopt;
    }
    total += size;
  }
  if (total != value.size()) return std::nullopt;
  SealedBlock block;
  block.count = static_cast<uint32_t>(count);
  for (int c = 0; c < kNumColumns; ++c) {
    block.chunks[c] = value.substr(0, sizes[c]);
    value.remove_prefix(sizes[c]);
  }
  return block;
}

bool ChunkCountIs(std::string_view chunk, uint32_t n) {
  return chunk.size() >= kChunkHeaderBytes &&
         static_cast<uint32_t>((static_cast<unsigned char>(chunk[0]) << 8) |
                               static_cast<unsigned char>(chunk[1])) == n;
}

std::string EncodeBlock(const std::vector<ForecastPoint>& points) {
  OpenBlock block;
  for (const ForecastPoint& p : points) block.Append(p);
  return block.Sealed();
}

bool DecodeChunks(const std::array<std::string_view, kNumColumns>& chunks, uint32_t n,
                  std::vector<ForecastPoint>* out) {
  // A column without a chunk decodes an empty one: it ends at once, and
  // its value stays 0.
  std::array<XorChunkDecoder, kNumColumns> in = {
      XorChunkDecoder(chunks[0]), XorChunkDecoder(chunks[1]), XorChunkDecoder(chunks[2]),
      XorChunkDecoder(chunks[3]), XorChunkDecoder(chunks[4]), XorChunkDecoder(chunks[5])};
  std::array<bool, kNumColumns> present;
  int first = -1;
  for (int c = 0; c < kNumColumns; ++c) {
    present[c] = !chunks[c].empty();
    if (present[c] && first < 0) first = c;
  }
  if (first < 0) return n == 0;
  out->reserve(out->size() + n);
  for (uint32_t i = 0; i < n; ++i) {
    double v[kNumColumns] = {};
    for (int c = 0; c < kNumColumns; ++c) {
      if (!present[c]) continue;
      // The columns share their timestamps; a block where they differ is
      // damaged.
      if (!in[c].Next() || in[c].t() != in[first].t()) return false;
      v[c] = in[c].v();
    }
    out->push_back({.timestamp_ms = in[first].t(),
                    .value = v[0],
                    .yhat = v[1],
                    .yhat_lower = v[2],
                    .yhat_upper = v[3],
                    .anomaly_score = v[5],
                    .anomaly = v[4] != 0});
  }
  return true;
}

bool DecodeBlock(std::string_view value, std::vector<ForecastPoint>* out) {
  if (!value.empty() && value[0] == kBlockFormatV2) return DecodeBlockV2(value, out);
  const std::optional<SealedBlock> block = ParseSealed(value);
  return block.has_value() && DecodeChunks(block->chunks, block->count, out);
}

}  // namespace kad::storage
