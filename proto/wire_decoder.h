// Protobuf wire-format primitives shared by the hand-written remote-write
// decoders (write_request.cc for 1.0, write_request_v2.cc for 2.0). Internal
// to kad::proto: include it only from those decoders.
//
//   class MyDecoder : WireDecoder {
//     bool Run() {
//       const char* p = base_;
//       uint32_t field, wire_type;
//       while (p < end_) if (!ReadTag(p, end_, &field, &wire_type)) return false; ...
//     }
//   };
//
// Every Read* takes the cursor by reference and the end of the enclosing
// message, and returns false after recording an InvalidArgument status that
// names the problem and its byte offset, so the hot path carries a bool
// instead of building absl::Status values per field. Not thread-safe.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "proto/write_request.h"

namespace kad::proto::wire {

static_assert(std::endian::native == std::endian::little,
              "fixed64 doubles are read with memcpy, which needs a "
              "little-endian host like the wire format");

// Protobuf wire types. 3 and 4 are proto2 groups, which no remote-write
// message uses; 6 and 7 are undefined.
constexpr uint32_t kVarint = 0;
constexpr uint32_t kFixed64 = 1;
constexpr uint32_t kLengthDelimited = 2;
constexpr uint32_t kFixed32 = 5;

constexpr int kMaxVarintBytes = 10;
constexpr uint64_t kMaxFieldNumber = (uint64_t{1} << 29) - 1;
constexpr uint64_t kMaxMetricType = static_cast<uint64_t>(MetricType::kStateset);

class WireDecoder {
 protected:
  // `message` names the top-level message in error texts.
  WireDecoder(std::string_view body, absl::string_view message)
      : base_(body.data()), end_(body.data() + body.size()), message_(message) {}

  // Records an InvalidArgument error for the byte at `at`; returns false so
  // callers can `return Fail(...)`.
  bool Fail(const char* at, absl::string_view problem) {
    status_ = absl::InvalidArgumentError(absl::StrCat("malformed remote-write body (", message_,
                                                      "): ", problem, " at byte offset ",
                                                      at - base_, " of ", end_ - base_));
    return false;
  }

  bool ReadVarint(const char*& p, const char* end, uint64_t* value) {
    // One byte covers tags, small lengths and enum values; two cover
    // message lengths and the refs of a symbols table up to 16,384 entries.
    if (p < end && static_cast<uint8_t>(*p) < 0x80) {
      *value = static_cast<uint8_t>(*p++);
      return true;
    }
    if (end - p >= 2 && static_cast<uint8_t>(p[1]) < 0x80) {
      *value = (static_cast<uint8_t>(p[0]) & 0x7f) | (uint64_t{static_cast<uint8_t>(p[1])} << 7);
      p += 2;
      return true;
    }
    const char* start = p;
    uint64_t result = 0;
    for (int i = 0; i < kMaxVarintBytes; ++i) {
      if (p == end) return Fail(start, "truncated varint");
      const uint8_t byte = static_cast<uint8_t>(*p++);
      result |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
      if (byte < 0x80) {
        *value = result;
        return true;
      }
    }
    return Fail(start, "varint longer than 10 bytes");
  }

  bool ReadTag(const char*& p, const char* end, uint32_t* field, uint32_t* wire_type) {
    const char* start = p;
    uint64_t key = 0;
    if (!ReadVarint(p, end, &key)) return false;
    // protobuf refuses tags and lengths zero-padded beyond 5 bytes; so do we.
    if (p - start > 5) return Fail(start, "tag varint longer than 5 bytes");
    const uint64_t number = key >> 3;
    if (number == 0 || number > kMaxFieldNumber) {
      return Fail(start, absl::StrCat("invalid field number ", number));
    }
    *field = static_cast<uint32_t>(number);
    *wire_type = static_cast<uint32_t>(key & 7);
    return true;
  }

  // Reads a length prefix and the bytes it covers.
  bool ReadLengthDelimited(const char*& p, const char* end, std::string_view* bytes) {
    const char* start = p;
    uint64_t length = 0;
    if (!ReadVarint(p, end, &length)) return false;
    if (p - start > 5) return Fail(start, "length varint longer than 5 bytes");
    if (length > static_cast<uint64_t>(end - p)) {
      return Fail(start, absl::StrCat("length ", length, " runs past the end of its message (",
                                      end - p, " bytes left)"));
    }
    *bytes = std::string_view(p, length);
    p += length;
    return true;
  }

  bool ReadFixed64(const char*& p, const char* end, uint64_t* value) {
    if (end - p < 8) return Fail(p, "truncated fixed64");
    std::memcpy(value, p, 8);
    p += 8;
    return true;
  }

  // Known fields must carry the wire type the schema gives them.
  bool ExpectWireType(const char* tag_at, const char* field_name, uint32_t wire_type,
                      uint32_t want) {
    if (wire_type == want) return true;
    return Fail(tag_at,
                absl::StrCat(field_name, " has wire type ", wire_type, ", expected ", want));
  }

  bool SkipField(const char*& p, const char* end, const char* tag_at, const char* message,
                 uint32_t field, uint32_t wire_type) {
    uint64_t ignored = 0;
    std::string_view ignored_bytes;
    switch (wire_type) {
      case kVarint:
        return ReadVarint(p, end, &ignored);
      case kFixed64:
        return ReadFixed64(p, end, &ignored);
      case kLengthDelimited:
        return ReadLengthDelimited(p, end, &ignored_bytes);
      case kFixed32:
        if (end - p < 4) return Fail(p, "truncated fixed32");
        p += 4;
        return true;
      default:
        return Fail(tag_at, absl::StrCat("unknown field ", field, " of ", message,
                                         " has wire type ", wire_type,
                                         " (groups and undefined wire types are not "
                                         "valid in proto3)"));
    }
  }

  // A Sample message: the same fields in 1.0 and 2.0.
  bool DecodeSample(std::string_view message, SampleView* sample) {
    const char* p = message.data();
    const char* end = p + message.size();
    *sample = {0.0, 0};
    while (p < end) {
      const char* tag_at = p;
      uint32_t field = 0, wire_type = 0;
      if (!ReadTag(p, end, &field, &wire_type)) return false;
      uint64_t raw = 0;
      switch (field) {
        case 1:
          if (!ExpectWireType(tag_at, "Sample.value", wire_type, kFixed64) ||
              !ReadFixed64(p, end, &raw)) {
            return false;
          }
          sample->value = std::bit_cast<double>(raw);
          break;
        case 2:
          if (!ExpectWireType(tag_at, "Sample.timestamp", wire_type, kVarint) ||
              !ReadVarint(p, end, &raw)) {
            return false;
          }
          sample->timestamp_ms = static_cast<int64_t>(raw);
          break;
        default:
          if (!SkipField(p, end, tag_at, "Sample", field, wire_type)) return false;
      }
    }
    return true;
  }

  // Metric types added after these read as unknown rather than failing the
  // whole request: metadata is advisory.
  static MetricType ToMetricType(uint64_t type) {
    return type <= kMaxMetricType ? static_cast<MetricType>(type) : MetricType::kUnknown;
  }

  const char* const base_;
  const char* const end_;
  const absl::string_view message_;
  absl::Status status_;
};

}  // namespace kad::proto::wire
