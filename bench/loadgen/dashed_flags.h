// Command-line parsing for the bench programs: absl flags, which are
// declared with underscores, also spelled with dashes (--scrape-interval),
// as the adapter's and Prometheus' flags are.
//
//   ABSL_FLAG(absl::Duration, scrape_interval, absl::Seconds(15), "...");
//   int main(int argc, char** argv) { kad::bench::ParseDashedCommandLine(argc, argv); ... }
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "absl/flags/parse.h"

namespace kad::bench {

// Like absl::ParseCommandLine, after turning the dashes of every --flag
// name (not of its value) into underscores.
inline void ParseDashedCommandLine(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  std::vector<char*> normalised;
  for (std::string& a : args) {
    if (a.starts_with("--")) {
      const size_t name_end = std::min(a.find('='), a.size());
      std::replace(a.begin() + 2, a.begin() + static_cast<long>(name_end), '-', '_');
    }
    normalised.push_back(a.data());
  }
  absl::ParseCommandLine(static_cast<int>(normalised.size()), normalised.data());
}

}  // namespace kad::bench
