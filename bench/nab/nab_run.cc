// nab_run: streams a NAB corpus through the model kinds the server runs and
// scores the results as NAB does (../shared/nab/SCORING.md).
//
//   nab_run --data ../shared/nab --out /tmp/nab-results [--kind holt_winters]
//   nab_run --data ../shared/nab --out /tmp/nab-results --kind numenta --score-only
//
// For each kind (every kind of kad::models::ModelKinds(), or the one named),
// every file of <data>/data gets a fresh model with default arguments, built
// by the same factory the server uses, which observes its rows in file order;
// the scores go to <out>/<kind>/<category>/<kind>_<name>.csv. The results are
// then read back and scored. --score-only skips the models and scores the
// results already under <out>/<kind>, whoever wrote them.
//
// Prints, per kind, the three profiles' normalised scores with their
// thresholds and counts, a per-category table for the standard profile, and
// the models' CPU time per sample, then a summary of every kind with the
// default kind marked. Exit status 1 when any kind failed.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/nab/nab_corpus.h"
#include "bench/nab/nab_score.h"
#include "bench/nab/nab_scorer.h"
#include "models/registry.h"

namespace kad::nab {
namespace {

struct Flags {
  std::filesystem::path data;
  std::filesystem::path out;
  // Empty: every model kind.
  std::string kind;
  bool score_only = false;
};

std::optional<Flags> ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--score-only") {
      flags.score_only = true;
    } else if (i + 1 < argc && arg == "--data") {
      flags.data = argv[++i];
    } else if (i + 1 < argc && arg == "--out") {
      flags.out = argv[++i];
    } else if (i + 1 < argc && arg == "--kind") {
      flags.kind = argv[++i];
    } else {
      return std::nullopt;
    }
  }
  if (flags.data.empty() || flags.out.empty()) return std::nullopt;
  return flags;
}

struct RunStats {
  int64_t samples = 0;
  // CPU time spent in the models alone (Observe and NabScore), not in file
  // I/O: on a shared machine, CPU time is what the models cost.
  double model_cpu_seconds = 0;
  // Wall time of the whole kind: models and writing the results.
  double wall_seconds = 0;

  double NsPerSample() const { return model_cpu_seconds * 1e9 / static_cast<double>(samples); }
};

double ThreadCpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

constexpr int64_t kRetrainIntervalMs = 480'000;

// Streams every file through a fresh model of `kind` and writes its results.
absl::StatusOr<RunStats> RunKind(std::string_view kind, const std::vector<CorpusFile>& corpus,
                                 const std::filesystem::path& out) {
  absl::StatusOr<models::ModelFactory> factory = models::MakeModelFactory(kind, {});
  if (!factory.ok()) return factory.status();
  RunStats stats;
  const auto start = std::chrono::steady_clock::now();
  for (const CorpusFile& file : corpus) {
    std::unique_ptr<models::Forecaster> model = factory->New();
    std::vector<double> scores(file.values.size());
    const double cpu_start = ThreadCpuSeconds();
    // The server retrains every retrain_scheduling_seconds (default 480 s)
    // of wall time; here data time stands in for it.
    int64_t next_retrain_ms = file.t_ms.empty() ? 0 : file.t_ms.front() + kRetrainIntervalMs;
    for (size_t i = 0; i < file.values.size(); ++i) {
      if (file.t_ms[i] >= next_retrain_ms) {
        model->Retrain();
        next_retrain_ms = file.t_ms[i] + kRetrainIntervalMs;
      }
      scores[i] = NabScore(model->Observe(file.t_ms[i], file.values[i]));
    }
    stats.model_cpu_seconds += ThreadCpuSeconds() - cpu_start;
    stats.samples += static_cast<int64_t>(scores.size());
    absl::Status written = WriteResults(ResultPath(out, kind, file), file, scores);
    if (!written.ok()) return written;
  }
  stats.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

// The results under <out>/<detector>, checked against the corpus.
absl::StatusOr<ScoredCorpus> ReadResults(std::string_view detector,
                                         const std::vector<CorpusFile>& corpus,
                                         const std::filesystem::path& out) {
  std::vector<LabelledFile> files;
  std::vector<std::vector<double>> scores;
  for (const CorpusFile& file : corpus) {
    absl::StatusOr<std::vector<double>> s = ReadResultScores(ResultPath(out, detector, file));
    if (!s.ok()) return s.status();
    files.push_back(file.labels);
    scores.push_back(*std::move(s));
  }
  return ScoredCorpus::Create(std::move(files), std::move(scores));
}

// "-" for a category without windows, which has no normalised score.
std::string Percent(double normalized) {
  if (std::isnan(normalized)) return "-";
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f", normalized);
  return text;
}

std::string ThresholdText(double threshold) {
  if (threshold == kNoDetectionThreshold) return "none";
  char text[32];
  std::snprintf(text, sizeof(text), "%.9g", threshold);
  return text;
}

// Prints one kind's tables; returns its three normalised scores.
std::vector<double> PrintReport(std::string_view detector, const ScoredCorpus& scored,
                                const std::optional<RunStats>& stats) {
  int64_t rows = 0;
  std::vector<std::string> categories;
  for (const LabelledFile& file : scored.files()) {
    rows += file.rows;
    if (categories.empty() || categories.back() != file.category) {
      categories.push_back(file.category);
    }
  }
  std::printf("\n%.*s: %zu files, %lld rows", static_cast<int>(detector.size()), detector.data(),
              scored.files().size(), static_cast<long long>(rows));
  if (stats.has_value()) {
    std::printf("; models %.3f s CPU = %.1f ns/sample; %.3f s wall with writing",
                stats->model_cpu_seconds, stats->NsPerSample(), stats->wall_seconds);
  }
  std::printf("\n  %-20s %7s %13s %9s %9s %7s %8s\n", "profile", "score", "threshold", "raw",
              "detected", "missed", "FP rows");
  std::vector<double> normalized;
  double standard_threshold = kNoDetectionThreshold;
  for (const Profile& profile : kProfiles) {
    const ProfileScore s = scored.Evaluate(profile);
    if (profile.name == kProfiles[0].name) standard_threshold = s.threshold;
    normalized.push_back(s.normalized);
    std::printf("  %-20.*s %7s %13s %9.3f %9lld %7lld %8lld\n",
                static_cast<int>(profile.name.size()), profile.name.data(),
                Percent(s.normalized).c_str(), ThresholdText(s.threshold).c_str(), s.tally.raw,
                static_cast<long long>(s.tally.detected_windows),
                static_cast<long long>(s.tally.missed_windows),
                static_cast<long long>(s.tally.false_positive_rows));
  }
  std::printf("  %-22s %7s %7s %9s %9s %7s %8s\n", "category (standard)", "windows", "score", "raw",
              "detected", "missed", "FP rows");
  for (const std::string& category : categories) {
    const Tally t = scored.ScoreAt(kProfiles[0], standard_threshold, category);
    std::printf("  %-22s %7lld %7s %9.3f %9lld %7lld %8lld\n", category.c_str(),
                static_cast<long long>(t.windows),
                Percent(Normalize(kProfiles[0], t.raw, t.windows)).c_str(), t.raw,
                static_cast<long long>(t.detected_windows),
                static_cast<long long>(t.missed_windows),
                static_cast<long long>(t.false_positive_rows));
  }
  return normalized;
}

int Main(int argc, char** argv) {
  const std::optional<Flags> flags = ParseFlags(argc, argv);
  if (!flags.has_value()) {
    std::fprintf(stderr, "usage: %s --data DIR --out DIR [--kind KIND] [--score-only]\n", argv[0]);
    return 2;
  }
  const absl::StatusOr<std::vector<CorpusFile>> corpus = LoadCorpus(flags->data);
  if (!corpus.ok()) {
    std::fprintf(stderr, "%s\n", std::string(corpus.status().message()).c_str());
    return 1;
  }
  std::vector<std::string> kinds;
  if (!flags->kind.empty()) {
    kinds.push_back(flags->kind);
  } else {
    for (std::string_view kind : models::ModelKinds()) kinds.emplace_back(kind);
  }

  struct Summary {
    std::string kind;
    std::vector<double> normalized;
    std::optional<RunStats> stats;
  };
  std::vector<Summary> summaries;
  int status = 0;
  for (const std::string& kind : kinds) {
    std::optional<RunStats> stats;
    if (!flags->score_only) {
      absl::StatusOr<RunStats> run = RunKind(kind, *corpus, flags->out);
      if (!run.ok()) {
        std::fprintf(stderr, "%s: %s\n", kind.c_str(), std::string(run.status().message()).c_str());
        status = 1;
        continue;
      }
      stats = *run;
    }
    absl::StatusOr<ScoredCorpus> scored = ReadResults(kind, *corpus, flags->out);
    if (!scored.ok()) {
      std::fprintf(stderr, "%s: %s\n", kind.c_str(),
                   std::string(scored.status().message()).c_str());
      status = 1;
      continue;
    }
    summaries.push_back({kind, PrintReport(kind, *scored, stats), stats});
  }

  if (summaries.empty()) return status;
  const std::string default_kind(models::DefaultModelKind());
  std::printf("\ndefault kind (a config entry without models:): %s\n", default_kind.c_str());
  std::printf("%-20s %9s %9s %9s %10s\n", "kind", "standard", "low_FP", "low_FN", "ns/sample");
  for (const Summary& s : summaries) {
    std::string ns = "-";
    if (s.stats.has_value()) {
      char text[32];
      std::snprintf(text, sizeof(text), "%.1f", s.stats->NsPerSample());
      ns = text;
    }
    const std::string name = s.kind == default_kind ? s.kind + " (default)" : s.kind;
    std::printf("%-20s %9s %9s %9s %10s\n", name.c_str(), Percent(s.normalized[0]).c_str(),
                Percent(s.normalized[1]).c_str(), Percent(s.normalized[2]).c_str(), ns.c_str());
  }
  return status;
}

}  // namespace
}  // namespace kad::nab

int main(int argc, char** argv) { return kad::nab::Main(argc, argv); }
