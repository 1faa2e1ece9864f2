// Fuzz target: the hand-written remote-write 1.0 decoder (proto/write_request.h)
// against protobuf's own parser on the same schema.
//
//   build-fuzz/tests/fuzz/write_request_fuzzer tests/fuzz/corpus/write_request
//
// The oracle is a dynamic message built from the generated descriptors with
// every `string` field turned into `bytes`, and TimeSeries' exemplars and
// histograms too: protobuf's parser minus its proto3 UTF-8 check, which the
// hand decoder leaves to the adapter, and minus the contents of what the hand
// decoder only counts (it accepts a malformed histogram it then drops).
// Properties, on any bytes:
//  - the hand decoder accepts => the oracle accepts, and every decoded label,
//    sample (bit-exact), metadata entry and histogram/exemplar count agrees;
//  - the oracle accepts and the hand decoder refuses => only where the hand
//    decoder is stricter on purpose: remote-write 2.0 fields (Unimplemented),
//    a wire type the schema does not give that field or proto3 does not
//    allow (groups), and a tag varint over 32 bits, which protobuf truncates
//    to some other field number;
//  - errors are InvalidArgument or Unimplemented.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "prometheus/remote.pb.h"
#include "proto/label_fields.h"
#include "proto/write_request.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorProto;
using google::protobuf::FieldDescriptorProto;
using google::protobuf::FileDescriptorProto;
using google::protobuf::Message;
using kad::proto::WriteRequestView;

// Turns into `bytes` what the hand decoder reads as opaque bytes.
void Loosen(DescriptorProto* message) {
  for (FieldDescriptorProto& field : *message->mutable_field()) {
    const bool counted_only = message->name() == "TimeSeries" &&
                              (field.name() == "exemplars" || field.name() == "histograms");
    if (field.type() == FieldDescriptorProto::TYPE_STRING || counted_only) {
      field.set_type(FieldDescriptorProto::TYPE_BYTES);
      field.clear_type_name();
    }
  }
  for (DescriptorProto& nested : *message->mutable_nested_type()) Loosen(&nested);
}

// prometheus.WriteRequest, loosened; one per process.
class LenientOracle {
 public:
  LenientOracle() {
    // types.proto first: remote.proto imports it.
    for (const Descriptor* d :
         {prometheus::Sample::descriptor(), prometheus::WriteRequest::descriptor()}) {
      FileDescriptorProto file;
      d->file()->CopyTo(&file);
      for (DescriptorProto& message : *file.mutable_message_type()) Loosen(&message);
      FUZZ_CHECK(pool_.BuildFile(file) != nullptr, file.name());
    }
    prototype_ = factory_.GetPrototype(pool_.FindMessageTypeByName("prometheus.WriteRequest"));
  }

  std::unique_ptr<Message> Parse(std::string_view body) const {
    std::unique_ptr<Message> message(prototype_->New());
    if (!message->ParseFromArray(body.data(), static_cast<int>(body.size()))) return nullptr;
    return message;
  }

 private:
  google::protobuf::DescriptorPool pool_;
  google::protobuf::DynamicMessageFactory factory_;
  const Message* prototype_ = nullptr;
};

// Field `number` of `m`, read through reflection (the oracle has no classes).
const Message& Sub(const Message& m, int number, int index) {
  return m.GetReflection()->GetRepeatedMessage(m, m.GetDescriptor()->FindFieldByNumber(number),
                                               index);
}
int Count(const Message& m, int number) {
  return m.GetReflection()->FieldSize(m, m.GetDescriptor()->FindFieldByNumber(number));
}
std::string String(const Message& m, int number) {
  return m.GetReflection()->GetString(m, m.GetDescriptor()->FindFieldByNumber(number));
}

void CheckAgrees(const Message& want, const WriteRequestView& got) {
  FUZZ_CHECK(got.series.size() == static_cast<size_t>(Count(want, 1)), "series count");
  size_t histograms = 0;
  size_t exemplars = 0;
  for (int i = 0; i < Count(want, 1); ++i) {
    const Message& ts = Sub(want, 1, i);
    const auto labels = got.LabelsOf(got.series[i]);
    FUZZ_CHECK(labels.size() == static_cast<size_t>(Count(ts, 1)), absl::StrCat("series ", i));
    // The label fields are what protobuf writes for those labels, whether
    // they are the body's bytes or written again.
    std::string_view fields = got.series[i].label_fields;
    for (size_t j = 0; j < labels.size(); ++j) {
      const Message& label = Sub(ts, 1, static_cast<int>(j));
      FUZZ_CHECK(labels[j].name == String(label, 1), absl::StrCat("label name ", i, "/", j));
      FUZZ_CHECK(labels[j].value == String(label, 2), absl::StrCat("label value ", i, "/", j));
      std::string_view name;
      std::string_view value;
      FUZZ_CHECK(kad::proto::NextLabelField(&fields, &name, &value) && name == labels[j].name &&
                     value == labels[j].value,
                 absl::StrCat("label field ", i, "/", j));
    }
    FUZZ_CHECK(fields.empty(), absl::StrCat("label fields of series ", i, " run on"));
    FUZZ_CHECK(got.series[i].label_hash == kad::proto::HashLabelFields(got.series[i].label_fields),
               absl::StrCat("label hash ", i));
    const auto samples = got.SamplesOf(got.series[i]);
    FUZZ_CHECK(samples.size() == static_cast<size_t>(Count(ts, 2)), absl::StrCat("series ", i));
    for (size_t j = 0; j < samples.size(); ++j) {
      const Message& sample = Sub(ts, 2, static_cast<int>(j));
      const Descriptor* d = sample.GetDescriptor();
      const double value = sample.GetReflection()->GetDouble(sample, d->FindFieldByNumber(1));
      const int64_t t = sample.GetReflection()->GetInt64(sample, d->FindFieldByNumber(2));
      FUZZ_CHECK(std::bit_cast<uint64_t>(samples[j].value) == std::bit_cast<uint64_t>(value),
                 absl::StrCat("sample value ", i, "/", j));
      FUZZ_CHECK(samples[j].timestamp_ms == t, absl::StrCat("sample timestamp ", i, "/", j));
    }
    exemplars += Count(ts, 3);
    histograms += Count(ts, 4);
  }
  FUZZ_CHECK(got.exemplar_count == exemplars, "exemplar count");
  FUZZ_CHECK(got.histogram_count == histograms, "histogram count");
  FUZZ_CHECK(got.metadata.size() == static_cast<size_t>(Count(want, 3)), "metadata count");
  for (size_t i = 0; i < got.metadata.size(); ++i) {
    const Message& m = Sub(want, 3, static_cast<int>(i));
    const int type = m.GetReflection()->GetEnumValue(m, m.GetDescriptor()->FindFieldByNumber(1));
    // Types this decoder does not know read as unknown.
    const int want_type = type >= 0 && type <= 7 ? type : 0;
    FUZZ_CHECK(static_cast<int>(got.metadata[i].type) == want_type,
               absl::StrCat("metadata type ", i, ": ", type));
    FUZZ_CHECK(got.metadata[i].family_name == String(m, 2), absl::StrCat("family name ", i));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const LenientOracle* const oracle = new LenientOracle;
  static WriteRequestView* const view = new WriteRequestView;  // reused, as the server does
  // libFuzzer's buffer holds exactly `size` bytes: a read past it is an overflow.
  const std::string_view body(reinterpret_cast<const char*>(data), size);

  const absl::Status status = kad::proto::DecodeWriteRequest(body, view);
  const std::unique_ptr<Message> want = oracle->Parse(body);
  if (status.ok()) {
    FUZZ_CHECK(want != nullptr, "the hand decoder accepts what protobuf refuses");
    CheckAgrees(*want, *view);
    return 0;
  }
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument ||
                 status.code() == absl::StatusCode::kUnimplemented,
             status.ToString());
  if (want != nullptr) {
    FUZZ_CHECK(status.code() == absl::StatusCode::kUnimplemented ||
                   status.message().find("wire type") != std::string_view::npos ||
                   status.message().find("invalid field number") != std::string_view::npos,
               absl::StrCat("protobuf accepts, the hand decoder refuses: ", status.ToString()));
  }
  return 0;
}
