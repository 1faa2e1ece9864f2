// Minimal JSON string output, for KAD_LABELS and the adapter's JSON
// endpoints: escapes quotes, backslashes and control characters (\u00XX);
// other bytes pass through (label values are UTF-8).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kad::activities {

// Appends `s` as a quoted JSON string.
void AppendJsonString(std::string* out, std::string_view s);

// Appends {"name":"value",...} for the pairs in order.
void AppendJsonObject(std::string* out,
                      const std::vector<std::pair<std::string, std::string>>& pairs);

}  // namespace kad::activities
