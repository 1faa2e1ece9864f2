// Hand-written decoder for io.prometheus.write.v2.Request; see
// write_request_v2.h.
//
// Two walks over the top level: the first collects the symbols table (and
// checks every top-level field), the second decodes the series, resolving
// each ref as it is read. Protobuf allows fields in any order, so a series
// may precede the symbols it uses; the first walk only hops over series.
#include "proto/write_request_v2.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "proto/label_fields.h"
#include "proto/wire_decoder.h"

namespace kad::proto {
namespace {

using wire::kLengthDelimited;
using wire::kVarint;

class DecoderV2 : wire::WireDecoder {
 public:
  DecoderV2(std::string_view body, WriteRequestView* out)
      : WireDecoder(body, "io.prometheus.write.v2.Request"), out_(out) {}

  absl::Status Run() {
    if (!CollectSymbols() || !DecodeAllSeries()) return std::move(status_);
    return absl::OkStatus();
  }

 private:
  bool CollectSymbols() {
    const char* p = base_;
    while (p < end_) {
      const char* tag_at = p;
      uint32_t field = 0, wire_type = 0;
      if (!ReadTag(p, end_, &field, &wire_type)) return false;
      std::string_view bytes;
      switch (field) {
        case 1:
        case 2:
        case 3:
          // Reserved in 2.0 for this reason: a 1.0 body would otherwise read
          // as an empty request and be acknowledged with nothing written.
          status_ = absl::UnimplementedError(absl::StrCat(
              "body has top-level field ", field, " at byte offset ", tag_at - base_,
              ": it looks like a remote-write 1.0 body (prometheus.WriteRequest), but its "
              "Content-Type names io.prometheus.write.v2.Request"));
          return false;
        case 4:
          if (!ExpectWireType(tag_at, "Request.symbols", wire_type, kLengthDelimited) ||
              !ReadLengthDelimited(p, end_, &bytes)) {
            return false;
          }
          out_->symbols.push_back(bytes);
          break;
        case 5:
          if (!ExpectWireType(tag_at, "Request.timeseries", wire_type, kLengthDelimited) ||
              !ReadLengthDelimited(p, end_, &bytes)) {
            return false;
          }
          break;
        default:
          if (!SkipField(p, end_, tag_at, "Request", field, wire_type)) return false;
      }
    }
    return true;
  }

  // The first walk checked the framing; this one only reads the series.
  bool DecodeAllSeries() {
    const char* p = base_;
    while (p < end_) {
      const char* tag_at = p;
      uint32_t field = 0, wire_type = 0;
      if (!ReadTag(p, end_, &field, &wire_type)) return false;
      std::string_view bytes;
      if (field == 5) {
        if (!ReadLengthDelimited(p, end_, &bytes) || !DecodeTimeSeries(bytes)) return false;
      } else if (!SkipField(p, end_, tag_at, "Request", field, wire_type)) {
        return false;
      }
    }
    return true;
  }

  // Checks that `ref` points into the symbols table and returns its index.
  // Refs are uint32 on the wire: wider varints are truncated, as protobuf does.
  bool CheckRef(const char* at, uint64_t ref, const char* what, uint32_t* index) {
    *index = static_cast<uint32_t>(ref);
    if (*index < out_->symbols.size()) return true;
    return Fail(at,
                absl::StrCat(what, " ", *index, " of series ", out_->series.size(),
                             " is outside the symbols table (", out_->symbols.size(), " symbols)"));
  }

  bool Resolve(const char* at, uint64_t ref, const char* what, std::string_view* symbol) {
    uint32_t index = 0;
    if (!CheckRef(at, ref, what, &index)) return false;
    *symbol = out_->symbols[index];
    return true;
  }

  // A `repeated uint32 ..._refs` field, packed or not: calls on_ref(at, ref)
  // for each ref, in order.
  template <typename OnRef>
  bool ReadRefs(const char*& p, const char* end, const char* tag_at, const char* field_name,
                uint32_t wire_type, OnRef on_ref) {
    uint64_t ref = 0;
    if (wire_type == kVarint) {
      const char* at = p;
      return ReadVarint(p, end, &ref) && on_ref(at, ref);
    }
    std::string_view packed;
    if (!ExpectWireType(tag_at, field_name, wire_type, kLengthDelimited) ||
        !ReadLengthDelimited(p, end, &packed)) {
      return false;
    }
    const char* q = packed.data();
    const char* packed_end = q + packed.size();
    while (q < packed_end) {
      const char* at = q;
      if (!ReadVarint(q, packed_end, &ref) || !on_ref(at, ref)) return false;
    }
    return true;
  }

  bool DecodeTimeSeries(std::string_view message) {
    const char* p = message.data();
    const char* end = p + message.size();
    SeriesView series;
    series.label_begin = static_cast<uint32_t>(out_->labels.size());
    series.sample_begin = static_cast<uint32_t>(out_->samples.size());
    SeriesMetadataView metadata;
    // Refs come in name/value pairs, possibly split across packed runs.
    bool have_name = false;
    uint32_t name = 0;
    auto on_label_ref = [&](const char* at, uint64_t ref) {
      uint32_t index = 0;
      if (!CheckRef(at, ref, "label ref", &index)) return false;
      if (!have_name) {
        name = index;
        have_name = true;
        return true;
      }
      out_->labels.push_back({out_->symbols[name], out_->symbols[index]});
      have_name = false;
      return true;
    };
    while (p < end) {
      const char* tag_at = p;
      uint32_t field = 0, wire_type = 0;
      if (!ReadTag(p, end, &field, &wire_type)) return false;
      std::string_view bytes;
      uint64_t raw = 0;
      switch (field) {
        case 1:
          if (!ReadRefs(p, end, tag_at, "TimeSeries.labels_refs", wire_type, on_label_ref)) {
            return false;
          }
          break;
        case 2:
          if (!ExpectWireType(tag_at, "TimeSeries.samples", wire_type, kLengthDelimited) ||
              !ReadLengthDelimited(p, end, &bytes) ||
              !DecodeSample(bytes, &out_->samples.emplace_back())) {
            return false;
          }
          break;
        case 3:
          if (!ExpectWireType(tag_at, "TimeSeries.histograms", wire_type, kLengthDelimited) ||
              !ReadLengthDelimited(p, end, &bytes)) {
            return false;
          }
          ++out_->histogram_count;
          break;
        case 4:
          if (!ExpectWireType(tag_at, "TimeSeries.exemplars", wire_type, kLengthDelimited) ||
              !ReadLengthDelimited(p, end, &bytes) || !CheckExemplar(bytes)) {
            return false;
          }
          ++out_->exemplar_count;
          break;
        case 5:
          // A message field seen twice merges, as protobuf does.
          if (!ExpectWireType(tag_at, "TimeSeries.metadata", wire_type, kLengthDelimited) ||
              !ReadLengthDelimited(p, end, &bytes) || !DecodeMetadata(bytes, &metadata)) {
            return false;
          }
          break;
        case 6:
          if (!ExpectWireType(tag_at, "TimeSeries.created_timestamp", wire_type, kVarint) ||
              !ReadVarint(p, end, &raw)) {
            return false;
          }
          metadata.created_timestamp_ms = static_cast<int64_t>(raw);
          break;
        default:
          if (!SkipField(p, end, tag_at, "TimeSeries", field, wire_type)) return false;
      }
    }
    if (have_name) {
      return Fail(message.data(),
                  absl::StrCat("series ", out_->series.size(), " has an odd number of label refs"));
    }
    series.label_end = static_cast<uint32_t>(out_->labels.size());
    series.sample_end = static_cast<uint32_t>(out_->samples.size());
    out_->series.push_back(series);
    out_->series_metadata.push_back(metadata);
    return true;
  }

  // Exemplars are not stored, but their label refs must hold like a series'.
  bool CheckExemplar(std::string_view message) {
    const char* p = message.data();
    const char* end = p + message.size();
    size_t refs = 0;
    auto on_ref = [&](const char* at, uint64_t ref) {
      uint32_t ignored = 0;
      ++refs;
      return CheckRef(at, ref, "exemplar label ref", &ignored);
    };
    while (p < end) {
      const char* tag_at = p;
      uint32_t field = 0, wire_type = 0;
      if (!ReadTag(p, end, &field, &wire_type)) return false;
      if (field == 1) {
        if (!ReadRefs(p, end, tag_at, "Exemplar.labels_refs", wire_type, on_ref)) return false;
      } else if (!SkipField(p, end, tag_at, "Exemplar", field, wire_type)) {
        return false;
      }
    }
    if (refs % 2 != 0) {
      return Fail(message.data(), absl::StrCat("an exemplar of series ", out_->series.size(),
                                               " has an odd number of label refs"));
    }
    return true;
  }

  bool DecodeMetadata(std::string_view message, SeriesMetadataView* metadata) {
    const char* p = message.data();
    const char* end = p + message.size();
    while (p < end) {
      const char* tag_at = p;
      uint32_t field = 0, wire_type = 0;
      if (!ReadTag(p, end, &field, &wire_type)) return false;
      uint64_t raw = 0;
      switch (field) {
        case 1:
          if (!ExpectWireType(tag_at, "Metadata.type", wire_type, kVarint) ||
              !ReadVarint(p, end, &raw)) {
            return false;
          }
          metadata->type = ToMetricType(raw);
          break;
        case 3:
          if (!ExpectWireType(tag_at, "Metadata.help_ref", wire_type, kVarint) ||
              !ReadVarint(p, end, &raw) ||
              !Resolve(tag_at, raw, "metadata help_ref", &metadata->help)) {
            return false;
          }
          break;
        case 4:
          if (!ExpectWireType(tag_at, "Metadata.unit_ref", wire_type, kVarint) ||
              !ReadVarint(p, end, &raw) ||
              !Resolve(tag_at, raw, "metadata unit_ref", &metadata->unit)) {
            return false;
          }
          break;
        default:
          if (!SkipField(p, end, tag_at, "Metadata", field, wire_type)) return false;
      }
    }
    return true;
  }

  WriteRequestView* const out_;
};

}  // namespace

absl::Status DecodeWriteRequestV2(std::string_view body, WriteRequestView* out) {
  out->Clear();
  absl::Status status = DecoderV2(body, out).Run();
  if (!status.ok()) {
    out->Clear();
    return status;
  }
  EncodeMissingLabelFields(out);
  return status;
}

}  // namespace kad::proto
