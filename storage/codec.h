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
//
// Stateless functions: thread-safe.
#pragma once

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

// The time of a blocks key, nullopt if `key` is not one.
std::optional<int64_t> DecodePointKeyTime(std::string_view key);

}  // namespace kad::storage
