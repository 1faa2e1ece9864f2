// Model kinds by name, and factories that build validated instances.
//
//   absl::StatusOr<ModelFactory> f =
//       MakeModelFactory("holt_winters", {{"season", "1d"}, {"band_sigmas", "3"}});
//   std::unique_ptr<Forecaster> m = f->New();
//
// Arguments arrive as strings, as the user wrote them in the config; nested
// maps are flattened with dots ("seasonality.period"). The factory parses and
// validates them once; New() is cheap. Thread-safe once built.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "models/forecaster.h"

namespace kad::models {

using ModelArgs = std::map<std::string, std::string>;

struct ModelFactory {
  std::string kind;
  std::function<std::unique_ptr<Forecaster>()> New;
};

// A factory of `Model(std::shared_ptr<const Options>)` instances sharing
// `options`; InvalidArgument if they do not validate. For the kinds' own
// MakeXFactory().
template <typename Model, typename Options>
absl::StatusOr<ModelFactory> MakeFactoryOf(std::string_view kind, const Options& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  auto shared = std::make_shared<const Options>(options);
  return ModelFactory{std::string(kind), [shared]() -> std::unique_ptr<Forecaster> {
                        return std::make_unique<Model>(shared);
                      }};
}

// InvalidArgument for an unknown kind (the message lists the known ones) or an
// argument the kind does not have or cannot parse (the message names it).
absl::StatusOr<ModelFactory> MakeModelFactory(std::string_view kind, const ModelArgs& args);

// The kind that a kind name of the original Python system ("prophet",
// "prophet_with_seasonality") runs as, which MakeModelFactory builds for
// it; nullopt for any other name. ModelKinds() does not list these names.
std::optional<std::string_view> KindAlias(std::string_view name);

// Every kind MakeModelFactory accepts, in the order the README lists them.
std::vector<std::string_view> ModelKinds();

// The kind a config entry without a `models:` key runs.
std::string_view DefaultModelKind();

}  // namespace kad::models
