// What every fuzz target here uses to report a broken property: print the
// condition and a detail, then abort, which libFuzzer records as a crash and
// saves as an input to replay.
//
//   FUZZ_CHECK(status.ok() == oracle_ok, status.ToString());
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace kad::fuzz {

[[noreturn]] inline void CheckFailed(const char* condition, std::string_view detail,
                                     const char* file, int line) {
  std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: %.*s\n", file, line, condition,
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

}  // namespace kad::fuzz

// `detail` is evaluated only when `condition` is false.
#define FUZZ_CHECK(condition, detail) \
  ((condition) ? void(0) : ::kad::fuzz::CheckFailed(#condition, (detail), __FILE__, __LINE__))
