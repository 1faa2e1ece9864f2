#include "models/registry.h"

#include <array>
#include <string>

#include "absl/strings/str_cat.h"
#include "models/holt_winters.h"

namespace kad::models {
namespace {

struct Kind {
  std::string_view name;
  absl::StatusOr<ModelFactory> (*make)(const ModelArgs& args);
};

absl::StatusOr<ModelFactory> MakeHoltWinters(const ModelArgs& args) {
  absl::StatusOr<HoltWintersOptions> options = HoltWintersOptions::FromArgs(args);
  if (!options.ok()) return options.status();
  return MakeHoltWintersFactory(*options);
}

// In the order the README lists them; the first is the default.
constexpr std::array<Kind, 1> kKinds = {{
    {kHoltWintersKind, &MakeHoltWinters},
}};

}  // namespace

absl::StatusOr<ModelFactory> MakeModelFactory(std::string_view kind, const ModelArgs& args) {
  for (const Kind& k : kKinds) {
    if (k.name == kind) return k.make(args);
  }
  std::string known;
  for (std::string_view k : ModelKinds()) {
    if (!known.empty()) known += ", ";
    known += k;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown model kind \"", std::string(kind), "\"; known kinds: ", known));
}

std::vector<std::string_view> ModelKinds() {
  std::vector<std::string_view> kinds;
  for (const Kind& k : kKinds) kinds.push_back(k.name);
  return kinds;
}

std::string_view DefaultModelKind() { return kKinds.front().name; }

}  // namespace kad::models
