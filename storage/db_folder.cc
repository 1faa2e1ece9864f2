#include "storage/db_folder.h"

#include <filesystem>
#include <string_view>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace kad::storage {
namespace {

// Files RocksDB writes while creating a database before CURRENT exists, and
// the folder ext4 puts at the root of a fresh volume (a Kubernetes PV).
bool IsHarmlessLeftover(std::string_view name) {
  return name == "lost+found" || name == "LOCK" || name == "LOG" || name == "IDENTITY" ||
         name.starts_with("LOG.old.") || name.starts_with("MANIFEST-") || name.ends_with(".dbtmp");
}

}  // namespace

absl::StatusOr<FolderContent> InspectFolder(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (status.type() == fs::file_type::not_found) return FolderContent::kNothing;
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot inspect storage path ", path, ": ", ec.message()));
  }
  if (status.type() != fs::file_type::directory) {
    return absl::FailedPreconditionError(
        absl::StrCat("storage path ", path,
                     " is not a folder; point --storage.path at an empty folder or at this "
                     "adapter's data folder"));
  }
  bool has_current = false;
  std::string stranger;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name == "CURRENT") {
      has_current = true;
    } else if (stranger.empty() && !IsHarmlessLeftover(name)) {
      stranger = name;
    }
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot list storage path ", path, ": ", ec.message()));
  }
  if (has_current) return FolderContent::kRocksDb;
  if (!stranger.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "storage path ", path, " is not empty and holds no database (found \"", stranger,
        "\"); point --storage.path at an empty folder or at this adapter's "
        "data folder"));
  }
  return FolderContent::kNothing;
}

absl::Status CreateFolder(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot create storage path ", path, ": ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace kad::storage
