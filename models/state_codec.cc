#include "models/state_codec.h"

#include "absl/strings/str_cat.h"

namespace kad::models {

uint64_t Fnv1a(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : bytes) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

void WriteStateHeader(const StateHeader& header, StateWriter* w) {
  w->U8(header.version);
  w->U8(header.kind_tag);
  w->U64(header.fingerprint);
}

absl::Status ReadStateHeader(const StateHeader& expected, StateReader* r) {
  StateHeader got;
  if (!r->U8(&got.version) || !r->U8(&got.kind_tag) || !r->U64(&got.fingerprint)) {
    return StateRejected(expected.kind, "truncated header");
  }
  if (got.version != expected.version) {
    return StateRejected(expected.kind, absl::StrCat("unsupported format version ", got.version));
  }
  if (got.kind_tag != expected.kind_tag) {
    return StateRejected(expected.kind, "written by another model kind");
  }
  if (got.fingerprint != expected.fingerprint) {
    return StateRejected(expected.kind, "written with different model args");
  }
  return absl::OkStatus();
}

absl::Status StateRejected(std::string_view kind, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(kind), " state rejected: ", std::string(why)));
}

}  // namespace kad::models
