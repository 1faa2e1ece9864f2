// Fuzz target: the hand-written remote-write 2.0 decoder
// (proto/write_request_v2.h) on any bytes.
//
//   build-fuzz/tests/fuzz/write_request_v2_fuzzer tests/fuzz/corpus/write_request_v2
//
// Properties:
//  - errors are InvalidArgument, or Unimplemented for what looks like a 1.0
//    body;
//  - an accepted body gives series whose label and sample ranges lie inside
//    the decoded vectors, labels that point into the body (zero copy), and
//    per-series metadata for every series;
//  - when protobuf's generated parser accepts the same bytes too, both see
//    the same number of series and of float samples, bit for bit.
#include <google/protobuf/stubs/logging.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "prometheus/write_v2.pb.h"
#include "proto/write_request_v2.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

bool Inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

}  // namespace

// The oracle logs every invalid UTF-8 string it refuses; that is expected here.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  kad::proto::WriteRequestView view;
  const absl::Status status = kad::proto::DecodeWriteRequestV2(body, &view);
  if (!status.ok()) {
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument ||
                   status.code() == absl::StatusCode::kUnimplemented,
               status.ToString());
    return 0;
  }
  FUZZ_CHECK(view.series_metadata.size() == view.series.size(), "metadata per series");
  for (const kad::proto::SeriesView& s : view.series) {
    FUZZ_CHECK(s.label_begin <= s.label_end && s.label_end <= view.labels.size(), "label range");
    FUZZ_CHECK(s.sample_begin <= s.sample_end && s.sample_end <= view.samples.size(),
               "sample range");
  }
  for (const kad::proto::LabelView& l : view.labels) {
    FUZZ_CHECK(Inside(l.name, body) && Inside(l.value, body), "label outside the body");
  }
  io::prometheus::write::v2::Request oracle;
  if (!oracle.ParseFromArray(data, static_cast<int>(size))) return 0;
  FUZZ_CHECK(static_cast<size_t>(oracle.timeseries_size()) == view.series.size(), "series count");
  size_t k = 0;
  for (const auto& ts : oracle.timeseries()) {
    for (const auto& sample : ts.samples()) {
      FUZZ_CHECK(k < view.samples.size(), "sample count");
      FUZZ_CHECK(std::bit_cast<uint64_t>(sample.value()) ==
                         std::bit_cast<uint64_t>(view.samples[k].value) &&
                     sample.timestamp() == view.samples[k].timestamp_ms,
                 "sample differs");
      ++k;
    }
  }
  FUZZ_CHECK(k == view.samples.size(), "sample count");
  return 0;
}
