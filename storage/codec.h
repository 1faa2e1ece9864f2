// Byte layouts of the keys and values in the storage column families.
// Internal to kad_storage (and its tests); nothing here touches RocksDB.
//
//   series / state key : id as 8 bytes big-endian, so keys sort by id.
//   runs key           : sequence number, laid out like an id key (the
//                        Encode/DecodeIdKey functions serve both).
//   points key         : id (8 bytes BE) + timestamp (8 bytes BE with the
//                        sign bit flipped, so negative times sort first).
//   points value       : kPointFormatV1, then value, yhat, yhat_lower,
//                        yhat_upper, anomaly_score as little-endian IEEE-754
//                        doubles, then the anomaly flag as one byte.
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
// Leading byte of every points value; bump it when the layout changes so
// old values stay readable.
inline constexpr char kPointFormatV1 = 1;
inline constexpr size_t kPointValueSize = 1 + 5 * 8 + 1;

std::string EncodeIdKey(uint64_t id);
// The id of a series / state key, nullopt if `key` is not one.
std::optional<uint64_t> DecodeIdKey(std::string_view key);
std::string EncodePointKey(uint64_t id, int64_t timestamp_ms);

// The timestamp of a points key, nullopt if `key` is not one.
std::optional<int64_t> DecodePointKeyTime(std::string_view key);

// The value part of a point (its timestamp lives in the key).
std::string EncodePointValue(const ForecastPoint& point);
// Fills everything but timestamp_ms; false on an unknown format or size.
bool DecodePointValue(std::string_view value, ForecastPoint* point);

}  // namespace kad::storage
