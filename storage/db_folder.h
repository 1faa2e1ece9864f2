// Looks at the folder given as --storage.path before RocksDB touches it, so
// a wrong path (someone else's files, a file instead of a folder) is refused
// with a message instead of being turned into a database.
// Internal to kad_storage. Stateless: thread-safe.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kad::storage {

enum class FolderContent {
  // Missing, empty, or only the remains of a database creation that never
  // finished: a new database may be created there.
  kNothing,
  // Holds a RocksDB (it has a CURRENT file); whose it is is checked later.
  kRocksDb,
};

// FailedPrecondition when `path` is a file or a folder with other content;
// Unavailable when it cannot be read.
absl::StatusOr<FolderContent> InspectFolder(const std::string& path);

// Creates `path` and the folders above it that are missing (RocksDB, left
// to it, logs an error about the folder it cannot list first); Unavailable
// with the reason when it cannot.
absl::Status CreateFolder(const std::string& path);

}  // namespace kad::storage
