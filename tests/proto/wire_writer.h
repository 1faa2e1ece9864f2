// Raw protobuf wire-format writers for the decoder tests: bodies the
// generated classes cannot produce (fields out of order, unpacked or split
// repeated fields, wrong wire types, bad refs).
//
//   std::string body;
//   AppendLengthDelimited(4, "__name__", &body);   // a v2 symbol
//
// Plain functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kad::testing {

inline void AppendVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

inline void AppendTag(uint32_t field, uint32_t wire_type, std::string* out) {
  AppendVarint((uint64_t{field} << 3) | wire_type, out);
}

inline void AppendLengthDelimited(uint32_t field, std::string_view bytes, std::string* out) {
  AppendTag(field, 2, out);
  AppendVarint(bytes.size(), out);
  out->append(bytes);
}

inline void AppendFixed64(uint32_t field, uint64_t bits, std::string* out) {
  AppendTag(field, 1, out);
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(bits >> (8 * i)));
}

}  // namespace kad::testing
