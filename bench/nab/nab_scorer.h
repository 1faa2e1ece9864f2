// The Numenta Anomaly Benchmark scorer, as specified in ../shared/nab/SCORING.md:
// probationary period, scaled-sigmoid row values, the three application
// profiles, the exhaustive global threshold sweep and normalisation to 0-100.
//
//   absl::StatusOr<ScoredCorpus> c = ScoredCorpus::Create(files, scores);
//   for (const Profile& p : kProfiles) {
//     ProfileScore s = c->Evaluate(p);  // best corpus-wide threshold, 0-100
//     Tally cat = c->ScoreAt(p, s.threshold, "realKnownCause");
//   }
//
// Thread-compatible: const methods may run concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kad::nab {

// One anomaly window: rows [first, last] of a file, both inclusive.
struct Window {
  int64_t first = 0;
  int64_t last = 0;
};

// What the scorer knows of one corpus file: its size and its windows.
struct LabelledFile {
  // "<category>/<name>.csv", as in combined_windows.json.
  std::string key;
  std::string category;
  int64_t rows = 0;
  // Sorted and disjoint, inside [0, rows).
  std::vector<Window> windows;
};

// An application profile's weights (SCORING.md §6; A_TN is never used).
struct Profile {
  std::string_view name;
  double a_tp = 0;
  double a_fp = 0;
  double a_fn = 0;
};

inline constexpr std::array<Profile, 3> kProfiles = {{
    {"standard", 1.0, 0.11, 1.0},
    {"reward_low_FP_rate", 1.0, 0.22, 1.0},
    {"reward_low_FN_rate", 1.0, 0.11, 2.0},
}};

// The threshold "above every score": no row is detected.
inline constexpr double kNoDetectionThreshold = 1.1;

// 2 / (1 + e^(5y)) - 1 for y <= 3, else -1.
double ScaledSigmoid(double y);

// Rows at the start of a file that are never scored: min(floor(0.15 N), 750).
int64_t ProbationRows(int64_t rows);

// 100 (raw - raw_null) / (raw_perfect - raw_null) with raw_null = -A_FN * windows
// and raw_perfect = A_TP * windows; NaN when there are no windows.
double Normalize(const Profile& profile, double raw, int64_t windows);

// The outcome of detecting every scorable row whose score is >= a threshold.
struct Tally {
  double raw = 0;
  int64_t windows = 0;
  int64_t detected_windows = 0;
  int64_t missed_windows = 0;
  // Detected scorable rows outside every window.
  int64_t false_positive_rows = 0;
};

// A profile's result at the corpus-wide threshold the sweep chose.
struct ProfileScore {
  double threshold = kNoDetectionThreshold;
  Tally tally;
  double normalized = 0;
};

// A detector's scores on a labelled corpus.
class ScoredCorpus {
 public:
  // scores[f][i] is the detector's score of row i of files[f]. InvalidArgument
  // unless every file has exactly one score in [0, 1] per row and its windows
  // are sorted, disjoint and inside the file.
  static absl::StatusOr<ScoredCorpus> Create(std::vector<LabelledFile> files,
                                             std::vector<std::vector<double>> scores);

  // Scores the files of `category` (every file when empty) at `threshold`.
  Tally ScoreAt(const Profile& profile, double threshold, std::string_view category = {}) const;

  // The threshold with the highest corpus raw score: kNoDetectionThreshold or
  // one of the scores of scorable rows; on a tie the higher one (§7).
  double BestThreshold(const Profile& profile) const;

  // BestThreshold, the corpus score there, and that score normalised.
  ProfileScore Evaluate(const Profile& profile) const;

  const std::vector<LabelledFile>& files() const { return files_; }

 private:
  // Where a scorable row sits: in window `window` (an index into the corpus's
  // windows, file by file) or outside every window (-1), and the value of
  // detecting it before the profile's weight: sigmoid(y) / sigmoid(-1) in a
  // window, the negative sigmoid(y) or -1 outside.
  struct RowValue {
    int64_t window = -1;
    double unit = 0;
  };

  ScoredCorpus(std::vector<LabelledFile> files, std::vector<std::vector<double>> scores);

  static double Value(const Profile& profile, const RowValue& row) {
    return row.window >= 0 ? profile.a_tp * row.unit : profile.a_fp * row.unit;
  }

  std::vector<LabelledFile> files_;
  std::vector<std::vector<double>> scores_;
  // values_[f][i] for rows i >= ProbationRows of file f; earlier entries unused.
  std::vector<std::vector<RowValue>> values_;
  // Index of file f's first window among the corpus's windows.
  std::vector<int64_t> first_window_;
  int64_t windows_ = 0;
};

}  // namespace kad::nab
