// Framing of STREAMED_XOR_CHUNKS remote-read responses
// (Content-Type: application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kad::proto {

// CRC-32C (Castagnoli), as Go's crc32.MakeTable(crc32.Castagnoli): with the
// CPU's crc32 instruction where it has one (SSE 4.2), from tables otherwise.
uint32_t Crc32c(std::string_view data);
// The table-driven one, whatever the CPU (for tests).
uint32_t Crc32cTables(std::string_view data);

// Appends one frame to `out`: uvarint length of `message`, its CRC-32C as
// 4 big-endian bytes, then `message` itself.
void AppendChunkedFrame(std::string_view message, std::string* out);

// The same, for a message the caller writes straight into `out`: StartFrame
// appends the length (of the message to come) and room for the CRC, and
// returns where that room is; FinishFrame, once the message is appended,
// fills it in.
size_t StartFrame(size_t message_size, std::string* out);
void FinishFrame(size_t crc_at, std::string* out);

}  // namespace kad::proto
