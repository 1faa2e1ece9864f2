#include "bench/nab/nab_scorer.h"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/nab/nab_corpus.h"
#include "gtest/gtest.h"

namespace kad::nab {
namespace {

constexpr double kTolerance = 1e-5;
const Profile& kStandard = kProfiles[0];
const Profile& kLowFp = kProfiles[1];
const Profile& kLowFn = kProfiles[2];

// Two files. c1/a.csv: 50 rows, probation 7 (floor(7.5)), windows [10, 14]
// and [25, 29], both 5 rows wide. c2/b.csv: 20 rows, probation 3, no window.
std::vector<LabelledFile> SmallCorpus() {
  return {{"c1/a.csv", "c1", 50, {{10, 14}, {25, 29}}}, {"c2/b.csv", "c2", 20, {}}};
}

// Scores of 0 everywhere except `ones` (file index, row) set to `score`.
// The same shape at a realistic length, where flagging every row costs
// far more in false positives than it wins in windows.
std::vector<LabelledFile> LongCorpus() {
  return {{"c1/a.csv", "c1", 2000, {{400, 499}, {1200, 1299}}}, {"c2/b.csv", "c2", 1000, {}}};
}

std::vector<std::vector<double>> Scores(const std::vector<LabelledFile>& files,
                                        const std::vector<std::pair<size_t, int64_t>>& rows,
                                        double score = 1) {
  std::vector<std::vector<double>> scores;
  for (const LabelledFile& f : files) scores.emplace_back(f.rows, 0.0);
  for (const auto& [file, row] : rows) scores[file][row] = score;
  return scores;
}

ScoredCorpus MustCreate(std::vector<LabelledFile> files, std::vector<std::vector<double>> scores) {
  absl::StatusOr<ScoredCorpus> c = ScoredCorpus::Create(std::move(files), std::move(scores));
  EXPECT_TRUE(c.ok()) << c.status();
  return *std::move(c);
}

// Every row 0.5.
std::vector<std::vector<double>> NullDetector(const std::vector<LabelledFile>& files) {
  std::vector<std::vector<double>> scores;
  for (const LabelledFile& f : files) scores.emplace_back(f.rows, 0.5);
  return scores;
}

// 1 on the first row of each window, 0 elsewhere.
std::vector<std::vector<double>> PerfectDetector(const std::vector<LabelledFile>& files) {
  std::vector<std::vector<double>> scores;
  for (const LabelledFile& f : files) {
    std::vector<double>& s = scores.emplace_back(f.rows, 0.0);
    for (const Window& w : f.windows) s[w.first] = 1;
  }
  return scores;
}

TEST(ScaledSigmoid, MatchesReferenceValues) {
  EXPECT_NEAR(ScaledSigmoid(-1), 0.98661, kTolerance);
  EXPECT_NEAR(ScaledSigmoid(-0.5), 0.84828, kTolerance);
  EXPECT_EQ(ScaledSigmoid(0), 0);
  EXPECT_NEAR(ScaledSigmoid(1), -0.98661, kTolerance);
  EXPECT_NEAR(ScaledSigmoid(3), -1, 1e-6);
  EXPECT_EQ(ScaledSigmoid(3.0001), -1);
  EXPECT_EQ(ScaledSigmoid(INFINITY), -1);
}

TEST(ProbationRows, IsFifteenPercentCappedAt750) {
  EXPECT_EQ(ProbationRows(4032), 604);
  EXPECT_EQ(ProbationRows(1127), 169);
  EXPECT_EQ(ProbationRows(4999), 749);
  EXPECT_EQ(ProbationRows(5000), 750);
  EXPECT_EQ(ProbationRows(22695), 750);
}

TEST(NabScorer, NullDetectorScoresZeroOnEveryProfile) {
  const ScoredCorpus c = MustCreate(LongCorpus(), NullDetector(LongCorpus()));
  for (const Profile& p : kProfiles) {
    const ProfileScore s = c.Evaluate(p);
    EXPECT_EQ(s.threshold, kNoDetectionThreshold) << p.name;
    EXPECT_DOUBLE_EQ(s.tally.raw, -2 * p.a_fn) << p.name;
    EXPECT_DOUBLE_EQ(s.normalized, 0) << p.name;
  }
}

// On the small corpus the null detector's best is to flag every row, which
// wins both windows for fewer false positives than the misses cost: NAB's
// "null scores 0" holds only when files are long next to their windows.
TEST(NabScorer, NullDetectorFlagsEverythingWhenThatIsCheaper) {
  const ScoredCorpus c = MustCreate(SmallCorpus(), NullDetector(SmallCorpus()));
  EXPECT_EQ(c.BestThreshold(kLowFn), 0.5);
  EXPECT_EQ(c.BestThreshold(kStandard), kNoDetectionThreshold);
}

TEST(NabScorer, PerfectDetectorScoresHundredOnEveryProfile) {
  const ScoredCorpus c = MustCreate(LongCorpus(), PerfectDetector(LongCorpus()));
  for (const Profile& p : kProfiles) {
    const ProfileScore s = c.Evaluate(p);
    EXPECT_EQ(s.threshold, 1) << p.name;
    EXPECT_EQ(s.tally.detected_windows, 2) << p.name;
    EXPECT_EQ(s.tally.false_positive_rows, 0) << p.name;
    EXPECT_DOUBLE_EQ(s.normalized, 100) << p.name;
  }
}

// Detections (score 1) in c1/a.csv, windows [10, 14] and [25, 29]:
//   row  2  probation                                 ignored
//   row  8  before any window                         FP -1 * A_FP
//   row 12  window 1, y = -(14-12+1)/5 = -0.6         TP sigma(-0.6)/sigma(-1)
//                                                        = 0.905148/0.986614 = 0.917429
//   row 13  window 1, later than row 12               adds nothing
//   row 16  after window 1, y = (16-14)/(5-1) = 0.5   FP sigma(0.5) = -0.848284 * A_FP
//   row 22  between the windows: compared with window 1,
//           y = (22-14)/4 = 2                         FP sigma(2) = -0.999909 * A_FP
//   window 2 has no detection                         -A_FN
//   row 35  y = (35-29)/4 = 1.5                       FP sigma(1.5) = -0.998894 * A_FP
//   row 45  y = 16/4 = 4 > 3                          FP -1 * A_FP
// and in c2/b.csv (no window): row 1 probation, row 10 FP -1 * A_FP.
// Sum of FP magnitudes: 1 + 0.848284 + 0.999909 + 0.998894 + 1 + 1 = 5.847087.
//   standard:  0.917429 - 1 - 0.11 * 5.847087 = -0.725751, (raw + 2) / 4 = 31.856227%
//   low FP:    0.917429 - 1 - 0.22 * 5.847087 = -1.368931, (raw + 2) / 4 = 15.776737%
//   low FN:    0.917429 - 2 - 0.11 * 5.847087 = -1.725751, (raw + 4) / 6 = 37.904151%
// Per category, c2's one FP is -A_FP; c1 is the rest:
//   standard c1 = -0.615751 (34.606227%), low FP c1 = -1.148931, low FN c1 = -1.615751.
std::vector<std::vector<double>> HandCaseScores() {
  return Scores(
      SmallCorpus(),
      {{0, 2}, {0, 8}, {0, 12}, {0, 13}, {0, 16}, {0, 22}, {0, 35}, {0, 45}, {1, 1}, {1, 10}});
}

TEST(NabScorer, HandComputedCase) {
  const ScoredCorpus c = MustCreate(SmallCorpus(), HandCaseScores());
  struct Expected {
    const Profile& profile;
    double raw;
    double normalized;
    double c1_raw;
  };
  for (const Expected& e : {Expected{kStandard, -0.725751, 31.856227, -0.615751},
                            Expected{kLowFp, -1.368931, 15.776737, -1.148931},
                            Expected{kLowFn, -1.725751, 37.904151, -1.615751}}) {
    const Tally t = c.ScoreAt(e.profile, 1);
    EXPECT_NEAR(t.raw, e.raw, kTolerance) << e.profile.name;
    EXPECT_EQ(t.windows, 2);
    EXPECT_EQ(t.detected_windows, 1);
    EXPECT_EQ(t.missed_windows, 1);
    EXPECT_EQ(t.false_positive_rows, 6);

    // Only 0 and 1 occur: detecting the flagged rows beats detecting none.
    const ProfileScore s = c.Evaluate(e.profile);
    EXPECT_EQ(s.threshold, 1) << e.profile.name;
    EXPECT_NEAR(s.tally.raw, e.raw, kTolerance) << e.profile.name;
    EXPECT_NEAR(s.normalized, e.normalized, kTolerance) << e.profile.name;

    const Tally c1 = c.ScoreAt(e.profile, 1, "c1");
    EXPECT_NEAR(c1.raw, e.c1_raw, kTolerance) << e.profile.name;
    EXPECT_EQ(c1.false_positive_rows, 5);
    const Tally c2 = c.ScoreAt(e.profile, 1, "c2");
    EXPECT_NEAR(c2.raw, -e.profile.a_fp, kTolerance) << e.profile.name;
    EXPECT_EQ(c2.windows, 0);
    EXPECT_TRUE(std::isnan(Normalize(e.profile, c2.raw, c2.windows)));
  }
  EXPECT_NEAR(Normalize(kStandard, c.ScoreAt(kStandard, 1, "c1").raw, 2), 34.606227, kTolerance);
}

// Graded scores in c1/a.csv; the sweep moves down through them (window 2
// stays missed, -A_FN):
//   theta 1.1  nothing detected                       -2 (standard)
//   theta 0.9  row 13, y = -2/5: 0.761594/0.986614 = 0.771927
//              -> 0.771927 - 1 = -0.228073
//   theta 0.7  row 8, FP before any window: -0.11     -> -0.338073
//   theta 0.6  row 11, earlier in window 1, y = -4/5: 0.964028/0.986614 = 0.977107
//              replaces row 13's value: 0.977107 - 1 - 0.11 = -0.132893, the best
//   theta 0    every other scorable row: 28 more FPs, far worse.
// With low FP (A_FP 0.22) the FP costs more than the earlier detection earns:
//   0.9 -> -0.228073, 0.6 -> 0.977107 - 1 - 0.22 = -0.242893, so 0.9 wins.
TEST(NabScorer, SweepCreditsTheEarliestDetectionOfAWindow) {
  std::vector<std::vector<double>> scores = Scores(SmallCorpus(), {});
  scores[0][13] = 0.9;
  scores[0][8] = 0.7;
  scores[0][11] = 0.6;
  const ScoredCorpus c = MustCreate(SmallCorpus(), scores);
  EXPECT_NEAR(c.ScoreAt(kStandard, 0.9).raw, -0.228073, kTolerance);
  EXPECT_NEAR(c.ScoreAt(kStandard, 0.7).raw, -0.338073, kTolerance);
  EXPECT_NEAR(c.ScoreAt(kStandard, 0.6).raw, -0.132893, kTolerance);
  EXPECT_EQ(c.BestThreshold(kStandard), 0.6);
  EXPECT_NEAR(c.ScoreAt(kLowFp, 0.6).raw, -0.242893, kTolerance);
  EXPECT_EQ(c.BestThreshold(kLowFp), 0.9);
  EXPECT_NEAR(c.Evaluate(kLowFp).tally.raw, -0.228073, kTolerance);
}

// Row 12 at 0.9 detects window 1; row 13 at 0.8 adds nothing, so thresholds
// 0.9 and 0.8 tie and the higher one wins. Rows in probation never count.
TEST(NabScorer, SweepTieKeepsTheHigherThreshold) {
  std::vector<std::vector<double>> scores = Scores(SmallCorpus(), {});
  scores[0][12] = 0.9;
  scores[0][13] = 0.8;
  scores[0][3] = 0.95;  // probation
  scores[1][0] = 0.99;  // probation
  const ScoredCorpus c = MustCreate(SmallCorpus(), scores);
  for (const Profile& p : kProfiles) EXPECT_EQ(c.BestThreshold(p), 0.9) << p.name;
  EXPECT_EQ(c.ScoreAt(kStandard, 0.8).raw, c.ScoreAt(kStandard, 0.9).raw);
  EXPECT_EQ(c.ScoreAt(kStandard, 0.8).false_positive_rows, 0);
}

TEST(NabScorer, RejectsScoresThatDoNotFitTheCorpus) {
  std::vector<std::vector<double>> scores = Scores(SmallCorpus(), {});
  scores[1][5] = 1.5;
  EXPECT_FALSE(ScoredCorpus::Create(SmallCorpus(), scores).ok());
  scores[1][5] = NAN;
  EXPECT_FALSE(ScoredCorpus::Create(SmallCorpus(), scores).ok());
  scores[1].pop_back();
  scores[1][5] = 0;
  EXPECT_FALSE(ScoredCorpus::Create(SmallCorpus(), scores).ok());
  std::vector<LabelledFile> overlapping = SmallCorpus();
  overlapping[0].windows = {{10, 20}, {20, 30}};
  EXPECT_FALSE(ScoredCorpus::Create(overlapping, Scores(overlapping, {})).ok());
}

TEST(NabCorpus, ParsesTimestampsAsUtc) {
  EXPECT_EQ(*ParseTimestampMs("1970-01-01 00:00:01"), 1000);
  EXPECT_EQ(*ParseTimestampMs("2014-07-01 00:30:00"), 1'404'174'600'000);
  EXPECT_EQ(*ParseTimestampMs("2014-07-01 00:30:00.000000"), 1'404'174'600'000);
  EXPECT_EQ(*ParseTimestampMs("2014-07-01 00:30:00.25"), 1'404'174'600'250);
  EXPECT_FALSE(ParseTimestampMs("2014-02-30 00:00:00").ok());
  EXPECT_FALSE(ParseTimestampMs("2014-07-01T00:30:00").ok());
  EXPECT_FALSE(ParseTimestampMs("2014-07-01 00:30").ok());
}

TEST(NabCorpus, MapsARepeatedTimestampToItsFirstRow) {
  const std::vector<int64_t> times = {
      *ParseTimestampMs("2014-03-09 02:55:00"), *ParseTimestampMs("2014-03-09 03:00:00"),
      *ParseTimestampMs("2014-03-09 03:00:00"), *ParseTimestampMs("2014-03-09 03:05:00"),
      *ParseTimestampMs("2014-03-09 03:00:00")};
  absl::StatusOr<std::vector<Window>> w =
      MapWindows(times, {{"2014-03-09 03:00:00.000000", "2014-03-09 03:05:00.000000"}});
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->size(), 1u);
  EXPECT_EQ((*w)[0].first, 1);
  EXPECT_EQ((*w)[0].last, 3);
  EXPECT_FALSE(
      MapWindows(times, {{"2014-03-09 03:01:00.000000", "2014-03-09 03:05:00.000000"}}).ok());
}

TEST(NabCorpus, ParsesTheWindowsJsonShape) {
  absl::StatusOr<std::map<std::string, std::vector<LabelWindow>>> labels = ParseWindowsJson(R"({
    "a/x.csv": [],
    "b/y.csv": [ ["2014-01-01 00:00:00.000000", "2014-01-01 01:00:00.000000"],
                 ["2014-01-02 00:00:00.000000", "2014-01-02 01:00:00.000000"] ]
  })");
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_TRUE(labels->at("a/x.csv").empty());
  ASSERT_EQ(labels->at("b/y.csv").size(), 2u);
  EXPECT_EQ(labels->at("b/y.csv")[1].second, "2014-01-02 01:00:00.000000");
  EXPECT_FALSE(ParseWindowsJson(R"({"a": [["x"]]})").ok());
  EXPECT_FALSE(ParseWindowsJson(R"({"a": []} trailing)").ok());
}

TEST(NabCorpus, ResultsRoundTripExactly) {
  const std::vector<LabelledFile> labels = SmallCorpus();
  CorpusFile file;
  file.labels = labels[1];
  file.name = "b";
  std::vector<double> scores;
  for (int64_t i = 0; i < file.labels.rows; ++i) {
    file.timestamps.push_back("2014-01-01 00:00:" + std::to_string(10 + i));
    file.value_texts.push_back(std::to_string(i * 7));
    scores.push_back(1.0 / 3 + static_cast<double>(i) * 1e-12);
  }
  const std::filesystem::path path = ResultPath(testing::TempDir(), "det", file);
  EXPECT_EQ(path, std::filesystem::path(testing::TempDir()) / "det" / "c2" / "det_b.csv");
  ASSERT_TRUE(WriteResults(path, file, scores).ok());
  absl::StatusOr<std::vector<double>> back = ReadResultScores(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, scores);
}

// The corpus in ../shared/nab: README.md's totals, and SCORING.md §8's null
// and perfect raw scores.
TEST(NabCorpus, RealCorpusMatchesItsReadme) {
  if (!std::filesystem::exists(KAD_NAB_DIR)) {
    GTEST_SKIP() << "no NAB corpus at " << KAD_NAB_DIR << " (set -DKAD_NAB_DIR=...)";
  }
  absl::StatusOr<std::vector<CorpusFile>> corpus = LoadCorpus(KAD_NAB_DIR);
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  ASSERT_EQ(corpus->size(), 58u);
  std::vector<LabelledFile> files;
  int64_t rows = 0, probation = 0, windows = 0, scored_in_windows = 0;
  for (const CorpusFile& f : *corpus) {
    files.push_back(f.labels);
    rows += f.labels.rows;
    const int64_t p = ProbationRows(f.labels.rows);
    probation += p;
    for (const Window& w : f.labels.windows) {
      ++windows;
      scored_in_windows += w.last - std::max(w.first, p) + 1;
    }
    for (size_t i = 1; i < f.t_ms.size(); ++i) ASSERT_GT(f.t_ms[i], f.t_ms[i - 1]) << f.labels.key;
  }
  EXPECT_EQ(rows, 365'558);
  EXPECT_EQ(probation, 32'716);
  EXPECT_EQ(windows, 116);
  EXPECT_EQ(scored_in_windows, 33'495);

  const ScoredCorpus null = MustCreate(files, NullDetector(files));
  EXPECT_DOUBLE_EQ(null.Evaluate(kStandard).tally.raw, -116);
  EXPECT_DOUBLE_EQ(null.Evaluate(kLowFp).tally.raw, -116);
  EXPECT_DOUBLE_EQ(null.Evaluate(kLowFn).tally.raw, -232);
  const ScoredCorpus perfect = MustCreate(files, PerfectDetector(files));
  for (const Profile& p : kProfiles) {
    EXPECT_DOUBLE_EQ(perfect.Evaluate(p).tally.raw, 116) << p.name;
    EXPECT_DOUBLE_EQ(perfect.Evaluate(p).normalized, 100) << p.name;
  }
}

}  // namespace
}  // namespace kad::nab
