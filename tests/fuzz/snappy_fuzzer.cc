// Fuzz target: the snappy block codec (proto/snappy_codec.h).
//
//   build-fuzz/tests/fuzz/snappy_fuzzer tests/fuzz/corpus/snappy
//
// Each input is used twice:
//  - as a hostile compressed body: SnappyUncompress succeeds exactly when
//    snappy's own validator accepts the block and its declared length is
//    within the limit, refuses an oversized declaration before allocating
//    (ResourceExhausted), and never returns more than the limit;
//  - as raw bytes: compressing then decompressing gives them back.
#include <snappy.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "proto/snappy_codec.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

// Small enough that fuzz-made headers often exceed it.
constexpr size_t kMaxUncompressed = 1 << 16;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Reused across inputs, as the server reuses its buffers.
  static std::string* const out = new std::string;
  static std::string* const compressed = new std::string;
  // libFuzzer's buffer holds exactly `size` bytes: a read past it is an overflow.
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  size_t declared = 0;
  const bool header_ok = snappy::GetUncompressedLength(input.data(), input.size(), &declared);
  const absl::Status status = kad::proto::SnappyUncompress(input, kMaxUncompressed, out);
  if (header_ok && declared > kMaxUncompressed) {
    FUZZ_CHECK(status.code() == absl::StatusCode::kResourceExhausted, status.ToString());
  } else {
    const bool valid = snappy::IsValidCompressedBuffer(input.data(), input.size());
    FUZZ_CHECK(status.ok() == valid, status.ToString());
    if (status.ok()) {
      FUZZ_CHECK(out->size() == declared, absl::StrCat(out->size(), " != ", declared));
    } else {
      FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument, status.ToString());
    }
  }

  kad::proto::SnappyCompress(input, compressed);
  const absl::Status round_trip = kad::proto::SnappyUncompress(*compressed, input.size(), out);
  FUZZ_CHECK(round_trip.ok(), round_trip.ToString());
  FUZZ_CHECK(*out == input, "round trip changed the bytes");
  return 0;
}
