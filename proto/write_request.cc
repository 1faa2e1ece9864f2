// Hand-written decoder for prometheus.WriteRequest; see write_request.h.
//
// The wire format is walked once with raw pointers (proto/wire_decoder.h).
#include "proto/write_request.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "proto/label_fields.h"
#include "proto/varint.h"
#include "proto/wire_decoder.h"

namespace kad::proto {
namespace {

using wire::kLengthDelimited;
using wire::kVarint;

class Decoder : wire::WireDecoder {
 public:
  Decoder(std::string_view body, WriteRequestView* out)
      : WireDecoder(body, "prometheus.WriteRequest"), out_(out) {}

  absl::Status Run() {
    if (!DecodeWriteRequest()) return std::move(status_);
    return absl::OkStatus();
  }

 private:
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
    // The label fields, if they are one run of bytes as protobuf writes
    // them (Prometheus does): [fields_begin, fields_end).
    const char* fields_begin = nullptr;
    const char* fields_end = nullptr;
    bool as_protobuf_writes = true;
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
          if (fields_begin == nullptr) fields_begin = tag_at;
          as_protobuf_writes = as_protobuf_writes &&
                               (fields_end == nullptr || tag_at == fields_end) &&
                               AsProtobufWrites(tag_at, p, bytes, out_->labels.back());
          fields_end = p;
          break;
        case 2:
          if (!ExpectWireType(tag_at, "TimeSeries.samples", wire_type, kLengthDelimited) ||
              !ReadLengthDelimited(p, end, &bytes) ||
              !DecodeSample(bytes, &out_->samples.emplace_back())) {
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
    if (as_protobuf_writes && fields_begin != nullptr) {
      series.label_fields = std::string_view(fields_begin, fields_end - fields_begin);
      series.label_hash = HashLabelFields(series.label_fields);
    }  // else EncodeMissingLabelFields
    out_->series.push_back(series);
    return true;
  }

  // Whether the label field [at, end) holding `message` is byte for byte
  // what AppendLabelField writes for `label`: the same size, with the name
  // and value where that puts them, leaves no room for anything else.
  static bool AsProtobufWrites(const char* at, const char* end, std::string_view message,
                               const LabelView& label) {
    if (static_cast<size_t>(end - at) != LabelFieldSize(label.name, label.value)) return false;
    const char* name_at = message.data() + 1 + VarintSize(label.name.size());
    const char* value_at = (label.name.empty() ? message.data() : name_at + label.name.size()) + 1 +
                           VarintSize(label.value.size());
    return (label.name.empty() || label.name.data() == name_at) &&
           (label.value.empty() || label.value.data() == value_at);
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
          metadata.type = ToMetricType(type);
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

  WriteRequestView* const out_;
};

}  // namespace

void WriteRequestView::Clear() {
  // clear() keeps capacity, so a reused view stops allocating once warm.
  series.clear();
  labels.clear();
  samples.clear();
  metadata.clear();
  series_metadata.clear();
  symbols.clear();
  label_field_bytes.clear();
  histogram_count = 0;
  exemplar_count = 0;
}

absl::Status DecodeWriteRequest(std::string_view body, WriteRequestView* out) {
  out->Clear();
  absl::Status status = Decoder(body, out).Run();
  if (!status.ok()) {
    out->Clear();
    return status;
  }
  EncodeMissingLabelFields(out);
  return status;
}

}  // namespace kad::proto
