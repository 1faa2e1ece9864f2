// Framing of STREAMED_XOR_CHUNKS remote-read responses
// (Content-Type: application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kad::proto {

// CRC-32C (Castagnoli), as Go's crc32.MakeTable(crc32.Castagnoli).
uint32_t Crc32c(std::string_view data);

// Appends one frame to `out`: uvarint length of `message`, its CRC-32C as
// 4 big-endian bytes, then `message` itself.
void AppendChunkedFrame(std::string_view message, std::string* out);

}  // namespace kad::proto
