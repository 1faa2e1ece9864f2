// CRC-32C and streamed remote-read framing; see chunked_read.h.
#include "proto/chunked_read.h"

#include <array>

#include "proto/varint.h"

namespace kad::proto {
namespace {

// Reflected Castagnoli polynomial, as Go's crc32.Castagnoli.
constexpr uint32_t kCastagnoli = 0x82F63B78;

// Slicing-by-8 tables: table[0] is the classic byte table; table[k][b] is
// the CRC of byte b followed by k zero bytes, so eight input bytes fold in
// one step. Frames are about 1 MiB, where a byte-at-a-time loop shows up.
using Crc32cTables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Crc32cTables MakeCrc32cTables() {
  Crc32cTables tables{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t crc = b;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 1) ? (crc >> 1) ^ kCastagnoli : crc >> 1;
    }
    tables[0][b] = crc;
  }
  for (uint32_t b = 0; b < 256; ++b) {
    for (int k = 1; k < 8; ++k) {
      const uint32_t prev = tables[k - 1][b];
      tables[k][b] = (prev >> 8) ^ tables[0][prev & 0xff];
    }
  }
  return tables;
}

constexpr Crc32cTables kCrc32cTables = MakeCrc32cTables();

}  // namespace

uint32_t Crc32c(std::string_view data) {
  const auto& t = kCrc32cTables;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  uint32_t crc = 0xFFFFFFFF;
  while (n >= 8) {
    const uint32_t lo =
        crc ^ (uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24);
    crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
          t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
  return ~crc;
}

void AppendChunkedFrame(std::string_view message, std::string* out) {
  AppendVarint(message.size(), out);
  const uint32_t crc = Crc32c(message);
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((crc >> shift) & 0xff));
  }
  out->append(message);
}

}  // namespace kad::proto
