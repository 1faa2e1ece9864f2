#include "adapter/malloc_tuning.h"

#include <limits.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <string_view>

namespace kad::adapter {

void TuneMalloc() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  mallopt(M_TOP_PAD, 64 << 20);
}

void ReexecWithHugePages(char** argv) {
  constexpr std::string_view kTunable = "glibc.malloc.hugetlb";
  const char* current = std::getenv("GLIBC_TUNABLES");
  const bool had = current != nullptr;
  const std::string before = had ? current : "";
  if (before.find(kTunable) != std::string::npos) return;
  // The binary's own path, not /proc/self/exe: the process is named after
  // the file run (ps, top, pgrep, killall), and would be called "exe".
  char self[PATH_MAX];
  const ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (length <= 0) return;
  self[length] = '\0';
  std::string tunables = before;
  if (!tunables.empty()) tunables += ':';
  tunables += kTunable;
  tunables += "=1";
  if (setenv("GLIBC_TUNABLES", tunables.c_str(), /*overwrite=*/1) != 0) return;
  execv(self, argv);
  // Not reached unless the exec failed: carry on without the tunable.
  if (had) {
    setenv("GLIBC_TUNABLES", before.c_str(), /*overwrite=*/1);
  } else {
    unsetenv("GLIBC_TUNABLES");
  }
}

}  // namespace kad::adapter
