// Blocks of format 2, written by releases before the six-column blocks of
// storage/block_codec.h: read only, so a database keeps its history across
// the upgrade. Internal to kad_storage (and its tests).
//
// Value: kBlockFormatV2, varint point count, then one bit stream (most
// significant bit first) holding per point:
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
//
// Stateless: thread-safe.
#pragma once

#include <string_view>
#include <vector>

#include "storage/store.h"

namespace kad::storage {

inline constexpr char kBlockFormatV2 = 2;

// Appends the points of a format 2 value to *out; false if it is not one.
bool DecodeBlockV2(std::string_view value, std::vector<ForecastPoint>* out);

}  // namespace kad::storage
