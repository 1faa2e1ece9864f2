#include "tests/support/xor_decoder.h"

#include "absl/strings/str_cat.h"

namespace kad::testing {
namespace {

// Reads bits MSB-first; past the end it yields zeros and remembers the
// overrun, so a truncated chunk is reported once at the end.
class BitReader {
 public:
  explicit BitReader(std::string_view bytes) : bytes_(bytes) {}

  uint64_t Bit() {
    if (pos_ >= bytes_.size() * 8) {
      overrun_ = true;
      return 0;
    }
    const auto byte = static_cast<uint8_t>(bytes_[pos_ / 8]);
    const uint64_t bit = (byte >> (7 - pos_ % 8)) & 1;
    ++pos_;
    return bit;
  }
  uint64_t Bits(int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 1) | Bit();
    return v;
  }
  uint64_t Uvarint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const uint64_t byte = Bits(8);
      v |= (byte & 0x7f) << shift;
      if (byte < 0x80 || overrun_) return v;
    }
    overrun_ = true;  // more than ten bytes: not a varint
    return v;
  }
  int64_t Varint() {
    const uint64_t u = Uvarint();
    return static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1);
  }
  size_t pos() const { return pos_; }
  bool overrun() const { return overrun_; }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
  bool overrun_ = false;
};

}  // namespace

absl::StatusOr<DecodedChunk> DecodeXorChunk(std::string_view chunk) {
  if (chunk.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("XOR chunk of ", chunk.size(), " bytes has no 2-byte sample count"));
  }
  const int count = (static_cast<uint8_t>(chunk[0]) << 8) | static_cast<uint8_t>(chunk[1]);
  BitReader r(chunk.substr(2));
  DecodedChunk out;
  int64_t t = 0;
  int64_t delta = 0;
  uint64_t v = 0;
  int leading = 0;
  int trailing = 0;
  auto read_value = [&] {
    if (r.Bit() == 0) return;  // same value as before
    int significant;
    if (r.Bit() == 1) {  // a new window: 5 bits leading, 6 bits length
      leading = static_cast<int>(r.Bits(5));
      significant = static_cast<int>(r.Bits(6));
      if (significant == 0) significant = 64;
      trailing = 64 - leading - significant;
    } else {  // the previous window again
      significant = 64 - leading - trailing;
    }
    if (significant <= 0) return;  // a corrupt window; caught by the checks
    v ^= r.Bits(significant) << trailing;
  };
  for (int i = 0; i < count && !r.overrun(); ++i) {
    if (i == 0) {
      t = r.Varint();
      v = r.Bits(64);
    } else if (i == 1) {
      delta = static_cast<int64_t>(r.Uvarint());
      t += delta;
      read_value();
    } else {
      int ones = 0;
      while (ones < 4 && r.Bit() == 1) ++ones;
      static constexpr int kWidths[] = {0, 14, 17, 20, 64};
      const int width = kWidths[ones];
      int64_t dod = 0;
      if (width == 64) {
        dod = static_cast<int64_t>(r.Bits(64));
      } else if (width > 0) {
        const uint64_t raw = r.Bits(width);
        // Two's complement in `width` bits, positive up to 2^(width-1).
        dod = raw > (uint64_t{1} << (width - 1)) ? static_cast<int64_t>(raw) - (int64_t{1} << width)
                                                 : static_cast<int64_t>(raw);
      }
      out.dod_widths.push_back(width);
      delta += dod;
      t += delta;
      read_value();
    }
    out.t.push_back(t);
    out.v_bits.push_back(v);
  }
  if (r.overrun()) {
    return absl::InvalidArgumentError(
        absl::StrCat("XOR chunk ends before its ", count, " samples"));
  }
  const size_t total_bits = (chunk.size() - 2) * 8;
  if (total_bits - r.pos() >= 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("XOR chunk has ", total_bits - r.pos(),
                     " bits after its last sample; at most 7 bits of padding are allowed"));
  }
  while (r.pos() < total_bits) {
    if (r.Bit() != 0) {
      return absl::InvalidArgumentError("XOR chunk padding is not zero");
    }
  }
  return out;
}

}  // namespace kad::testing
