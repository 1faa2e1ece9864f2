// A real, small filesystem for tests of a full disk: a tmpfs of a given size
// mounted on a fresh folder under /tmp (needs root, as the tests run in CI),
// which a filler file can fill up to the last few KiB and give back.
//
//   SmallDisk disk(64 << 20);
//   ASSERT_TRUE(disk.ok()) << disk.error();
//   disk.Fill();   // writes now fail with ENOSPC
//   disk.Free();   // room again
//
// Unmounted, with everything on it, when it goes out of scope. Not
// thread-safe.
#pragma once

#include <cstddef>
#include <string>

namespace kad::testing {

class SmallDisk {
 public:
  explicit SmallDisk(size_t bytes);
  ~SmallDisk();
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;

  bool ok() const { return mounted_; }
  const std::string& error() const { return error_; }
  // The mount point; the folder a test puts its data in.
  const std::string& path() const { return path_; }

  // Grows a filler file until the disk has no room left.
  void Fill();
  // Deletes the filler file.
  void Free();

 private:
  std::string path_;
  std::string error_;
  bool mounted_ = false;
};

}  // namespace kad::testing
