// Hand-written decoder for prometheus.WriteRequest; see write_request.h.
//
// The wire format is walked once with raw pointers. Parse functions return
// false on the first problem after recording it, so the hot path carries a
// bool instead of building absl::Status values per field.
#include "proto/write_request.h"

#include <bit>
#include <cstring>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace kad::proto {
namespace {

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

class Decoder {
 public:
  Decoder(std::string_view body, WriteRequestView* out)
      : base_(body.data()), end_(body.data() + body.size()), out_(out) {}

  absl::Status Run() {
    if (!DecodeWriteRequest()) return std::move(status_);
    return absl::OkStatus();
  }

 private:
  // Records an InvalidArgument error for the byte at `at`; returns false so
  // callers can `return Fail(...)`.
  bool Fail(const char* at, absl::string_view problem) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("malformed remote-write body (prometheus.WriteRequest): ", problem,
                     " at byte offset ", at - base_, " of ", end_ - base_));
    return false;
  }

  bool ReadVarint(const char*& p, const char* end, uint64_t* value) {
    // One byte covers tags, small lengths and most enum values.
    if (p < end && static_cast<uint8_t>(*p) < 0x80) {
      *value = static_cast<uint8_t>(*p++);
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

  bool DecodeWriteRequest() {
    const char* p = base_;
    while (p < end_) {
      const char* tag_at = p;
      uint32_t field = 0, wire_type = 0;
      if (!ReadTag(p, end_, &field, &wire_type)) return false;
      std::string_view bytes;
      switch (field) {
        case 1:
          if (!ExpectWireType(tag_at, "WriteRequest.timeseries", wire_type, kLengthDelimited) ||
              !ReadLengthDelimited(p, end_, &bytes) || !DecodeTimeSeries(bytes)) {
            return false;
          }
          break;
        case 3:
          if (!ExpectWireType(tag_at, "WriteRequest.metadata", wire_type, kLengthDelimited) ||
              !ReadLengthDelimited(p, end_, &bytes) || !DecodeMetadata(bytes)) {
            return false;
          }
          break;
        case 4:
        case 5:
          // A 1.0 parser would skip these and report an empty request, which
          // would silently drop every sample of a 2.0 sender.
          status_ = absl::UnimplementedError(absl::StrCat(
              "body has top-level field ", field, field == 4 ? " (symbols)" : " (timeseries)",
              " at byte offset ", tag_at - base_,
              ": it looks like a remote-write 2.0 body "
              "(io.prometheus.write.v2.Request), but this endpoint decodes "
              "remote write 1.0 (prometheus.WriteRequest) only"));
          return false;
        default:
          if (!SkipField(p, end_, tag_at, "WriteRequest", field, wire_type)) {
            return false;
          }
      }
    }
    return true;
  }

  bool DecodeTimeSeries(std::string_view message) {
    const char* p = message.data();
    const char* end = p + message.size();
    SeriesView series;
    series.label_begin = static_cast<uint32_t>(out_->labels.size());
    series.sample_begin = static_cast<uint32_t>(out_->samples.size());
    uint64_t hash = 0;
    while (p < end) {
      const char* tag_at = p;
      uint32_t field = 0, wire_type = 0;
      if (!ReadTag(p, end, &field, &wire_type)) return false;
      std::string_view bytes;
      switch (field) {
        case 1:
          if (!ExpectWireType(tag_at, "TimeSeries.labels", wire_type, kLengthDelimited) ||
              !ReadLengthDelimited(p, end, &bytes) || !DecodeLabel(bytes)) {
            return false;
          }
          // Hashing the encoded label keeps the hash independent of samples
          // without a second pass over the decoded strings.
          hash = absl::HashOf(hash, bytes);
          break;
        case 2:
          if (!ExpectWireType(tag_at, "TimeSeries.samples", wire_type, kLengthDelimited) ||
              !ReadLengthDelimited(p, end, &bytes) || !DecodeSample(bytes)) {
            return false;
          }
          break;
        case 3:
          if (!ExpectWireType(tag_at, "TimeSeries.exemplars", wire_type, kLengthDelimited) ||
              !ReadLengthDelimited(p, end, &bytes)) {
            return false;
          }
          ++out_->exemplar_count;
          break;
        case 4:
          if (!ExpectWireType(tag_at, "TimeSeries.histograms", wire_type, kLengthDelimited) ||
              !ReadLengthDelimited(p, end, &bytes)) {
            return false;
          }
          ++out_->histogram_count;
          break;
        default:
          if (!SkipField(p, end, tag_at, "TimeSeries", field, wire_type)) {
            return false;
          }
      }
    }
    series.label_end = static_cast<uint32_t>(out_->labels.size());
    series.sample_end = static_cast<uint32_t>(out_->samples.size());
    series.label_hash = hash;
    out_->series.push_back(series);
    return true;
  }

  bool DecodeLabel(std::string_view message) {
    const char* p = message.data();
    const char* end = p + message.size();
    LabelView label;
    while (p < end) {
      const char* tag_at = p;
      uint32_t field = 0, wire_type = 0;
      if (!ReadTag(p, end, &field, &wire_type)) return false;
      switch (field) {
        case 1:
          if (!ExpectWireType(tag_at, "Label.name", wire_type, kLengthDelimited) ||
              !ReadLengthDelimited(p, end, &label.name)) {
            return false;
          }
          break;
        case 2:
          if (!ExpectWireType(tag_at, "Label.value", wire_type, kLengthDelimited) ||
              !ReadLengthDelimited(p, end, &label.value)) {
            return false;
          }
          break;
        default:
          if (!SkipField(p, end, tag_at, "Label", field, wire_type)) {
            return false;
          }
      }
    }
    out_->labels.push_back(label);
    return true;
  }

  bool DecodeSample(std::string_view message) {
    const char* p = message.data();
    const char* end = p + message.size();
    SampleView sample{0.0, 0};
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
          sample.value = std::bit_cast<double>(raw);
          break;
        case 2:
          if (!ExpectWireType(tag_at, "Sample.timestamp", wire_type, kVarint) ||
              !ReadVarint(p, end, &raw)) {
            return false;
          }
          sample.timestamp_ms = static_cast<int64_t>(raw);
          break;
        default:
          if (!SkipField(p, end, tag_at, "Sample", field, wire_type)) {
            return false;
          }
      }
    }
    out_->samples.push_back(sample);
    return true;
  }

  bool DecodeMetadata(std::string_view message) {
    const char* p = message.data();
    const char* end = p + message.size();
    MetadataView metadata{MetricType::kUnknown, {}};
    while (p < end) {
      const char* tag_at = p;
      uint32_t field = 0, wire_type = 0;
      if (!ReadTag(p, end, &field, &wire_type)) return false;
      uint64_t type = 0;
      switch (field) {
        case 1:
          if (!ExpectWireType(tag_at, "MetricMetadata.type", wire_type, kVarint) ||
              !ReadVarint(p, end, &type)) {
            return false;
          }
          // Types added after 2.42 read as unknown rather than failing the
          // whole request: metadata is advisory.
          metadata.type =
              type <= kMaxMetricType ? static_cast<MetricType>(type) : MetricType::kUnknown;
          break;
        case 2:
          if (!ExpectWireType(tag_at, "MetricMetadata.metric_family_name", wire_type,
                              kLengthDelimited) ||
              !ReadLengthDelimited(p, end, &metadata.family_name)) {
            return false;
          }
          break;
        default:  // help, unit and anything newer
          if (!SkipField(p, end, tag_at, "MetricMetadata", field, wire_type)) {
            return false;
          }
      }
    }
    out_->metadata.push_back(metadata);
    return true;
  }

  const char* const base_;
  const char* const end_;
  WriteRequestView* const out_;
  absl::Status status_;
};

}  // namespace

void WriteRequestView::Clear() {
  // clear() keeps capacity, so a reused view stops allocating once warm.
  series.clear();
  labels.clear();
  samples.clear();
  metadata.clear();
  histogram_count = 0;
  exemplar_count = 0;
}

absl::Status DecodeWriteRequest(std::string_view body, WriteRequestView* out) {
  out->Clear();
  absl::Status status = Decoder(body, out).Run();
  if (!status.ok()) out->Clear();
  return status;
}

}  // namespace kad::proto
