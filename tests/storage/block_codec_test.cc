#include "storage/block_codec.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace kad::storage {
namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr double kInf = std::numeric_limits<double>::infinity();

ForecastPoint P(int64_t t, double v, double yhat, double lo, double hi, double score,
                bool anomaly) {
  ForecastPoint p;
  p.timestamp_ms = t;
  p.value = v;
  p.yhat = yhat;
  p.yhat_lower = lo;
  p.yhat_upper = hi;
  p.anomaly_score = score;
  p.anomaly = anomaly;
  return p;
}

// Bit-exact equality, so NaN payloads and the sign of zero count.
void ExpectSame(const std::vector<ForecastPoint>& want, const std::vector<ForecastPoint>& got) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(want[i].timestamp_ms, got[i].timestamp_ms);
    EXPECT_EQ(std::bit_cast<uint64_t>(want[i].value), std::bit_cast<uint64_t>(got[i].value));
    EXPECT_EQ(std::bit_cast<uint64_t>(want[i].yhat), std::bit_cast<uint64_t>(got[i].yhat));
    EXPECT_EQ(std::bit_cast<uint64_t>(want[i].yhat_lower),
              std::bit_cast<uint64_t>(got[i].yhat_lower));
    EXPECT_EQ(std::bit_cast<uint64_t>(want[i].yhat_upper),
              std::bit_cast<uint64_t>(got[i].yhat_upper));
    EXPECT_EQ(std::bit_cast<uint64_t>(want[i].anomaly_score),
              std::bit_cast<uint64_t>(got[i].anomaly_score));
    EXPECT_EQ(want[i].anomaly, got[i].anomaly);
  }
}

std::vector<ForecastPoint> RoundTrip(const std::vector<ForecastPoint>& points) {
  std::vector<ForecastPoint> out;
  EXPECT_TRUE(DecodeBlock(EncodeBlock(points), &out));
  return out;
}

TEST(BlockCodec, RoundTripsOddValuesBitForBit) {
  const double nan_payload = std::bit_cast<double>(uint64_t{0x7ff8dead0000beef});
  const double denormal = std::numeric_limits<double>::denorm_min();
  const std::vector<ForecastPoint> points = {
      P(-5, std::nan(""), kInf, -kInf, 1e308, -0.0, true),
      P(-4, nan_payload, -kInf, kInf, -1e308, 0.0, false),
      P(0, denormal, -denormal, std::numeric_limits<double>::max(),
        std::numeric_limits<double>::lowest(), std::numeric_limits<double>::min(), true),
      P(1, 1.0, 1.0, 1.0, 1.0, 1.0, true),  // all repeated below
      P(2, 1.0, 1.0, 1.0, 1.0, 1.0, false),
      P(3, -1.0, 2.0, 0.5, 3.5, 1e-300, false),
      P(1000000, 0.1, 0.2, 0.30000000000000004, 1e20, 12345.678, true),
  };
  ExpectSame(points, RoundTrip(points));
}

TEST(BlockCodec, RoundTripsExtremeAndIrregularTimestamps) {
  std::vector<int64_t> times = {kMin, kMin + 1, -1000000000000, -1, 0, 1, 2, 4, 7, 100, 101,
                                 8192 + 101, 8192 * 3, 1700000000000, 1700000000001,
                                 1700000015000, 1700000030000, 1700000045000, 1700000059999,
                                 kMax - 1, kMax};
  std::vector<ForecastPoint> points;
  for (int64_t t : times) points.push_back(P(t, 1, 2, 3, 4, 5, t % 2 == 0));
  ExpectSame(points, RoundTrip(points));
  // One point and two points far apart.
  ExpectSame({P(kMax, 1, 1, 1, 1, 1, true)}, RoundTrip({P(kMax, 1, 1, 1, 1, 1, true)}));
  const std::vector<ForecastPoint> two = {P(kMin, 0, 0, 0, 0, 0, false),
                                          P(kMax, 0, 0, 0, 0, 0, true)};
  ExpectSame(two, RoundTrip(two));
}

TEST(BlockCodec, RoundTripsRandomWalksAndRandomBits) {
  std::mt19937_64 rng(42);
  std::vector<ForecastPoint> points;
  int64_t t = -50000;
  double level = 100;
  for (int i = 0; i < 2000; ++i) {
    // Mostly regular 15 s scrapes with jitter and gaps of every size.
    const uint64_t r = rng();
    t += r % 10 == 0 ? static_cast<int64_t>(rng() % 100000000) + 1
                     : 15000 + static_cast<int64_t>(r % 7) - 3;
    level += std::normal_distribution<double>(0, 1)(rng);
    const double noise = i % 97 == 0 ? std::bit_cast<double>(rng()) : level * 1.01;
    points.push_back(P(t, level, noise, level - 3, level + 3, std::abs(level) / 7, r % 3 == 0));
  }
  ExpectSame(points, RoundTrip(points));
}

TEST(BlockCodec, SteadyPointsTakeFewBits) {
  std::vector<ForecastPoint> points;
  for (int i = 0; i < 120; ++i) points.push_back(P(int64_t{i} * 15000, 5, 5, 4, 6, 0.5, false));
  // First point: 6 x 64 bits + 1; later ones: 7 bits each.
  EXPECT_LE(EncodeBlock(points).size(), 160u);
}

TEST(BlockCodec, EncoderAppendsAcrossCallsLikeOneBlock) {
  std::vector<ForecastPoint> points;
  for (int i = 0; i < 50; ++i) points.push_back(P(i * 10, i * 0.37, i, -i, i * i, 0.1, i % 5 == 0));
  BlockEncoder encoder;
  std::string bits;
  for (const ForecastPoint& p : points) encoder.Append(p, &bits);
  EXPECT_EQ(encoder.count(), 50u);
  EXPECT_EQ(encoder.first_timestamp(), 0);
  EXPECT_EQ(encoder.last_timestamp(), 490);
  EXPECT_EQ(SealedBlockValue(encoder, bits), EncodeBlock(points));
  // Bytes past the bit position are garbage to the encoder: truncating back
  // to a saved state and appending again gives the same stream.
  BlockEncoder saved;
  std::string saved_bits;
  for (int i = 0; i < 20; ++i) saved.Append(points[i], &saved_bits);
  BlockEncoder again = saved;
  std::string dirty = bits;  // holds the 50 points' bytes
  dirty.resize(saved_bits.size());
  for (int i = 20; i < 50; ++i) again.Append(points[i], &dirty);
  EXPECT_EQ(SealedBlockValue(again, dirty), EncodeBlock(points));
}

TEST(BlockCodec, RejectsMalformedBlocks) {
  std::vector<ForecastPoint> points;
  for (int i = 0; i < 10; ++i) points.push_back(P(i, i * 1.5, 0, 0, 0, 0, false));
  const std::string block = EncodeBlock(points);
  std::vector<ForecastPoint> out;
  EXPECT_FALSE(DecodeBlock("", &out));
  EXPECT_FALSE(DecodeBlock(std::string(1, '\x01') + block.substr(1), &out));  // other format
  EXPECT_FALSE(DecodeBlock(block.substr(0, block.size() - 8), &out));         // truncated
  std::string more = block;
  more[1] = 100;  // claims more points than it holds
  EXPECT_FALSE(DecodeBlock(more, &out));
}

// Every byte of the stream holds a bit of some point, so every shorter
// prefix is short of its count: none decodes, whatever bit it ends on
// (64-bit fields straddle the reader's refills at every offset here).
TEST(BlockCodec, RejectsEveryTruncationOfTheStream) {
  std::mt19937_64 rng(7);
  std::vector<ForecastPoint> points;
  for (int i = 0; i < 40; ++i) {
    points.push_back(P(i * 15000 + static_cast<int64_t>(rng() % 3), std::bit_cast<double>(rng()),
                       i * 0.5, std::bit_cast<double>(rng()), i, 0.25, i % 2 == 0));
  }
  BlockEncoder encoder;
  std::string bits;
  for (const ForecastPoint& p : points) encoder.Append(p, &bits);
  bits.resize(encoder.byte_size());
  std::vector<ForecastPoint> out;
  ASSERT_TRUE(DecodeBits(bits, encoder.count(), &out));
  ExpectSame(points, out);
  for (size_t size = 0; size < bits.size(); ++size) {
    out.clear();
    EXPECT_FALSE(DecodeBits(std::string_view(bits).substr(0, size), encoder.count(), &out))
        << size;
  }
}

TEST(Varint, RoundTripsAndRejectsOverlongInput) {
  for (uint64_t v : {uint64_t{0}, uint64_t{127}, uint64_t{128}, uint64_t{1} << 63,
                     ~uint64_t{0}}) {
    std::string s;
    AppendVarint(v, &s);
    std::string_view in = s;
    uint64_t back = 1;
    ASSERT_TRUE(ReadVarint(&in, &back));
    EXPECT_EQ(back, v);
    EXPECT_TRUE(in.empty());
  }
  std::string_view overlong = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f";
  uint64_t v = 0;
  EXPECT_FALSE(ReadVarint(&overlong, &v));
  for (int64_t z : {int64_t{0}, int64_t{-1}, int64_t{1}, kMin, kMax}) {
    EXPECT_EQ(UnZigZag(ZigZag(z)), z);
  }
}

}  // namespace
}  // namespace kad::storage
