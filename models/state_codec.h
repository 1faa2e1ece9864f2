// Little-endian fixed-width encoding of model state, so a state written on
// one machine restores on any other.
//
//   std::string out;
//   StateWriter w(&out);
//   w.U8(kVersion); w.F64(level);
//   StateReader r(out);
//   uint8_t version; double level;
//   if (!r.U8(&version) || !r.F64(&level) || !r.AtEnd()) { /* corrupt */ }
//
// Readers never read past the end: a short input makes every later read
// fail. Not thread-safe; use one writer or reader per buffer.
//
// Every kind's state starts with a StateHeader, so that Restore() rejects
// state of another format version, kind or set of options:
//
//   const StateHeader header{kKnnKind, kFormatVersion, kKindTag, options_->Fingerprint()};
//   WriteStateHeader(header, &w);   // in SerializeTo
//   if (absl::Status s = ReadStateHeader(header, &r); !s.ok()) return s;  // in Restore
#pragma once

#include <bit>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace kad::models {

class StateWriter {
 public:
  explicit StateWriter(std::string* out) : out_(out) {}

  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { Put(v, 2); }
  void U32(uint32_t v) { Put(v, 4); }
  void U64(uint64_t v) { Put(v, 8); }
  void I64(int64_t v) { Put(static_cast<uint64_t>(v), 8); }
  void F32(float v) { Put(std::bit_cast<uint32_t>(v), 4); }
  void F64(double v) { Put(std::bit_cast<uint64_t>(v), 8); }

 private:
  void Put(uint64_t v, int bytes) {
    char buf[8];
    for (int i = 0; i < bytes; ++i) buf[i] = static_cast<char>(v >> (8 * i));
    out_->append(buf, bytes);
  }

  std::string* out_;
};

class StateReader {
 public:
  explicit StateReader(std::string_view in) : in_(in) {}

  // Each returns false, leaving *v unchanged, when the input is too short.
  bool U8(uint8_t* v) { return Get(v, 1); }
  bool U16(uint16_t* v) { return Get(v, 2); }
  bool U32(uint32_t* v) { return Get(v, 4); }
  bool U64(uint64_t* v) { return Get(v, 8); }
  bool I64(int64_t* v) {
    uint64_t u;
    if (!Get(&u, 8)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool F32(float* v) {
    uint32_t u;
    if (!Get(&u, 4)) return false;
    *v = std::bit_cast<float>(u);
    return true;
  }
  bool F64(double* v) {
    uint64_t u;
    if (!Get(&u, 8)) return false;
    *v = std::bit_cast<double>(u);
    return true;
  }

  bool AtEnd() const { return pos_ == in_.size(); }

 private:
  template <typename T>
  bool Get(T* v, size_t bytes) {
    if (in_.size() - pos_ < bytes) return false;
    T result = 0;
    for (size_t i = 0; i < bytes; ++i) {
      result |= static_cast<T>(static_cast<uint8_t>(in_[pos_ + i])) << (8 * i);
    }
    pos_ += bytes;
    *v = result;
    return true;
  }

  std::string_view in_;
  size_t pos_ = 0;
};

// FNV-1a of `bytes`: a hash stable across platforms and releases.
uint64_t Fnv1a(std::string_view bytes);

// The fingerprint of a set of options: the hash of what `write(StateWriter&)`
// writes of them.
template <typename Write>
uint64_t OptionsFingerprint(Write write) {
  std::string bytes;
  StateWriter w(&bytes);
  write(w);
  return Fnv1a(bytes);
}

// The first bytes of every kind's state.
struct StateHeader {
  std::string_view kind;  // the kind's name, for messages (not written)
  uint8_t version = 0;    // the kind's state format
  uint8_t kind_tag = 0;   // unique per kind
  uint64_t fingerprint = 0;
};

void WriteStateHeader(const StateHeader& header, StateWriter* w);
// Reads a header and checks it is `expected`; else StateRejected().
absl::Status ReadStateHeader(const StateHeader& expected, StateReader* r);

// InvalidArgument "<kind> state rejected: <why>", for Restore().
absl::Status StateRejected(std::string_view kind, std::string_view why);

}  // namespace kad::models
