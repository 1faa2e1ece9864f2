// Fuzz target: XOR chunk round trip, storage/xor_chunk.h's encoder against
// the independent decoder in tests/support/xor_decoder.h and against its own
// decoder; and that decoder and the block parser on the raw input, as on a
// damaged database.
//
//   build-fuzz/tests/fuzz/xor_chunk_fuzzer tests/fuzz/corpus/xor_chunk
//
// The input is read as a first timestamp and value, then per sample a choice
// of timestamp step (same delta, a small change, any size) and of value
// (same, a few bits flipped, any 64 bits: NaN payloads, infinities,
// denormals). Properties: the chunk decodes to exactly the appended
// timestamps and value bits, whole and after every power-of-two count of
// appends (the chunk is valid after each Append), and the encoder reports the
// right count and time range; the raw input, read as a chunk or as a block,
// decodes or is refused without reading past its end.
#include <fuzzer/FuzzedDataProvider.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/block_codec.h"
#include "storage/xor_chunk.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/support/xor_decoder.h"

namespace {

using kad::storage::XorChunkDecoder;
using kad::storage::XorChunkEncoder;

void CheckDecodes(const XorChunkEncoder& enc, const std::vector<int64_t>& t,
                  const std::vector<uint64_t>& v_bits) {
  const absl::StatusOr<kad::testing::DecodedChunk> chunk =
      kad::testing::DecodeXorChunk(enc.bytes());
  FUZZ_CHECK(chunk.ok(), chunk.status().ToString());
  FUZZ_CHECK(chunk->t == t, absl::StrCat("timestamps differ, ", t.size(), " samples"));
  FUZZ_CHECK(chunk->v_bits == v_bits, absl::StrCat("value bits differ, ", t.size(), " samples"));
  FUZZ_CHECK(enc.num_samples() == static_cast<int>(t.size()), "num_samples");
  FUZZ_CHECK(enc.min_time_ms() == t.front() && enc.max_time_ms() == t.back(), "time range");
  XorChunkDecoder dec(enc.bytes());
  size_t n = 0;
  for (; dec.Next(); ++n) {
    FUZZ_CHECK(n < t.size() && dec.t() == t[n] && std::bit_cast<uint64_t>(dec.v()) == v_bits[n],
               absl::StrCat("XorChunkDecoder differs at sample ", n));
  }
  FUZZ_CHECK(dec.ok() && n == t.size(), "XorChunkDecoder stopped early");
}

int64_t NextDelta(FuzzedDataProvider& in, int64_t delta) {
  switch (in.ConsumeIntegralInRange(0, 3)) {
    case 0:
      return delta;  // delta of delta 0, the common case
    case 1: {        // within the 14/17/20-bit buckets; wraps like the encoder's arithmetic
      const int64_t change = in.ConsumeIntegralInRange<int64_t>(-(1 << 20), 1 << 20);
      return static_cast<int64_t>(static_cast<uint64_t>(delta) + static_cast<uint64_t>(change));
    }
    case 2:
      return in.ConsumeIntegralInRange<int64_t>(1, int64_t{1} << 40);
    default:
      return in.ConsumeIntegral<int64_t>();
  }
}

uint64_t NextValue(FuzzedDataProvider& in, uint64_t bits) {
  switch (in.ConsumeIntegralInRange(0, 3)) {
    case 0:
      return bits;
    case 1:  // a short XOR window somewhere
      return bits ^ (in.ConsumeIntegral<uint64_t>() >> in.ConsumeIntegralInRange(0, 63)
                                                           << in.ConsumeIntegralInRange(0, 63));
    case 2:  // a NaN with a fuzzed payload, as Prometheus' stale marker is
      return 0x7ff0000000000001 | (in.ConsumeIntegral<uint64_t>() & 0x800fffffffffffff);
    default:
      return in.ConsumeIntegral<uint64_t>();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  for (XorChunkDecoder dec(raw); dec.Next();) {
  }
  std::vector<kad::storage::ForecastPoint> points;
  kad::storage::DecodeBlock(raw, &points);
  static XorChunkEncoder* const enc = new XorChunkEncoder;  // reused: exercises Reset()
  enc->Reset();
  FuzzedDataProvider in(data, size);
  std::vector<int64_t> t = {in.ConsumeIntegral<int64_t>()};
  std::vector<uint64_t> v_bits = {in.ConsumeIntegral<uint64_t>()};
  int64_t delta = 1;
  enc->Append(t.back(), std::bit_cast<double>(v_bits.back()));
  while (in.remaining_bytes() > 0 && enc->num_samples() < kad::storage::kMaxChunkSamples) {
    if (std::has_single_bit(t.size())) CheckDecodes(*enc, t, v_bits);
    delta = NextDelta(in, delta);
    int64_t next_t = 0;
    if (delta <= 0 || __builtin_add_overflow(t.back(), delta, &next_t)) break;
    t.push_back(next_t);
    v_bits.push_back(NextValue(in, v_bits.back()));
    enc->Append(t.back(), std::bit_cast<double>(v_bits.back()));
  }
  CheckDecodes(*enc, t, v_bits);
  return 0;
}
