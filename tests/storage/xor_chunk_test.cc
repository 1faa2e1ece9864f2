// Tests for the XOR chunk encoder and decoder against the independent
// bit-level decoder of tests/support/xor_decoder.h, which shares no code
// with them.
#include "storage/xor_chunk.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/xor_decoder.h"

namespace kad::storage {
namespace {

using kad::testing::DecodedChunk;
using kad::testing::DecodeXorChunk;

// Decodes with XorChunkDecoder, failing the test if it does not decode.
DecodedChunk Decode(std::string_view chunk) {
  DecodedChunk out;
  XorChunkDecoder dec(chunk);
  while (dec.Next()) {
    out.t.push_back(dec.t());
    out.v_bits.push_back(std::bit_cast<uint64_t>(dec.v()));
  }
  EXPECT_TRUE(dec.ok());
  EXPECT_EQ(static_cast<int>(out.t.size()), dec.count());
  return out;
}

// Encodes the samples, checking after every Append that the bytes decode to
// the samples so far, by the oracle and by XorChunkDecoder.
void ExpectRoundTrip(const std::vector<int64_t>& ts, const std::vector<double>& vs) {
  ASSERT_EQ(ts.size(), vs.size());
  XorChunkEncoder enc;
  for (size_t i = 0; i < ts.size(); ++i) {
    enc.Append(ts[i], vs[i]);
    // Checking every prefix is quadratic: do it for the small cases only.
    if (ts.size() <= 150 || i + 1 == ts.size()) {
      const absl::StatusOr<DecodedChunk> got = DecodeXorChunk(enc.bytes());
      ASSERT_TRUE(got.ok()) << got.status();
      ASSERT_EQ(got->t.size(), i + 1);
      for (size_t j = 0; j <= i; ++j) {
        ASSERT_EQ(got->t[j], ts[j]) << "sample " << j << " of " << i + 1;
        ASSERT_EQ(got->v_bits[j], std::bit_cast<uint64_t>(vs[j]))
            << "sample " << j << " of " << i + 1;
      }
    }
  }
  EXPECT_EQ(enc.num_samples(), static_cast<int>(ts.size()));
  EXPECT_EQ(enc.min_time_ms(), ts.front());
  EXPECT_EQ(enc.max_time_ms(), ts.back());
  EXPECT_EQ(XorChunkFirstTime(enc.bytes()), ts.front());
  const DecodedChunk got = Decode(enc.bytes());
  ASSERT_EQ(got.t.size(), ts.size());
  for (size_t j = 0; j < ts.size(); ++j) {
    ASSERT_EQ(got.t[j], ts[j]) << "sample " << j;
    ASSERT_EQ(got.v_bits[j], std::bit_cast<uint64_t>(vs[j])) << "sample " << j;
  }
}

double FromBits(uint64_t bits) { return std::bit_cast<double>(bits); }

// The oracle must be able to fail: it rejects what a broken encoder could
// produce.
TEST(XorChunkEncoder, OracleRejectsTruncatedAndOverPaddedChunks) {
  XorChunkEncoder enc;
  for (int i = 0; i < 10; ++i) enc.Append(15000 * i, 0.1 * i * i);
  const std::string bytes(enc.bytes());
  ASSERT_TRUE(DecodeXorChunk(bytes).ok());
  EXPECT_FALSE(DecodeXorChunk(bytes.substr(0, bytes.size() - 2)).ok());
  EXPECT_FALSE(DecodeXorChunk(bytes + std::string(1, '\0')).ok());
  EXPECT_FALSE(DecodeXorChunk(bytes.substr(0, 1)).ok());
}

TEST(XorChunkEncoder, MatchesHandComputedBytes) {
  XorChunkEncoder enc;
  enc.Append(1000, 1.0);
  enc.Append(2000, 1.0);
  enc.Append(3000, 2.0);
  // count 3 | zigzag varint 1000 = D0 0F | 1.0 = 3FF0... | uvarint 1000 =
  // E8 07 | '0' same value | '0' dod 0 | '11' 00001 001011 + eleven 1s
  // (2.0 ^ 1.0 = 0x7FF0..., 1 leading, 52 trailing zeros) | zero padding.
  const std::string want("\x00\x03\xD0\x0F\x3F\xF0\x00\x00\x00\x00\x00\x00\xE8\x07\x30\x97\xFF\xC0",
                         18);
  EXPECT_EQ(enc.bytes(), want);
}

TEST(XorChunkDecoder, RejectsEveryTruncation) {
  XorChunkEncoder enc;
  for (int i = 0; i < 30; ++i) enc.Append(15000 * i + i % 3, 0.1 * i * i);
  const std::string bytes(enc.bytes());
  for (size_t size = 0; size < bytes.size(); ++size) {
    XorChunkDecoder dec(std::string_view(bytes).substr(0, size));
    int n = 0;
    while (dec.Next()) ++n;
    EXPECT_FALSE(dec.ok()) << size;
    EXPECT_LT(n, 30) << size;
  }
}

TEST(XorChunkDecoder, RejectsAWindowWiderThanAWord) {
  // Sample 1's value opens a window of 31 leading zeros and 63 significant
  // bits: 94 bits do not fit in a double.
  XorChunkEncoder enc;
  enc.Append(0, 1.0);
  std::string bytes(enc.bytes());
  bytes[1] = 2;                              // two samples
  bytes.push_back(static_cast<char>(0x01));  // uvarint delta 1
  bytes.push_back(static_cast<char>(0xFF));  // '11', leading 11111, sig '1'...
  bytes.push_back(static_cast<char>(0xFF));
  bytes.append(8, '\0');
  XorChunkDecoder dec(bytes);
  EXPECT_TRUE(dec.Next());
  EXPECT_FALSE(dec.Next());
  EXPECT_FALSE(dec.ok());
}

TEST(XorChunkFirstTime, ReadsTheFirstTimestampOrNothing) {
  XorChunkEncoder enc;
  EXPECT_EQ(XorChunkFirstTime(enc.bytes()), std::nullopt);
  enc.Append(-1234567, 1);
  enc.Append(5, 1);
  EXPECT_EQ(XorChunkFirstTime(enc.bytes()), -1234567);
  EXPECT_EQ(XorChunkFirstTime(std::string_view(enc.bytes()).substr(0, 3)), std::nullopt);
}

TEST(XorChunkEncoder, EmptyChunkIsTwoZeroBytes) {
  XorChunkEncoder enc;
  EXPECT_EQ(enc.bytes(), std::string(2, '\0'));
  enc.Append(5, 1);
  enc.Reset();
  EXPECT_EQ(enc.bytes(), std::string(2, '\0'));
  EXPECT_EQ(enc.num_samples(), 0);
  EXPECT_TRUE(Decode(enc.bytes()).t.empty());
}

TEST(XorChunkEncoder, RoundTripsRegularScrapes) {
  std::vector<int64_t> ts;
  std::vector<double> vs;
  for (int i = 0; i < 120; ++i) {
    ts.push_back(1700000000000 + 15000 * i);
    vs.push_back(0.5 + 0.01 * (i % 7));
  }
  ExpectRoundTrip(ts, vs);
  // A steady counter packs to about 2 bits per timestamp.
  XorChunkEncoder enc;
  for (int i = 0; i < 120; ++i) enc.Append(15000 * i, 42.0);
  EXPECT_LT(enc.bytes().size(), 60u);
}

TEST(XorChunkEncoder, RoundTripsJitterGapsAndNegativeTimes) {
  std::mt19937_64 rng(3);
  std::vector<int64_t> ts;
  std::vector<double> vs;
  int64_t t = -86400000;  // before the epoch
  for (int i = 0; i < 1000; ++i) {
    switch (rng() % 5) {
      case 0:
        t += 15000;
        break;
      case 1:
        t += 15000 + static_cast<int64_t>(rng() % 200) - 100;
        break;
      case 2:
        t += 1 + static_cast<int64_t>(rng() % 3);
        break;
      case 3:
        t += int64_t{1} << (21 + rng() % 20);
        break;  // > 20-bit dod
      default:
        t += 1 + static_cast<int64_t>(rng() % 100000);
        break;
    }
    ts.push_back(t);
    vs.push_back(std::normal_distribution<double>(100, 30)(rng));
  }
  ExpectRoundTrip(ts, vs);
}

TEST(XorChunkEncoder, RoundTripsSpecialValuesBitExactly) {
  const std::vector<double> vs = {
      1.0,
      1.0,
      FromBits(0x7ff0000000000002),  // StaleNaN
      FromBits(0x7ff8000000000001),  // an ordinary NaN
      FromBits(0x7ff8000000000001),
      FromBits(0xfff0000000000001),  // negative signalling NaN payload
      std::numeric_limits<double>::infinity(),
      -std::numeric_limits<double>::infinity(),
      0.0,
      -0.0,
      std::numeric_limits<double>::denorm_min(),  // XOR with 63 leading zeros
      FromBits(0x8000000000000000),               // 64 significant bits: written as 0
      FromBits(0x0000000000000001),
      std::numeric_limits<double>::max(),
      std::numeric_limits<double>::lowest(),
      1e-300,
      1e300,
      3.0,
      3.0000000000000004,  // last mantissa bit
  };
  std::vector<int64_t> ts;
  for (size_t i = 0; i < vs.size(); ++i) ts.push_back(1000 * i);
  ExpectRoundTrip(ts, vs);
}

TEST(XorChunkEncoder, RoundTripsRandomBitPatterns) {
  std::mt19937_64 rng(17);
  for (int round = 0; round < 50; ++round) {
    std::vector<int64_t> ts;
    std::vector<double> vs;
    int64_t t = static_cast<int64_t>(rng() >> 20) - (int64_t{1} << 43);
    for (int i = 0; i < 120; ++i) {
      t += 1 + static_cast<int64_t>(rng() >> (24 + rng() % 40));
      ts.push_back(t);
      // Random bit patterns cover every leading/trailing window, NaNs too.
      uint64_t bits = rng();
      if (rng() % 3 == 0) bits &= ~uint64_t{0} << (rng() % 64);
      if (rng() % 3 == 0) bits &= ~uint64_t{0} >> (rng() % 64);
      vs.push_back(FromBits(bits));
    }
    ExpectRoundTrip(ts, vs);
  }
}

TEST(XorChunkEncoder, PicksPrometheusDodBucketsAtTheirEdges) {
  // Prometheus' ranges are asymmetric: [-(2^(n-1) - 1), 2^(n-1)].
  const std::vector<std::pair<int64_t, int>> cases = {
      {0, 0},        {1, 14},       {-1, 14},     {8192, 14},
      {-8191, 14},   {-8192, 17},   {8193, 17},   {65536, 17},
      {-65535, 17},  {-65536, 20},  {65537, 20},  {524288, 20},
      {-524287, 20}, {-524288, 64}, {524289, 64}, {int64_t{1} << 40, 64},
  };
  for (const auto& [dod, width] : cases) {
    XorChunkEncoder enc;
    const int64_t base_delta = 1 << 21;  // keeps every timestamp increasing
    enc.Append(0, 1);
    enc.Append(base_delta, 1);
    enc.Append(2 * base_delta + dod, 1);
    const absl::StatusOr<DecodedChunk> got = DecodeXorChunk(enc.bytes());
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->dod_widths.size(), 1u);
    EXPECT_EQ(got->dod_widths[0], width) << "dod " << dod;
    ASSERT_EQ(got->t.size(), 3u);
    EXPECT_EQ(got->t[2], 2 * base_delta + dod);
    EXPECT_EQ(Decode(enc.bytes()).t, got->t);
  }
}

TEST(XorChunkEncoder, RoundTripsEqualValuesAndSecondSampleDeltas) {
  ExpectRoundTrip({7}, {3.5});
  ExpectRoundTrip({-5, 10}, {3.5, 3.5});
  ExpectRoundTrip({0, int64_t{1} << 50, (int64_t{1} << 50) + 1}, {1, 1, 1});
  std::vector<int64_t> ts;
  std::vector<double> vs;
  for (int i = 0; i < 1000; ++i) {
    ts.push_back(i * 30000);
    vs.push_back(123.25);
  }
  ExpectRoundTrip(ts, vs);
}

}  // namespace
}  // namespace kad::storage
