// Protobuf base-128 varints (uvarint), for the hand-written encoders.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

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

}  // namespace kad::proto
