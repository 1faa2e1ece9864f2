// Tests for CRC-32C and the streamed remote-read frame layout.
#include "proto/chunked_read.h"

#include <string>

#include "gtest/gtest.h"

namespace {

using kad::proto::AppendChunkedFrame;
using kad::proto::Crc32c;
using kad::proto::Crc32cTables;
using kad::proto::FinishFrame;
using kad::proto::StartFrame;

// Bit-at-a-time reference, independent of the table-driven implementation.
uint32_t ReferenceCrc32c(std::string_view data) {
  uint32_t crc = 0xFFFFFFFF;
  for (unsigned char c : data) {
    crc ^= c;
    for (int i = 0; i < 8; ++i) crc = (crc >> 1) ^ (0x82F63B78 & (0 - (crc & 1)));
  }
  return ~crc;
}

TEST(Crc32c, MatchesKnownAnswers) {
  EXPECT_EQ(Crc32c(""), 0x00000000u);
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  // RFC 3720 (iSCSI) appendix B.4 vectors.
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
}

TEST(Crc32c, MatchesBitwiseReferenceAtEveryLengthAndAlignment) {
  std::string data;
  for (int i = 0; i < 300; ++i) data.push_back(static_cast<char>(i * 131 + 7));
  for (size_t start = 0; start < 8; ++start) {
    for (size_t len = 0; start + len <= data.size(); len += 1 + len / 8) {
      const std::string_view piece(data.data() + start, len);
      ASSERT_EQ(Crc32c(piece), ReferenceCrc32c(piece)) << start << "+" << len;
    }
  }
}

TEST(Crc32c, TablesMatchTheReferenceWhateverTheCpu) {
  std::string data;
  for (int i = 0; i < 300; ++i) data.push_back(static_cast<char>(i * 57 + 3));
  for (size_t start = 0; start < 8; ++start) {
    for (size_t len = 0; start + len <= data.size(); len += 1 + len / 8) {
      const std::string_view piece(data.data() + start, len);
      ASSERT_EQ(Crc32cTables(piece), ReferenceCrc32c(piece)) << start << "+" << len;
      ASSERT_EQ(Crc32c(piece), Crc32cTables(piece)) << start << "+" << len;
    }
  }
}

TEST(StartFrame, FramesAMessageWrittenInPlaceLikeAppendChunkedFrame) {
  for (const size_t size : {size_t{0}, size_t{5}, size_t{127}, size_t{128}, size_t{70000}}) {
    const std::string message(size, static_cast<char>('a' + size % 26));
    std::string want = "x";
    AppendChunkedFrame(message, &want);
    std::string got = "x";
    const size_t crc_at = StartFrame(message.size(), &got);
    got.append(message);
    FinishFrame(crc_at, &got);
    EXPECT_EQ(got, want) << size;
  }
}

TEST(AppendChunkedFrame, WritesLengthBigEndianCrcThenMessage) {
  std::string out = "prev";
  AppendChunkedFrame("hello", &out);
  const uint32_t crc = Crc32c("hello");
  std::string want = "prev";
  want.push_back('\x05');
  want.push_back(static_cast<char>(crc >> 24));
  want.push_back(static_cast<char>(crc >> 16));
  want.push_back(static_cast<char>(crc >> 8));
  want.push_back(static_cast<char>(crc));
  want += "hello";
  EXPECT_EQ(out, want);
}

TEST(AppendChunkedFrame, UsesMultiByteUvarintForLongMessages) {
  const std::string message(300, 'm');
  std::string out;
  AppendChunkedFrame(message, &out);
  ASSERT_EQ(out.size(), 2 + 4 + message.size());
  EXPECT_EQ(static_cast<uint8_t>(out[0]), 0xAC);  // 300 = 0b10'0101100
  EXPECT_EQ(static_cast<uint8_t>(out[1]), 0x02);
  const uint32_t crc = (uint32_t{static_cast<uint8_t>(out[2])} << 24) |
                       (uint32_t{static_cast<uint8_t>(out[3])} << 16) |
                       (uint32_t{static_cast<uint8_t>(out[4])} << 8) |
                       uint32_t{static_cast<uint8_t>(out[5])};
  EXPECT_EQ(crc, ReferenceCrc32c(message));
  EXPECT_EQ(out.substr(6), message);
}

TEST(AppendChunkedFrame, FramesAnEmptyMessage) {
  std::string out;
  AppendChunkedFrame("", &out);
  EXPECT_EQ(out, std::string(5, '\0'));  // length 0, CRC of nothing is 0
}

}  // namespace
