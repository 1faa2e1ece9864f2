// Fuzz target: remote-read request decoding (adapter/remote_read.h
// DecodeRemoteRead: snappy, prometheus.ReadRequest, label matchers).
//
//   build-fuzz/tests/fuzz/remote_read_fuzzer tests/fuzz/corpus/remote_read
//
// Each input is posted twice: as the raw body (hostile snappy) and snappy-
// compressed (a hostile ReadRequest behind valid snappy, which is where the
// matchers and regexes are). Properties: errors are InvalidArgument or
// ResourceExhausted; a decoded request has the queries, time ranges and
// matchers the generated parser reads from the same bytes, and `streamed` is
// set exactly when STREAMED_XOR_CHUNKS comes before SAMPLES.
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "adapter/remote_read.h"
#include "prometheus/remote.pb.h"
#include "proto/snappy_codec.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

constexpr size_t kMaxUncompressed = 1 << 16;

bool WantsStreamed(const prometheus::ReadRequest& message) {
  for (int type : message.accepted_response_types()) {
    if (type == prometheus::ReadRequest::SAMPLES) return false;
    if (type == prometheus::ReadRequest::STREAMED_XOR_CHUNKS) return true;
  }
  return false;
}

void CheckAgrees(const std::string& raw, const kad::adapter::RemoteReadRequest& got) {
  prometheus::ReadRequest want;
  FUZZ_CHECK(want.ParseFromString(raw), "decoded a body protobuf refuses");
  FUZZ_CHECK(got.streamed == WantsStreamed(want), "streamed");
  FUZZ_CHECK(got.queries.size() == static_cast<size_t>(want.queries_size()), "query count");
  for (size_t i = 0; i < got.queries.size(); ++i) {
    const prometheus::Query& q = want.queries(static_cast<int>(i));
    FUZZ_CHECK(got.queries[i].start_ms == q.start_timestamp_ms(), absl::StrCat("start ", i));
    FUZZ_CHECK(got.queries[i].end_ms == q.end_timestamp_ms(), absl::StrCat("end ", i));
    FUZZ_CHECK(got.queries[i].matchers.size() == static_cast<size_t>(q.matchers_size()),
               absl::StrCat("matchers ", i));
    for (size_t j = 0; j < got.queries[i].matchers.size(); ++j) {
      const prometheus::LabelMatcher& m = q.matchers(static_cast<int>(j));
      FUZZ_CHECK(got.queries[i].matchers[j].name() == m.name(), absl::StrCat("name ", i, j));
      FUZZ_CHECK(got.queries[i].matchers[j].value() == m.value(), absl::StrCat("value ", i, j));
    }
  }
}

void CheckError(const absl::Status& status) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument ||
                 status.code() == absl::StatusCode::kResourceExhausted,
             status.ToString());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Protobuf logs every invalid UTF-8 string it refuses; fuzzing makes many.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);

  kad::adapter::HttpRequest hostile_snappy;
  hostile_snappy.body() = input;
  absl::StatusOr<kad::adapter::RemoteReadRequest> got =
      kad::adapter::DecodeRemoteRead(hostile_snappy, kMaxUncompressed);
  if (got.ok()) {
    std::string raw;
    FUZZ_CHECK(kad::proto::SnappyUncompress(input, kMaxUncompressed, &raw).ok(), "snappy");
    CheckAgrees(raw, *got);
  } else {
    CheckError(got.status());
  }

  kad::adapter::HttpRequest valid_snappy;
  kad::proto::SnappyCompress(input, &valid_snappy.body());
  got = kad::adapter::DecodeRemoteRead(valid_snappy, kMaxUncompressed);
  if (got.ok()) {
    CheckAgrees(input, *got);
  } else {
    CheckError(got.status());
    // Within the limit, valid snappy is never refused as oversized.
    if (size <= kMaxUncompressed) {
      FUZZ_CHECK(got.status().code() == absl::StatusCode::kInvalidArgument,
                 got.status().ToString());
    }
  }
  return 0;
}
