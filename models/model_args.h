// Reads a model kind's arguments (strings, as written in the config) into
// typed option fields, and rejects arguments the kind does not have.
//
//   ModelArgReader r("holt_winters", args);
//   r.Double("band_sigmas", &options.band_sigmas);
//   r.Duration("season", &options.season_ms);
//   absl::Status s = r.Finish();  // first bad value, else first unknown arg
//
// A field whose argument is absent keeps its default. The set of valid
// arguments is exactly the set of names read, so the error listing them
// cannot go stale. Not thread-safe; one reader per parse.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/registry.h"

namespace kad::models {

class ModelArgReader {
 public:
  ModelArgReader(std::string_view kind, const ModelArgs& args);

  void Double(std::string_view name, double* out);
  void Int(std::string_view name, int64_t* out);
  // A duration (ParseDurationMs) in milliseconds.
  void Duration(std::string_view name, int64_t* out_ms);
  // A duration, or the word "none", which gives `none_ms`.
  void DurationOrNone(std::string_view name, int64_t none_ms, int64_t* out_ms);

  // OK when every argument was read and parsed.
  absl::Status Finish() const;

  // `options` as read, once every argument was read and parsed and they
  // pass Options::Validate(); else the first error.
  template <typename Options>
  absl::StatusOr<Options> Finish(const Options& options) const {
    if (absl::Status s = Finish(); !s.ok()) return s;
    if (absl::Status s = options.Validate(); !s.ok()) return s;
    return options;
  }

 private:
  // The text of argument `name` (recorded as valid), or nullptr if absent
  // or an earlier argument already failed.
  const std::string* Find(std::string_view name);
  void Fail(std::string_view name, const std::string& text, std::string_view why);

  std::string kind_;
  const ModelArgs& args_;
  std::vector<std::string> known_;
  absl::Status status_;
};

// InvalidArgument "<kind> options: <what>", for an options' Validate().
absl::Status OptionsError(std::string_view kind, std::string_view what);

// OK when band_sigmas is a positive number, else the OptionsError naming it.
absl::Status ValidateBandSigmas(std::string_view kind, double band_sigmas);

}  // namespace kad::models
