// Snappy block format (not framed), as remote write and remote read use it.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace kad::proto {

// Decompresses `compressed` into `out` (replacing its contents, reusing its
// capacity). The declared length is checked against `max_uncompressed`
// before anything is allocated. Errors: ResourceExhausted when the declared
// length is over the limit; InvalidArgument when the input is not snappy.
absl::Status SnappyUncompress(std::string_view compressed, size_t max_uncompressed,
                              std::string* out);

// Replaces the contents of `out` with the snappy block of the
// concatenation of `pieces`: the bytes snappy::Compress writes for it, on
// two threads from kParallelCompressBytes. The pieces are read where they
// lie (a remote-read answer is its series, not one copy of them).
void SnappyCompress(std::span<const std::string_view> pieces, std::string* out);
inline void SnappyCompress(std::string_view raw, std::string* out) {
  SnappyCompress(std::span(&raw, 1), out);
}
inline constexpr size_t kParallelCompressBytes = size_t{1} << 20;

}  // namespace kad::proto
