#include "models/model_args.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/duration.h"

namespace kad::models {

ModelArgReader::ModelArgReader(std::string_view kind, const ModelArgs& args)
    : kind_(kind), args_(args) {}

const std::string* ModelArgReader::Find(std::string_view name) {
  known_.emplace_back(name);
  if (!status_.ok()) return nullptr;
  auto it = args_.find(std::string(name));
  return it == args_.end() ? nullptr : &it->second;
}

void ModelArgReader::Fail(std::string_view name, const std::string& text, std::string_view why) {
  status_ = absl::InvalidArgumentError(
      absl::StrCat(kind_, " arg \"", std::string(name), "\" = \"", text, "\": ", std::string(why)));
}

void ModelArgReader::Double(std::string_view name, double* out) {
  const std::string* text = Find(name);
  if (text == nullptr) return;
  double v;
  if (!absl::SimpleAtod(*text, &v)) return Fail(name, *text, "not a number");
  *out = v;
}

void ModelArgReader::Int(std::string_view name, int64_t* out) {
  const std::string* text = Find(name);
  if (text == nullptr) return;
  int64_t v;
  if (!absl::SimpleAtoi(*text, &v)) return Fail(name, *text, "not an integer");
  *out = v;
}

void ModelArgReader::Duration(std::string_view name, int64_t* out_ms) {
  const std::string* text = Find(name);
  if (text == nullptr) return;
  absl::StatusOr<int64_t> ms = ParseDurationMs(*text);
  if (!ms.ok()) return Fail(name, *text, std::string(ms.status().message()));
  *out_ms = *ms;
}

void ModelArgReader::DurationOrNone(std::string_view name, int64_t none_ms, int64_t* out_ms) {
  const std::string* text = Find(name);
  if (text == nullptr) return;
  if (*text == "none") {
    *out_ms = none_ms;
    return;
  }
  absl::StatusOr<int64_t> ms = ParseDurationMs(*text);
  if (!ms.ok()) {
    return Fail(name, *text, absl::StrCat(std::string(ms.status().message()), ", or \"none\""));
  }
  *out_ms = *ms;
}

absl::Status ModelArgReader::Finish() const {
  if (!status_.ok()) return status_;
  for (const auto& [name, value] : args_) {
    if (std::find(known_.begin(), known_.end(), name) == known_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          kind_, " has no arg \"", name, "\"; valid args: ", absl::StrJoin(known_, ", ")));
    }
  }
  return absl::OkStatus();
}

absl::Status OptionsError(std::string_view kind, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(kind), " options: ", std::string(what)));
}

absl::Status ValidateBandSigmas(std::string_view kind, double band_sigmas) {
  if (band_sigmas > 0 && std::isfinite(band_sigmas)) return absl::OkStatus();
  return OptionsError(kind, "band_sigmas must be a positive number");
}

}  // namespace kad::models
