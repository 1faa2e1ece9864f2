#include "proto/read_response.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "proto/chunked_read.h"
#include "proto/varint.h"

namespace kad::proto {
namespace {

// Tags: field number << 3 | wire type (0 varint, 1 fixed64, 2 length-delimited).
constexpr char kField1Bytes = 0x0a;
constexpr char kField2Bytes = 0x12;
constexpr char kField1Fixed64 = 0x09;
constexpr char kField1Varint = 0x08;
constexpr char kField2Varint = 0x10;
constexpr char kField3Varint = 0x18;
constexpr char kField4Bytes = 0x22;
constexpr uint64_t kXorEncoding = 1;  // prometheus.Chunk.Encoding.XOR
static_assert(std::endian::native == std::endian::little, "doubles are copied as they lie");

// A length-delimited field of `size` bytes, tag and length included.
size_t FieldSize(size_t size) { return 1 + VarintSize(size) + size; }

size_t StringFieldSize(std::string_view s) { return s.empty() ? 0 : FieldSize(s.size()); }

// proto3 leaves out a varint field at zero.
size_t VarintFieldSize(int64_t v) { return v != 0 ? 1 + VarintSize(static_cast<uint64_t>(v)) : 0; }

char* PutStringField(char tag, std::string_view s, char* p) {
  if (s.empty()) return p;
  *p++ = tag;
  p = PutVarint(s.size(), p);
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

char* PutVarintField(char tag, int64_t v, char* p) {
  if (v == 0) return p;
  *p++ = tag;
  return PutVarint(static_cast<uint64_t>(v), p);
}

}  // namespace

char* SeriesWriter::Room(size_t n) {
  if (size_ + n > body_.size()) body_.resize(std::max(body_.size() * 2, size_ + n));
  return body_.data() + size_;
}

void SeriesWriter::Begin(std::span<const LabelPair> labels) {
  size_ = 0;
  for (const auto& [name, value] : labels) {
    const size_t size = StringFieldSize(name) + StringFieldSize(value);
    char* const start = Room(FieldSize(size));
    char* p = start;
    *p++ = kField1Bytes;
    p = PutVarint(size, p);
    p = PutStringField(kField1Bytes, name, p);
    p = PutStringField(kField2Bytes, value, p);
    size_ += static_cast<size_t>(p - start);
  }
  labels_end_ = size_;
}

void SeriesWriter::AddSample(int64_t t_ms, double v) {
  // At most: tag, length, 9 bytes of value, tag and a 10-byte timestamp.
  char* const start = Room(22);
  char* p = start;
  const auto bits = std::bit_cast<uint64_t>(v);
  *p++ = kField2Bytes;
  *p++ = static_cast<char>((bits != 0 ? 9 : 0) + VarintFieldSize(t_ms));  // at most 20
  if (bits != 0) {  // proto3 leaves out a double whose bits are all 0
    *p++ = kField1Fixed64;
    std::memcpy(p, &bits, 8);  // fixed64 is little-endian, as this machine
    p += 8;
  }
  p = PutVarintField(kField2Varint, t_ms, p);
  size_ += static_cast<size_t>(p - start);
}

void SeriesWriter::AddChunk(int64_t min_time_ms, int64_t max_time_ms, std::string_view xor_chunk) {
  const size_t size =
      VarintFieldSize(min_time_ms) + VarintFieldSize(max_time_ms) + 2 + StringFieldSize(xor_chunk);
  char* const start = Room(FieldSize(size));
  char* p = start;
  *p++ = kField2Bytes;
  p = PutVarint(size, p);
  p = PutVarintField(kField1Varint, min_time_ms, p);
  p = PutVarintField(kField2Varint, max_time_ms, p);
  *p++ = kField3Varint;
  *p++ = static_cast<char>(kXorEncoding);
  p = PutStringField(kField4Bytes, xor_chunk, p);
  size_ += static_cast<size_t>(p - start);
}

void SeriesWriter::AppendTo(std::string* out) const {
  out->push_back(kField1Bytes);
  AppendVarint(size_, out);
  out->append(body_.data(), size_);
}

void SeriesWriter::AppendFrame(int64_t query_index, std::string* out) const {
  const size_t message = FieldSize(size_) + VarintFieldSize(query_index);
  const size_t crc_at = StartFrame(message, out);
  AppendTo(out);
  char index[11];
  out->append(index, PutVarintField(kField2Varint, query_index, index) - index);
  FinishFrame(crc_at, out);
}

void AppendQueryResultHeader(size_t bytes, std::string* response) {
  response->push_back(kField1Bytes);
  AppendVarint(bytes, response);
}

}  // namespace kad::proto
