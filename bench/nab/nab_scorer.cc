#include "bench/nab/nab_scorer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kad::nab {

double ScaledSigmoid(double y) {
  if (y > 3) return -1;
  return 2 / (1 + std::exp(5 * y)) - 1;
}

int64_t ProbationRows(int64_t rows) { return std::min<int64_t>(rows * 15 / 100, 750); }

double Normalize(const Profile& profile, double raw, int64_t windows) {
  if (windows == 0) return std::numeric_limits<double>::quiet_NaN();
  const double null = -profile.a_fn * static_cast<double>(windows);
  const double perfect = profile.a_tp * static_cast<double>(windows);
  return 100 * (raw - null) / (perfect - null);
}

absl::StatusOr<ScoredCorpus> ScoredCorpus::Create(std::vector<LabelledFile> files,
                                                  std::vector<std::vector<double>> scores) {
  if (scores.size() != files.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("scores for ", scores.size(), " files, the corpus has ", files.size()));
  }
  for (size_t f = 0; f < files.size(); ++f) {
    const LabelledFile& file = files[f];
    if (static_cast<int64_t>(scores[f].size()) != file.rows) {
      return absl::InvalidArgumentError(
          absl::StrCat(file.key, ": ", scores[f].size(), " scores for ", file.rows, " rows"));
    }
    for (size_t i = 0; i < scores[f].size(); ++i) {
      // Written so that NaN fails too.
      if (!(scores[f][i] >= 0 && scores[f][i] <= 1)) {
        return absl::InvalidArgumentError(
            absl::StrCat(file.key, ": row ", i, " has score ", scores[f][i], ", outside [0, 1]"));
      }
    }
    int64_t previous_last = -1;
    for (const Window& w : file.windows) {
      if (w.first <= previous_last || w.last < w.first || w.last >= file.rows) {
        return absl::InvalidArgumentError(
            absl::StrCat(file.key, ": window rows [", w.first, ", ", w.last,
                         "] overlap, are out of order or outside the file"));
      }
      previous_last = w.last;
    }
  }
  return ScoredCorpus(std::move(files), std::move(scores));
}

ScoredCorpus::ScoredCorpus(std::vector<LabelledFile> files, std::vector<std::vector<double>> scores)
    : files_(std::move(files)), scores_(std::move(scores)) {
  const double top = ScaledSigmoid(-1);
  for (const LabelledFile& file : files_) {
    first_window_.push_back(windows_);
    std::vector<RowValue>& values = values_.emplace_back(file.rows);
    // The window at or after the current row, and the one that ended last.
    size_t next = 0;
    const Window* ended = nullptr;
    for (int64_t i = ProbationRows(file.rows); i < file.rows; ++i) {
      while (next < file.windows.size() && file.windows[next].last < i) {
        ended = &file.windows[next++];
      }
      RowValue& row = values[i];
      if (next < file.windows.size() && file.windows[next].first <= i) {
        const Window& w = file.windows[next];
        const double width = static_cast<double>(w.last - w.first + 1);
        row.window = windows_ + static_cast<int64_t>(next);
        row.unit = ScaledSigmoid(-static_cast<double>(w.last - i + 1) / width) / top;
      } else if (ended != nullptr) {
        // A one-row window divides by zero: y is +inf, past 3, so -1.
        const double width = static_cast<double>(ended->last - ended->first + 1);
        row.unit = ScaledSigmoid(static_cast<double>(i - ended->last) / (width - 1));
      } else {
        row.unit = -1;
      }
    }
    windows_ += static_cast<int64_t>(file.windows.size());
  }
}

Tally ScoredCorpus::ScoreAt(const Profile& profile, double threshold,
                            std::string_view category) const {
  Tally tally;
  for (size_t f = 0; f < files_.size(); ++f) {
    const LabelledFile& file = files_[f];
    if (!category.empty() && file.category != category) continue;
    // Earliest detection in each of this file's windows has the highest value.
    std::vector<double> best(file.windows.size(), -profile.a_fn);
    std::vector<bool> hit(file.windows.size(), false);
    for (int64_t i = ProbationRows(file.rows); i < file.rows; ++i) {
      if (scores_[f][i] < threshold) continue;
      const RowValue& row = values_[f][i];
      if (row.window >= 0) {
        const size_t w = static_cast<size_t>(row.window - first_window_[f]);
        best[w] = hit[w] ? std::max(best[w], Value(profile, row)) : Value(profile, row);
        hit[w] = true;
      } else {
        tally.raw += Value(profile, row);
        ++tally.false_positive_rows;
      }
    }
    for (size_t w = 0; w < best.size(); ++w) {
      tally.raw += best[w];
      if (hit[w]) {
        ++tally.detected_windows;
      } else {
        ++tally.missed_windows;
      }
    }
    tally.windows += static_cast<int64_t>(file.windows.size());
  }
  return tally;
}

double ScoredCorpus::BestThreshold(const Profile& profile) const {
  struct Candidate {
    double score;
    RowValue row;
  };
  std::vector<Candidate> pool;
  for (size_t f = 0; f < files_.size(); ++f) {
    for (int64_t i = ProbationRows(files_[f].rows); i < files_[f].rows; ++i) {
      pool.push_back({scores_[f][i], values_[f][i]});
    }
  }
  std::sort(pool.begin(), pool.end(),
            [](const Candidate& a, const Candidate& b) { return a.score > b.score; });

  // Running state as the threshold moves down: each window's best value
  // (-A_FN while missed) and the sum of false-positive values.
  std::vector<double> best(static_cast<size_t>(windows_), -profile.a_fn);
  std::vector<bool> hit(best.size(), false);
  double window_sum = -profile.a_fn * static_cast<double>(windows_);
  double false_positive_sum = 0;
  double best_total = window_sum;
  double best_threshold = kNoDetectionThreshold;
  for (size_t g = 0; g < pool.size();) {
    const double threshold = pool[g].score;
    for (; g < pool.size() && pool[g].score == threshold; ++g) {
      const RowValue& row = pool[g].row;
      const double value = Value(profile, row);
      if (row.window < 0) {
        false_positive_sum += value;
        continue;
      }
      const size_t w = static_cast<size_t>(row.window);
      if (!hit[w] || value > best[w]) {
        window_sum += value - best[w];
        best[w] = value;
        hit[w] = true;
      }
    }
    // Strictly greater: on a tie the higher threshold, seen first, stays.
    if (window_sum + false_positive_sum > best_total) {
      best_total = window_sum + false_positive_sum;
      best_threshold = threshold;
    }
  }
  return best_threshold;
}

ProfileScore ScoredCorpus::Evaluate(const Profile& profile) const {
  ProfileScore score;
  score.threshold = BestThreshold(profile);
  // Re-scored at the chosen threshold, as NAB does, so the figure does not
  // carry the sweep's running-sum rounding.
  score.tally = ScoreAt(profile, score.threshold);
  score.normalized = Normalize(profile, score.tally.raw, score.tally.windows);
  return score;
}

}  // namespace kad::nab
