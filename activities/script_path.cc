#include "activities/script_path.h"

#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <memory>
#include <string>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kad::activities {
namespace {

absl::Status Refuse(const std::string& scripts_dir, const std::string& script,
                    absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "activity script \"", script, "\" ", why, "; put the script inside --activities.scripts-dir=",
      scripts_dir, " and name it relative to it (e.g. scale_up.sh or team/page.py)"));
}

// realpath(3); on failure "" with the reason in *error.
std::string RealPath(const std::string& path, std::string* error) {
  std::unique_ptr<char, decltype(&std::free)> resolved(::realpath(path.c_str(), nullptr),
                                                       &std::free);
  if (resolved == nullptr) {
    *error = std::error_code(errno, std::generic_category()).message();
    return std::string();
  }
  return std::string(resolved.get());
}

}  // namespace

absl::StatusOr<std::string> ResolveScript(const std::string& scripts_dir,
                                          const std::string& script) {
  if (script.empty()) return Refuse(scripts_dir, script, "is empty");
  if (script.front() == '/') return Refuse(scripts_dir, script, "is an absolute path");
  for (absl::string_view part : absl::StrSplit(script, '/')) {
    if (part == "..") return Refuse(scripts_dir, script, "contains \"..\"");
  }

  std::string error;
  const std::string dir = RealPath(scripts_dir, &error);
  if (dir.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--activities.scripts-dir=", scripts_dir, " cannot be used (", error,
                     "); create the directory or point the flag at the one holding the scripts"));
  }
  const std::string path = RealPath(absl::StrCat(dir, "/", script), &error);
  if (path.empty()) {
    return Refuse(scripts_dir, script, absl::StrCat("cannot be resolved (", error, ")"));
  }
  // Symlinks are followed by realpath, so this catches links that lead out.
  const std::string prefix = dir == "/" ? dir : dir + "/";
  if (path.compare(0, prefix.size(), prefix) != 0) {
    return Refuse(scripts_dir, script, absl::StrCat("leads outside the directory (to ", path, ")"));
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Refuse(scripts_dir, script, "is not a regular file");
  }
  return path;
}

}  // namespace kad::activities
