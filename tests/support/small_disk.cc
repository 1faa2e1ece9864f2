#include "tests/support/small_disk.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace kad::testing {
namespace {

constexpr char kFiller[] = "/filler";

}  // namespace

SmallDisk::SmallDisk(size_t bytes) {
  char name[] = "/tmp/kad_small_disk_XXXXXX";
  if (mkdtemp(name) == nullptr) {
    error_ = std::string("mkdtemp: ") + std::strerror(errno);
    return;
  }
  path_ = name;
  const std::string options = "size=" + std::to_string(bytes);
  if (mount("tmpfs", path_.c_str(), "tmpfs", 0, options.c_str()) != 0) {
    error_ = "cannot mount a tmpfs on " + path_ +
             " (the full-disk tests need root): " + std::strerror(errno);
    return;
  }
  mounted_ = true;
}

SmallDisk::~SmallDisk() {
  if (mounted_) umount2(path_.c_str(), MNT_DETACH);
  if (!path_.empty()) std::filesystem::remove_all(path_);
}

void SmallDisk::Fill() {
  const int fd = open((path_ + kFiller).c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return;
  const std::vector<char> block(64 << 10, 'x');
  // Large blocks first, then single bytes for the last partial page.
  for (size_t size = block.size(); size > 0; size /= 4) {
    while (write(fd, block.data(), size) == static_cast<ssize_t>(size)) {
    }
  }
  close(fd);
}

void SmallDisk::Free() { std::filesystem::remove(path_ + kFiller); }

}  // namespace kad::testing
