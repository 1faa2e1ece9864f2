// Snappy block codec; see snappy_codec.h.
#include "proto/snappy_codec.h"

#include <snappy-sinksource.h>
#include <snappy.h>

#include <algorithm>
#include <cstring>
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

namespace {

// Bytes [from, to) of the concatenation of `pieces`, as snappy reads input.
class PiecesSource final : public snappy::Source {
 public:
  PiecesSource(std::span<const std::string_view> pieces, size_t from, size_t to)
      : pieces_(pieces), left_(to - from) {
    while (piece_ < pieces_.size() && from >= pieces_[piece_].size())
      from -= pieces_[piece_++].size();
    at_ = from;
  }
  size_t Available() const override { return left_; }
  const char* Peek(size_t* len) override {
    while (piece_ < pieces_.size() && at_ == pieces_[piece_].size()) {
      ++piece_;
      at_ = 0;
    }
    if (left_ == 0 || piece_ == pieces_.size()) {
      *len = 0;
      return nullptr;
    }
    *len = std::min(pieces_[piece_].size() - at_, left_);
    return pieces_[piece_].data() + at_;
  }
  void Skip(size_t n) override {
    left_ -= n;
    while (n > 0) {
      const size_t k = std::min(n, pieces_[piece_].size() - at_);
      at_ += k;
      n -= k;
      if (at_ == pieces_[piece_].size() && n > 0) {
        ++piece_;
        at_ = 0;
      }
    }
  }

 private:
  std::span<const std::string_view> pieces_;
  size_t left_;
  size_t piece_ = 0;
  size_t at_ = 0;
};

// Writes what snappy appends at `dest`, less the length header it starts
// with: the elements, which the caller joins after one header of its own.
class ElementsSink final : public snappy::Sink {
 public:
  ElementsSink(char* dest, size_t header) : dest_(dest), skip_(header) {}
  void Append(const char* bytes, size_t n) override {
    const size_t skipped = std::min(skip_, n);
    skip_ -= skipped;
    bytes += skipped;
    n -= skipped;
    // Usually the bytes are where GetAppendBuffer said to write them.
    if (bytes != dest_ + written_) std::memcpy(dest_ + written_, bytes, n);
    written_ += n;
  }
  char* GetAppendBuffer(size_t, char*) override { return dest_ + written_; }
  size_t written() const { return written_; }

 private:
  char* dest_;
  size_t skip_;
  size_t written_ = 0;
};

// Compresses bytes [from, to) of the pieces to `dest` (room for
// MaxCompressedLength), without the length header; returns the bytes.
size_t CompressElements(std::span<const std::string_view> pieces, size_t from, size_t to,
                        char* dest) {
  PiecesSource source(pieces, from, to);
  ElementsSink sink(dest, VarintSize(to - from));
  snappy::Compress(&source, &sink);
  return sink.written();
}

}  // namespace

void SnappyCompress(std::span<const std::string_view> pieces, std::string* out) {
  size_t total = 0;
  for (std::string_view p : pieces) total += p.size();
  // Snappy compresses each 64 KiB of its input on its own (no copy reaches
  // into an earlier one), so two halves cut at such a boundary compress
  // side by side, and their elements after one length header are the bytes
  // one call writes. A big remote-read answer spent a fifth of its time here.
  constexpr size_t kFragment = 65536;  // snappy's kBlockSize
  const size_t cut = total < kParallelCompressBytes ? total : total / 2 / kFragment * kFragment;
  const size_t header = VarintSize(total);
  const size_t first_room = snappy::MaxCompressedLength(cut);
  out->resize(header + first_room + snappy::MaxCompressedLength(total - cut));
  char* const base = out->data();
  PutVarint(total, base);
  size_t second = 0;
  std::thread other;
  if (cut < total) {
    other = std::thread(
        [&] { second = CompressElements(pieces, cut, total, base + header + first_room); });
  }
  const size_t first = CompressElements(pieces, 0, cut, base + header);
  if (other.joinable()) other.join();
  std::memmove(base + header + first, base + header + first_room, second);
  out->resize(header + first + second);
}

}  // namespace kad::proto
