#include "activities/json.h"

#include <cstdio>

namespace kad::activities {

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned char>(c));
          out->append(buf);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

void AppendJsonObject(std::string* out,
                      const std::vector<std::pair<std::string, std::string>>& pairs) {
  out->push_back('{');
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(out, pairs[i].first);
    out->push_back(':');
    AppendJsonString(out, pairs[i].second);
  }
  out->push_back('}');
}

}  // namespace kad::activities
