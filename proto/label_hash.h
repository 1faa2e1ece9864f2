// The in-process hash of a label set, the same whether the labels come from
// a remote-write 1.0 body, a 2.0 body (whose symbols are hashed once each)
// or storage: each label folds the hashes of its name and of its value into
// the hash of the labels before it, starting from 0. A cache key only; it
// differs between processes.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace kad::proto {

// Debian 12's abseil has its own absl::string_view; a std::string_view given
// to absl::HashOf as it is would fall back to the slower std::hash.
inline uint64_t HashString(std::string_view s) {
  return absl::HashOf(absl::string_view(s.data(), s.size()));
}

inline uint64_t FoldLabelHash(uint64_t hash, uint64_t name_hash, uint64_t value_hash) {
  return absl::HashOf(hash, name_hash, value_hash);
}

}  // namespace kad::proto
