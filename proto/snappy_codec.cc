// Snappy block codec; see snappy_codec.h.
#include "proto/snappy_codec.h"

#include <snappy.h>

#include "absl/strings/str_cat.h"

namespace kad::proto {

absl::Status SnappyUncompress(std::string_view compressed, size_t max_uncompressed,
                              std::string* out) {
  size_t length = 0;
  if (!snappy::GetUncompressedLength(compressed.data(), compressed.size(), &length)) {
    return absl::InvalidArgumentError(
        "body is not snappy block format: its length header is unreadable "
        "(the sender must use Content-Encoding: snappy, block not framed)");
  }
  // Checked before resizing: the header is attacker-controlled and may claim
  // gigabytes for a tiny body.
  if (length > max_uncompressed) {
    return absl::ResourceExhaustedError(absl::StrCat("snappy body declares ", length,
                                                     " uncompressed bytes, over the limit of ",
                                                     max_uncompressed));
  }
  out->resize(length);
  if (!snappy::RawUncompress(compressed.data(), compressed.size(), out->data())) {
    out->clear();
    return absl::InvalidArgumentError(
        absl::StrCat("snappy body is corrupt (declares ", length,
                     " uncompressed bytes but does not decode to them)"));
  }
  return absl::OkStatus();
}

void SnappyCompress(std::string_view raw, std::string* out) {
  snappy::Compress(raw.data(), raw.size(), out);
}

}  // namespace kad::proto
