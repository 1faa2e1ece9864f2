// Tests for the snappy block codec wrapper.
#include "proto/snappy_codec.h"

#include <snappy.h>

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace {

using kad::proto::SnappyCompress;
using kad::proto::SnappyUncompress;

// Compressible like a real remote-write body: repeated label text with
// varying numbers.
std::string BodyLikeText(size_t size) {
  std::mt19937 rng(1);
  std::string s;
  while (s.size() < size) {
    s += "__name__\x12node_cpu_seconds_total instance=10.0.0.";
    s += std::to_string(rng() % 255);
    s.push_back(static_cast<char>(rng()));
  }
  s.resize(size);
  return s;
}

TEST(SnappyCodec, RoundTripsBodies) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{100}, size_t{70000}, size_t{1} << 20}) {
    const std::string raw = BodyLikeText(size);
    std::string compressed;
    SnappyCompress(raw, &compressed);
    if (size > 100) {
      EXPECT_LT(compressed.size(), raw.size());
    }
    std::string out = "stale contents to be replaced";
    const absl::Status status = SnappyUncompress(compressed, size, &out);
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(out, raw) << size;
  }
}

TEST(SnappyCodec, LongBodiesCompressOnTwoThreadsToSnappysOwnBytes) {
  for (size_t size :
       {kad::proto::kParallelCompressBytes, size_t{3} << 20, (size_t{5} << 20) + 777}) {
    const std::string raw = BodyLikeText(size);
    std::string want;
    snappy::Compress(raw.data(), raw.size(), &want);
    std::string got = "stale";
    SnappyCompress(raw, &got);
    EXPECT_EQ(got, want) << size;
  }
}

TEST(SnappyCodec, PiecesCompressToTheBytesOfTheirConcatenation) {
  std::mt19937 rng(5);
  for (size_t size :
       {size_t{0}, size_t{1000}, kad::proto::kParallelCompressBytes, (size_t{3} << 20) + 12345}) {
    const std::string raw = BodyLikeText(size);
    std::string want;
    snappy::Compress(raw.data(), raw.size(), &want);
    // Pieces of every size, empty ones too, cut anywhere (across snappy's
    // 64 KiB blocks and the cut between the two threads).
    std::vector<std::string_view> pieces;
    for (size_t at = 0; at < raw.size();) {
      const size_t n = std::min<size_t>(raw.size() - at, rng() % 3 == 0 ? 0 : rng() % 100000);
      pieces.push_back(std::string_view(raw).substr(at, n));
      at += n;
    }
    pieces.push_back({});
    std::string got = "stale";
    SnappyCompress(pieces, &got);
    EXPECT_EQ(got, want) << size;
  }
}

TEST(SnappyCodec, CompressReplacesPreviousOutput) {
  std::string compressed(1000, 'x');
  SnappyCompress("abc", &compressed);
  std::string out;
  ASSERT_TRUE(SnappyUncompress(compressed, 100, &out).ok());
  EXPECT_EQ(out, "abc");
}

TEST(SnappyCodec, RejectsDeclaredLengthOverLimit) {
  const std::string raw = BodyLikeText(1000);
  std::string compressed;
  SnappyCompress(raw, &compressed);
  std::string out;
  EXPECT_EQ(SnappyUncompress(compressed, 999, &out).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(SnappyUncompress(compressed, 1000, &out).ok());
}

TEST(SnappyCodec, ChecksDeclaredLengthBeforeAllocating) {
  // A 5-byte body whose header claims 4 GiB: must fail on the header alone.
  const std::string bomb("\xff\xff\xff\xff\x0f", 5);
  std::string out;
  const absl::Status status = SnappyUncompress(bomb, 64 << 20, &out);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(status.message().find("4294967295"), std::string::npos) << status;
  EXPECT_LT(out.capacity(), size_t{1} << 20);
}

TEST(SnappyCodec, RejectsGarbage) {
  std::string out;
  // An unterminated length header.
  EXPECT_EQ(SnappyUncompress(std::string(12, '\xff'), 1 << 20, &out).code(),
            absl::StatusCode::kInvalidArgument);
  // A plausible header followed by a body that is not snappy.
  EXPECT_EQ(SnappyUncompress("\x0aGET / HTTP/1.1", 1 << 20, &out).code(),
            absl::StatusCode::kInvalidArgument);
  // A valid block cut short.
  std::string compressed;
  SnappyCompress(BodyLikeText(5000), &compressed);
  compressed.resize(compressed.size() / 2);
  EXPECT_EQ(SnappyUncompress(compressed, 1 << 20, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(out.empty());
}

}  // namespace
