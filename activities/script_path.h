// Where scripts may live: inside one directory, nowhere else.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace kad::activities {

// The canonical absolute path of `script` inside `scripts_dir`.
// InvalidArgument (with a message saying what is wrong and what to do) for
// an absolute path, a path with "..", a file that does not exist or is not
// a regular file, or a symlink that leads out of the directory.
absl::StatusOr<std::string> ResolveScript(const std::string& scripts_dir,
                                          const std::string& script);

}  // namespace kad::activities
