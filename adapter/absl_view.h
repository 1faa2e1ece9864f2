// Debian 12's abseil is built with its own absl::string_view (not an alias
// of std::string_view), so std::string_view must be bridged explicitly
// before it reaches absl::StrCat and friends.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace kad::adapter {

inline absl::string_view AbslView(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view StdView(absl::string_view s) { return {s.data(), s.size()}; }

}  // namespace kad::adapter
