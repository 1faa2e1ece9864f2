// Protobuf base-128 varints (uvarint) and varint-prefixed strings, for the
// hand-written encoders and the label encodings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kad::proto {

inline size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Writes v at p (VarintSize(v) bytes of room); returns the end.
inline char* PutVarint(uint64_t v, char* p) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

inline void AppendVarint(uint64_t v, std::string* out) {
  char buf[10];
  out->append(buf, PutVarint(v, buf) - buf);
}

// Reads a varint-prefixed string from the front of `*in` into `*out` and
// drops both; false when the bytes end early or the varint is malformed.
inline bool ReadLengthPrefixed(std::string_view* in, std::string_view* out) {
  uint64_t size = 0;
  // 5 bytes hold any 32-bit size; longer encodings are garbage, and the
  // limit keeps the shift defined.
  constexpr int kMaxVarintBytes = 5;
  for (int i = 0;; ++i) {
    if (i == kMaxVarintBytes || in->empty()) return false;
    const auto byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    size |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) break;
  }
  if (size > in->size()) return false;
  *out = in->substr(0, size);
  in->remove_prefix(size);
  return true;
}

}  // namespace kad::proto
