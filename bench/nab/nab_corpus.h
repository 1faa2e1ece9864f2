// A NAB corpus on disk, and detector results in NAB's results layout.
//
// A corpus folder is laid out as ../shared/nab (see its README.md):
//   data/<category>/<name>.csv        header "timestamp,value", one row per sample
//   labels/combined_windows.json      {"<category>/<name>.csv": [[start, end], ...], ...}
// Timestamps are "YYYY-MM-DD HH:MM:SS" in UTC ("....ffffff" in the labels). A
// detector's results go to <out>/<detector>/<category>/<detector>_<name>.csv
// with header "timestamp,value,anomaly_score", one row per data row.
//
//   absl::StatusOr<std::vector<CorpusFile>> corpus = LoadCorpus("../shared/nab");
//   for (const CorpusFile& f : *corpus) {
//     ... model->Observe(f.t_ms[i], f.values[i]) for each row i ...
//     absl::Status s = WriteResults(ResultPath(out, "holt_winters", f), f, scores);
//   }
//   absl::StatusOr<std::vector<double>> back = ReadResultScores(path);
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/nab/nab_scorer.h"

namespace kad::nab {

// Milliseconds since the epoch of "YYYY-MM-DD HH:MM:SS" with an optional
// fraction of a second (".000000"), read as UTC.
absl::StatusOr<int64_t> ParseTimestampMs(std::string_view text);

// A window as written in the labels: its first and last timestamps.
using LabelWindow = std::pair<std::string, std::string>;

// The windows of each file in a combined_windows.json text, by file key.
// Reads exactly that shape: an object of arrays of two-string arrays.
absl::StatusOr<std::map<std::string, std::vector<LabelWindow>>> ParseWindowsJson(
    std::string_view json);

// Each window's ends as rows of a file whose rows carry `times_ms`: a
// timestamp stands for the first row that carries it. NotFound when an end
// matches no row.
absl::StatusOr<std::vector<Window>> MapWindows(const std::vector<int64_t>& times_ms,
                                               const std::vector<LabelWindow>& windows);

// One series of the corpus, ready to stream.
struct CorpusFile {
  LabelledFile labels;
  // The file name without ".csv".
  std::string name;
  // Each row's timestamp and value as written in the file.
  std::vector<std::string> timestamps;
  std::vector<std::string> value_texts;
  // What a model observes: each row's time in ms, made strictly increasing
  // (a row not after the previous one gets the previous time + 1 ms), and
  // its value.
  std::vector<int64_t> t_ms;
  std::vector<double> values;
};

// Every data/<category>/*.csv under `dir`, sorted by key, with its windows.
// InvalidArgument when a file is malformed or the labels and the data files
// do not name the same files.
absl::StatusOr<std::vector<CorpusFile>> LoadCorpus(const std::filesystem::path& dir);

// <out>/<detector>/<category>/<detector>_<name>.csv
std::filesystem::path ResultPath(const std::filesystem::path& out, std::string_view detector,
                                 const CorpusFile& file);

// Writes `file`'s rows with their scores (one per row) to `path`, creating
// its folders.
absl::Status WriteResults(const std::filesystem::path& path, const CorpusFile& file,
                          const std::vector<double>& scores);

// The anomaly_score column of a results file, whatever other columns it has.
absl::StatusOr<std::vector<double>> ReadResultScores(const std::filesystem::path& path);

}  // namespace kad::nab
