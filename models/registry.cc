#include "models/registry.h"

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "models/combined.h"
#include "models/detection.h"
#include "models/fourier.h"
#include "models/holt_winters.h"
#include "models/knn.h"
#include "models/robust_zscore.h"

namespace kad::models {
namespace {

struct Kind {
  std::string_view name;
  absl::StatusOr<ModelFactory> (*make)(const ModelArgs& args);
  // Set for a kind that applies the detection args itself instead of
  // running inside a Detector; `make` is then unused.
  absl::StatusOr<ModelFactory> (*make_detecting)(const ModelArgs& args,
                                                 std::shared_ptr<const DetectionOptions>) = nullptr;
};

// A kind's factory from its args: Options::FromArgs, then `make`.
template <typename Options, absl::StatusOr<ModelFactory> (*make)(const Options&)>
absl::StatusOr<ModelFactory> FromArgs(const ModelArgs& args) {
  absl::StatusOr<Options> options = Options::FromArgs(args);
  if (!options.ok()) return options.status();
  return make(*options);
}

absl::StatusOr<ModelFactory> CombinedFromArgs(const ModelArgs& args,
                                              std::shared_ptr<const DetectionOptions> detection) {
  absl::StatusOr<CombinedOptions> options = CombinedOptions::FromArgs(args);
  if (!options.ok()) return options.status();
  return MakeCombinedFactory(*options, std::move(detection));
}

// In the order the README lists them; the first is the default.
constexpr std::array<Kind, 5> kKinds = {{
    {kCombinedKind, nullptr, &CombinedFromArgs},
    {kHoltWintersKind, &FromArgs<HoltWintersOptions, &MakeHoltWintersFactory>},
    {kRobustZScoreKind, &FromArgs<RobustZScoreOptions, &MakeRobustZScoreFactory>},
    {kFourierKind, &FromArgs<FourierOptions, &MakeFourierFactory>},
    {kKnnKind, &FromArgs<KnnOptions, &MakeKnnFactory>},
}};

// The original Python system's kinds, and the kind each runs as.
struct Alias {
  std::string_view name;
  std::string_view kind;
};
constexpr std::array<Alias, 2> kAliases = {{
    {"prophet", kFourierKind},
    {"prophet_with_seasonality", kFourierKind},
}};

}  // namespace

std::optional<std::string_view> KindAlias(std::string_view name) {
  for (const Alias& a : kAliases) {
    if (a.name == name) return a.kind;
  }
  return std::nullopt;
}

absl::StatusOr<ModelFactory> MakeModelFactory(std::string_view kind, const ModelArgs& args) {
  if (std::optional<std::string_view> real = KindAlias(kind)) kind = *real;
  for (const Kind& k : kKinds) {
    if (k.name != kind) continue;
    // The detection args are the same for every kind; the rest are the kind's own.
    ModelArgs own = args;
    absl::StatusOr<DetectionOptions> detection = DetectionOptions::Extract(kind, &own);
    if (!detection.ok()) return detection.status();
    auto options = std::make_shared<const DetectionOptions>(*detection);
    if (k.make_detecting != nullptr) return k.make_detecting(own, std::move(options));
    absl::StatusOr<ModelFactory> inner = k.make(own);
    if (!inner.ok()) return inner.status();
    return ModelFactory{
        inner->kind, [options, make = std::move(inner->New)] {
          return std::unique_ptr<Forecaster>(std::make_unique<Detector>(options, make()));
        }};
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
