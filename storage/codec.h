// Byte layouts of the keys and values in the storage column families.
// Internal to kad_storage (and its tests); nothing here touches RocksDB.
//
//   series / state key : id as 8 bytes big-endian, so keys sort by id.
//   runs key           : sequence number, laid out like an id key (the
//                        Encode/DecodeIdKey functions serve both).
//   log key            : sequence number, laid out like an id key.
//   blocks key         : id (8 bytes BE) + the time of the block's last
//                        point (8 bytes BE with the sign bit flipped, so
//                        negative times sort first). The Encode/DecodePoint
//                        KeyTime functions lay out any (id, time) key.
//   blocks value       : see storage/block_codec.h.
//   log value          : see the log record codec in storage/store.cc.
//
// Stateless functions: thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "storage/store.h"

namespace kad::storage {

inline constexpr size_t kIdKeySize = 8;
inline constexpr size_t kPointKeySize = 16;

std::string EncodeIdKey(uint64_t id);
// The id of a series / state key, nullopt if `key` is not one.
std::optional<uint64_t> DecodeIdKey(std::string_view key);
std::string EncodePointKey(uint64_t id, int64_t timestamp_ms);
// The same, without an allocation (a seal writes one per block).
std::array<char, kPointKeySize> PointKey(uint64_t id, int64_t timestamp_ms);

// The time of a blocks key, nullopt if `key` is not one.
std::optional<int64_t> DecodePointKeyTime(std::string_view key);

// Varints (LEB128) and zigzag, for the block, chunk and log codecs.
void AppendVarint(uint64_t v, std::string* out);
// Reads a varint at the front of *in and drops it; false if malformed.
// Inline: a read parses a few for every block it visits.
inline bool ReadVarint(std::string_view* in, uint64_t* v) {
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
inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1)); }

}  // namespace kad::storage
