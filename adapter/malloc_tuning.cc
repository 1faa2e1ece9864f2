#include "adapter/malloc_tuning.h"

#include <malloc.h>

namespace kad::adapter {

void TuneMalloc() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

}  // namespace kad::adapter
