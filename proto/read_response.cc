#include "proto/read_response.h"

#include <bit>
#include <cassert>
#include <cstring>

#include "proto/varint.h"

namespace kad::proto {
namespace {

// Tags: field number << 3 | wire type (0 varint, 1 fixed64, 2 length-delimited).
constexpr char kField1Bytes = 0x0a;
constexpr char kField2Bytes = 0x12;
constexpr char kField1Fixed64 = 0x09;
constexpr char kField2Varint = 0x10;

// A length-delimited field of `size` bytes, tag and length included.
size_t FieldSize(size_t size) { return 1 + VarintSize(size) + size; }

size_t StringFieldSize(std::string_view s) { return s.empty() ? 0 : FieldSize(s.size()); }

char* PutStringField(char tag, std::string_view s, char* p) {
  if (s.empty()) return p;
  *p++ = tag;
  p = PutVarint(s.size(), p);
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

// proto3 leaves out a field at its zero value (for a double: all bits 0).
size_t SampleSize(const ReadResponseWriter::SamplePair& s) {
  const auto [t, v] = s;
  return (std::bit_cast<uint64_t>(v) != 0 ? 9 : 0) +
         (t != 0 ? 1 + VarintSize(static_cast<uint64_t>(t)) : 0);
}

}  // namespace

void ReadResponseWriter::BeginResult() {
  if (in_result_) EndResult();
  in_result_ = true;
}

void ReadResponseWriter::EndResult() {
  out_.push_back(kField1Bytes);
  AppendVarint(result_.size(), &out_);
  out_.append(result_);
  result_.clear();
  in_result_ = false;
}

void ReadResponseWriter::AddSeries(std::span<const LabelPair> labels,
                                   std::span<const SamplePair> samples) {
  size_t size = 0;
  for (const auto& [name, value] : labels) {
    size += FieldSize(StringFieldSize(name) + StringFieldSize(value));
  }
  for (const SamplePair& s : samples) size += FieldSize(SampleSize(s));
  // Sized first, then written through a pointer: no per-byte bookkeeping.
  const size_t at = result_.size();
  result_.resize(at + FieldSize(size));
  char* p = result_.data() + at;
  *p++ = kField1Bytes;
  p = PutVarint(size, p);
  for (const auto& [name, value] : labels) {
    *p++ = kField1Bytes;
    p = PutVarint(StringFieldSize(name) + StringFieldSize(value), p);
    p = PutStringField(kField1Bytes, name, p);
    p = PutStringField(kField2Bytes, value, p);
  }
  for (const SamplePair& s : samples) {
    const auto [t, v] = s;
    *p++ = kField2Bytes;
    p = PutVarint(SampleSize(s), p);
    if (const auto bits = std::bit_cast<uint64_t>(v); bits != 0) {
      *p++ = kField1Fixed64;
      for (int i = 0; i < 8; ++i) *p++ = static_cast<char>(bits >> (8 * i));
    }
    if (t != 0) {
      *p++ = kField2Varint;
      p = PutVarint(static_cast<uint64_t>(t), p);
    }
  }
  assert(p == result_.data() + result_.size());
}

std::string ReadResponseWriter::Finish() {
  if (in_result_) EndResult();
  std::string out = std::move(out_);
  out_.clear();
  return out;
}

}  // namespace kad::proto
