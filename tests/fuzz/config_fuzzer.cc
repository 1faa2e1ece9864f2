// Fuzz target: the configuration loader (adapter/config.h ParseConfig, the
// text entry point behind LoadConfig).
//
//   build-fuzz/tests/fuzz/config_fuzzer tests/fuzz/corpus/config
//
// An input is environment.yaml, then optionally a NUL byte and
// activities.yaml. Properties: no exception escapes, errors are
// InvalidArgument, and a config that loads is usable: every entry has a
// predicted name, a selector with matchers and at least one model whose
// factory builds a forecaster, and every activity runs exactly one script.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "adapter/config.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view environment = input.substr(0, nul);
  const std::string_view activities =
      nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);

  const absl::StatusOr<kad::adapter::Config> config =
      kad::adapter::ParseConfig(environment, activities);
  if (!config.ok()) {
    FUZZ_CHECK(config.status().code() == absl::StatusCode::kInvalidArgument,
               config.status().ToString());
    return 0;
  }
  for (const kad::adapter::MetricConfig& metric : config->metrics) {
    FUZZ_CHECK(!metric.predicted_metric_name.empty(), metric.metric_query);
    FUZZ_CHECK(!metric.selector.matchers.empty(), metric.metric_query);
    FUZZ_CHECK(!metric.models.empty(), metric.metric_query);
    for (const kad::adapter::ModelConfig& model : metric.models) {
      FUZZ_CHECK(model.factory.New() != nullptr,
                 absl::StrCat(metric.metric_query, " ", model.kind));
    }
  }
  for (const kad::adapter::ActivityConfig& activity : config->activities) {
    FUZZ_CHECK(activity.shell_file.empty() != activity.python_file.empty(), activity.name);
  }
  return 0;
}
