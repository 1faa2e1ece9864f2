// Snappy block codec; see snappy_codec.h.
#include "proto/snappy_codec.h"

#include <snappy.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "proto/varint.h"

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
  if (raw.size() < kParallelCompressBytes) {
    snappy::Compress(raw.data(), raw.size(), out);
    return;
  }
  // Snappy compresses each 64 KiB of its input on its own (no copy reaches
  // into an earlier one), so two halves cut at such a boundary compress
  // side by side, and their elements after one length header are the bytes
  // one call writes. A big remote-read answer spent a fifth of its time here.
  constexpr size_t kFragment = 65536;  // snappy's kBlockSize
  const size_t cut = raw.size() / 2 / kFragment * kFragment;
  std::string second;
  std::thread other([&] { snappy::Compress(raw.data() + cut, raw.size() - cut, &second); });
  std::string first;
  snappy::Compress(raw.data(), cut, &first);
  other.join();
  // Each part begins with the varint of its own length.
  auto elements = [](std::string_view part) {
    size_t header = 0;
    while (static_cast<unsigned char>(part[header]) & 0x80) ++header;
    return part.substr(header + 1);
  };
  out->clear();
  AppendVarint(raw.size(), out);
  out->append(elements(first));
  out->append(elements(second));
}

}  // namespace kad::proto
