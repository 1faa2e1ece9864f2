// Reads a bit stream most significant bit first, refilling a 64-bit word
// from 8 bytes at a time: the inner loop of decoding XOR chunks and format 2
// blocks, inline because the calls themselves were half of a read's
// decoding. Internal to kad_storage; a plain value, not thread-safe.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace kad::storage {

class BitReader {
 public:
  // `bytes` must outlive the reader.
  explicit BitReader(std::string_view bytes)
      : next_(reinterpret_cast<const unsigned char*>(bytes.data())), end_(next_ + bytes.size()) {}

  // The next n bits (n is 1..64); 0 once the stream is shorter than that,
  // and ok() is false from then on.
  uint64_t Read(int n) {
    if (n > held_) [[unlikely]] {
      Refill();
      if (n > held_) [[unlikely]]
        return ReadStraddling(n);
    }
    const uint64_t v = buffer_ >> (64 - n);
    buffer_ = n == 64 ? 0 : buffer_ << n;
    held_ -= n;
    return v;
  }
  bool ok() const { return ok_; }
  // Marks the stream malformed (a decoder's own check failed).
  void Fail() { ok_ = false; }

 private:
  // Tops up buffer_: at least 57 bits held unless the stream ends.
  void Refill() {
    if (end_ - next_ >= 8) [[likely]] {
      uint64_t w;
      std::memcpy(&w, next_, 8);
      w = __builtin_bswap64(w);  // the stream is most significant bit first
      // Bits past the whole bytes taken are the stream's next bits too, so
      // OR-ing them in again later changes nothing.
      buffer_ |= w >> held_;
      const int take = (64 - held_) / 8;
      next_ += take;
      held_ += take * 8;
      return;
    }
    while (held_ <= 56 && next_ != end_) {
      buffer_ |= static_cast<uint64_t>(*next_++) << (56 - held_);
      held_ += 8;
    }
  }

  // Read() when a refill left fewer than n bits: the stream's end, or more
  // than 56 bits straddling the refill (read in two parts).
  uint64_t ReadStraddling(int n) {
    if (n <= 56 || n > held_ + 8 * (end_ - next_)) {
      ok_ = false;
      return 0;
    }
    const uint64_t top = Read(n - 32);
    return (top << 32) | Read(32);
  }

  // The stream not yet in buffer_.
  const unsigned char* next_;
  const unsigned char* end_;
  // The next held_ bits of the stream, most significant first.
  uint64_t buffer_ = 0;
  int held_ = 0;
  bool ok_ = true;
};

}  // namespace kad::storage
