#include "storage/block_codec.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "storage/codec.h"
#include "storage/xor_chunk.h"
#include "tests/storage/format2_block.h"
#include "tests/support/xor_decoder.h"

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
  std::vector<int64_t> times = {kMin,
                                kMin + 1,
                                -1000000000000,
                                -1,
                                0,
                                1,
                                2,
                                4,
                                7,
                                100,
                                101,
                                8192 + 101,
                                8192 * 3,
                                1700000000000,
                                1700000000001,
                                1700000015000,
                                1700000030000,
                                1700000045000,
                                1700000059999,
                                kMax - 1,
                                kMax};
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
  // Per column: count, first sample (1 + 8 bytes), second (2 bytes + 1
  // bit), then 2 bits a point.
  EXPECT_LE(EncodeBlock(points).size(), 280u);
}

// Points whose every column changes: a random walk with its band.
std::vector<ForecastPoint> Walk(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<ForecastPoint> points;
  double level = 50;
  for (int i = 0; i < n; ++i) {
    level += std::normal_distribution<double>(0, 1)(rng);
    points.push_back(P(1700000000000 + int64_t{i} * 15000 + static_cast<int64_t>(rng() % 5), level,
                       level * 0.99, level - 3, level + 3, std::abs(level) / 50, rng() % 7 == 0));
  }
  return points;
}

TEST(OpenBlock, EachColumnIsThePrometheusChunkOfItsValues) {
  const std::vector<ForecastPoint> points = Walk(150, 1);
  OpenBlock block;
  for (const ForecastPoint& p : points) block.Append(p);
  EXPECT_EQ(block.count(), 150u);
  EXPECT_EQ(block.first_timestamp(), points.front().timestamp_ms);
  EXPECT_EQ(block.last_timestamp(), points.back().timestamp_ms);
  size_t bytes = 0;
  for (int c = 0; c < kNumColumns; ++c) {
    const auto column = static_cast<Column>(c);
    XorChunkEncoder want;
    for (const ForecastPoint& p : points) want.Append(p.timestamp_ms, ValueOf(p, column));
    EXPECT_EQ(block.Chunk(column), want.bytes()) << c;
    // And the oracle reads it back.
    const absl::StatusOr<testing::DecodedChunk> got = testing::DecodeXorChunk(block.Chunk(column));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->t.size(), points.size());
    bytes += want.bytes().size();
  }
  EXPECT_EQ(block.byte_size(), bytes);
  const std::string value = block.Sealed();
  const std::optional<SealedBlock> sealed = ParseSealed(value);
  ASSERT_TRUE(sealed.has_value());
  EXPECT_EQ(sealed->count, 150u);
  for (int c = 0; c < kNumColumns; ++c) {
    EXPECT_EQ(sealed->chunks[c], block.Chunk(static_cast<Column>(c)));
    EXPECT_TRUE(ChunkCountIs(sealed->chunks[c], 150));
  }
  std::vector<ForecastPoint> decoded;
  ASSERT_TRUE(block.Decode(100, &decoded));
  ExpectSame(std::vector<ForecastPoint>(points.begin(), points.begin() + 100), decoded);
}

TEST(OpenBlock, RewindTakesBackWhatWasAppendedSinceTheMark) {
  const std::vector<ForecastPoint> points = Walk(60, 2);
  const std::vector<ForecastPoint> first(points.begin(), points.begin() + 20);
  OpenBlock block;
  for (const ForecastPoint& p : first) block.Append(p);
  const OpenBlock::Mark mark = block.mark();
  // Enough more that the chunks move to a bigger buffer meanwhile.
  for (size_t i = 20; i < points.size(); ++i) block.Append(points[i]);
  block.Rewind(mark);
  EXPECT_EQ(block.count(), 20u);
  EXPECT_EQ(block.last_timestamp(), first.back().timestamp_ms);
  // The chunks are those of the 20 points, their last bytes zero-padded.
  EXPECT_EQ(block.Sealed(), EncodeBlock(first));
  for (size_t i = 20; i < points.size(); ++i) block.Append(points[i]);
  EXPECT_EQ(block.Sealed(), EncodeBlock(points));
}

TEST(OpenBlock, CopiesAreIndependentAndClearEmpties) {
  const std::vector<ForecastPoint> points = Walk(30, 3);
  OpenBlock block;
  for (int i = 0; i < 10; ++i) block.Append(points[i]);
  OpenBlock copy = block;
  for (int i = 10; i < 30; ++i) block.Append(points[i]);
  EXPECT_EQ(copy.count(), 10u);
  EXPECT_EQ(copy.Sealed(), EncodeBlock({points.begin(), points.begin() + 10}));
  copy = block;
  EXPECT_EQ(copy.Sealed(), block.Sealed());
  block.Clear();
  EXPECT_EQ(block.count(), 0u);
  EXPECT_EQ(block.byte_size(), 0u);
  EXPECT_EQ(block.Chunk(Column::kYhat), std::string(2, '\0'));
  // The next block starts afresh (with room like the last one's).
  for (int i = 20; i < 30; ++i) block.Append(points[i]);
  EXPECT_EQ(block.Sealed(), EncodeBlock({points.begin() + 20, points.end()}));
  EXPECT_EQ(copy.count(), 30u);
}

TEST(BlockCodec, RejectsMalformedBlocks) {
  std::vector<ForecastPoint> points;
  for (int i = 0; i < 10; ++i) points.push_back(P(i, i * 1.5, 0, 0, 0, 0, false));
  const std::string block = EncodeBlock(points);
  std::vector<ForecastPoint> out;
  ASSERT_TRUE(DecodeBlock(block, &out));
  EXPECT_FALSE(DecodeBlock("", &out));
  std::string other = block;
  other[0] = '\x01';  // another format
  EXPECT_FALSE(DecodeBlock(other, &out));
  std::string more = block;
  more[1] = 11;  // claims more points than its chunks hold
  EXPECT_TRUE(ParseSealed(more).has_value());
  EXPECT_FALSE(DecodeBlock(more, &out));
  std::string longer = block + "x";  // the chunks' sizes do not add up
  EXPECT_FALSE(ParseSealed(longer).has_value());
  EXPECT_FALSE(DecodeBlock(longer, &out));
  // Every shorter value is malformed.
  for (size_t size = 0; size < block.size(); ++size) {
    out.clear();
    EXPECT_FALSE(DecodeBlock(std::string_view(block).substr(0, size), &out)) << size;
  }
}

TEST(BlockCodec, ReadsBlocksOfFormat2) {
  std::vector<ForecastPoint> out;
  ASSERT_TRUE(DecodeBlock(kFormat2Block, &out));
  ExpectSame(Format2BlockPoints(), out);
  for (size_t size = 0; size < kFormat2Block.size(); ++size) {
    out.clear();
    EXPECT_FALSE(DecodeBlock(std::string_view(kFormat2Block).substr(0, size), &out)) << size;
  }
}

TEST(Varint, RoundTripsAndRejectsOverlongInput) {
  for (uint64_t v : {uint64_t{0}, uint64_t{127}, uint64_t{128}, uint64_t{1} << 63, ~uint64_t{0}}) {
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
