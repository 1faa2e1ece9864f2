// Storage cost per forecast point, written the way the adapter writes them:
// batches of 500 points, each point of another series, over 10,000 series
// whose timestamps advance by a 15 s scrape interval; and ScanPoints over an
// hour of one series and of 1,000 series (what a restart's replay does), and
// ScanChunks of one value type over the 1,000 (what a remote read does).
//
//   build/bench/storage_bench --benchmark_counters_tabular=true
//
// ns_per_point is CPU time per point of the benchmark thread; RocksDB's own
// flushes and compactions run on background threads, so
// process_cpu_ns_per_point adds every thread of the process (getrusage),
// including a final Flush. disk_bytes_per_point is Store::SizeBytes after
// that Flush divided by the points written.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "storage/store.h"
#include "storage/xor_chunk.h"

namespace kad::storage {
namespace {

constexpr int64_t kScrapeMs = 15000;
constexpr int kBatch = 500;

class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/kad_storage_bench_XXXXXX";
    path_ = mkdtemp(name);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Forecast-like points: a noisy random walk as the value, an exponentially
// smoothed forecast with a 3-sigma band, the score and its verdict. Series
// read consecutive entries of a shared table from their own offset, so
// successive points of one series look like one real series.
class Points {
 public:
  static constexpr size_t kTable = 1 << 14;

  Points() {
    std::mt19937_64 rng(1);
    std::normal_distribution<double> noise(0, 1);
    double level = 50, yhat = 50, var = 1;
    for (size_t i = 0; i < kTable; ++i) {
      level += noise(rng) * 0.3;
      const double value = level + noise(rng);
      const double err = value - yhat;
      ForecastPoint p;
      p.value = std::round(value * 1000) / 1000;  // exporters print few digits
      p.yhat = yhat;
      p.yhat_lower = yhat - 3 * std::sqrt(var);
      p.yhat_upper = yhat + 3 * std::sqrt(var);
      p.anomaly_score = std::abs(err) / (3 * std::sqrt(var));
      p.anomaly = p.anomaly_score > 1;
      table_.push_back(p);
      yhat += 0.1 * err;
      var = 0.9 * var + 0.1 * err * err;
    }
  }

  ForecastPoint At(uint64_t series, int64_t step) const {
    ForecastPoint p = table_[(series * 7919 + static_cast<uint64_t>(step)) % kTable];
    p.timestamp_ms = 1700000000000 + step * kScrapeMs + static_cast<int64_t>(series % 1000);
    return p;
  }

 private:
  std::vector<ForecastPoint> table_;
};

const Points& SharedPoints() {
  static const Points* points = new Points();
  return *points;
}

std::unique_ptr<Store> OpenStore(const std::string& path) {
  StoreOptions options;
  options.path = path;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  if (!store.ok()) {
    fprintf(stderr, "%s\n", store.status().ToString().c_str());
    std::abort();
  }
  return std::move(*store);
}

// Writes `steps` scrapes of `series` series in batches of kBatch points;
// `step` continues across calls.
int64_t WriteScrapes(Store& store, uint64_t series, int64_t steps, int64_t* step,
                     WriteBatch& batch) {
  const Points& points = SharedPoints();
  int64_t written = 0;
  for (int64_t s = 0; s < steps; ++s, ++*step) {
    for (uint64_t id = 0; id < series; ++id) {
      batch.PutPoint(id, points.At(id, *step));
      if (batch.count() == kBatch) {
        if (!store.Write(&batch).ok()) std::abort();
        written += kBatch;
      }
    }
  }
  written += static_cast<int64_t>(batch.count());
  if (!store.Write(&batch).ok()) std::abort();
  return written;
}

double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

// Points per second as items, and its inverse as ns_per_point.
void ReportPoints(benchmark::State& state, int64_t points) {
  state.SetItemsProcessed(points);
  state.counters["ns_per_point"] =
      benchmark::Counter(static_cast<double>(points) * 1e-9,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_WritePoints(benchmark::State& state) {
  const auto series = static_cast<uint64_t>(state.range(0));
  TempDir dir;
  std::unique_ptr<Store> store = OpenStore(dir.path());
  WriteBatch batch;
  int64_t step = 0;
  int64_t points = 0;
  const double cpu_before = ProcessCpuSeconds();
  // One iteration is one scrape of every series.
  for (auto _ : state) points += WriteScrapes(*store, series, 1, &step, batch);
  ReportPoints(state, points);
  if (!store->Flush().ok()) std::abort();
  state.counters["process_cpu_ns_per_point"] =
      (ProcessCpuSeconds() - cpu_before) * 1e9 / static_cast<double>(points);
  state.counters["disk_bytes_per_point"] =
      static_cast<double>(store->SizeBytes()) / static_cast<double>(points);
}
BENCHMARK(BM_WritePoints)->Arg(10000)->Unit(benchmark::kMillisecond);

// A store holding an hour (240 scrapes) of `series` series; the last
// scrapes are still in open blocks, as in a running adapter.
struct Filled {
  TempDir dir;
  std::unique_ptr<Store> store;
};

Filled& FilledStore() {
  static Filled* filled = [] {
    auto* f = new Filled();
    f->store = OpenStore(f->dir.path());
    WriteBatch batch;
    int64_t step = 0;
    WriteScrapes(*f->store, 1000, 240, &step, batch);
    return f;
  }();
  return *filled;
}

// Scans every point of series `id`, adding to *points and *sum.
void ScanSeries(const Store& store, uint64_t id, int64_t* points, double* sum) {
  absl::Status s = store.ScanPoints(id, 0, INT64_MAX, [&](const ForecastPoint& p) {
    *sum += p.yhat;
    ++*points;
    return true;
  });
  if (!s.ok()) std::abort();
}

void BM_ScanOneSeriesHour(benchmark::State& state) {
  Store& store = *FilledStore().store;
  uint64_t id = 0;
  int64_t points = 0;
  double sum = 0;
  for (auto _ : state) {
    id = (id + 37) % 1000;
    ScanSeries(store, id, &points, &sum);
  }
  benchmark::DoNotOptimize(sum);
  ReportPoints(state, points);
}
BENCHMARK(BM_ScanOneSeriesHour)->Unit(benchmark::kMicrosecond);

void BM_Scan1000SeriesHour(benchmark::State& state) {
  Store& store = *FilledStore().store;
  int64_t points = 0;
  double sum = 0;
  for (auto _ : state) {
    for (uint64_t id = 0; id < 1000; ++id) ScanSeries(store, id, &points, &sum);
  }
  benchmark::DoNotOptimize(sum);
  ReportPoints(state, points);
}
BENCHMARK(BM_Scan1000SeriesHour)->Unit(benchmark::kMillisecond);

// What a remote read of one value type asks of the store: the 1,000
// series in one ScanChunks, their yhat chunks decoded.
void BM_ScanChunks1000SeriesHour(benchmark::State& state) {
  Store& store = *FilledStore().store;
  std::vector<ChunkScan> scans;
  for (uint64_t id = 0; id < 1000; ++id)
    scans.push_back({.id = id, .start_ms = 0, .end_ms = INT64_MAX});
  int64_t points = 0;
  double sum = 0;
  for (auto _ : state) {
    absl::Status s =
        store.ScanChunks(scans, ColumnBit(Column::kYhat), [&](size_t, const ChunkSet& set) {
          for (XorChunkDecoder in(set.chunks[static_cast<int>(Column::kYhat)]); in.Next();
               ++points) {
            sum += in.v();
          }
          return true;
        });
    if (!s.ok()) std::abort();
  }
  benchmark::DoNotOptimize(sum);
  ReportPoints(state, points);
}
BENCHMARK(BM_ScanChunks1000SeriesHour)->Unit(benchmark::kMillisecond);

long ResidentBytes() {
  long pages = 0, resident = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  fclose(f);
  return resident * sysconf(_SC_PAGESIZE);
}

// Growth of resident memory per series while 8 scrapes of each go in (open
// blocks of 8 points, about half of what they hold when sealed). It includes
// the RocksDB memtables those points went through (the log records, about
// 45 bytes per point), which are bounded by write_buffer_size rather than
// by the number of series.
void BM_MemoryPerSeries(benchmark::State& state) {
  const auto series = static_cast<uint64_t>(state.range(0));
  for (auto _ : state) {
    TempDir dir;
    std::unique_ptr<Store> store = OpenStore(dir.path());
    WriteBatch batch;
    int64_t step = 0;
    const long before = ResidentBytes();
    WriteScrapes(*store, series, 8, &step, batch);
    const long after = ResidentBytes();
    state.counters["rss_bytes_per_series"] =
        static_cast<double>(after - before) / static_cast<double>(series);
  }
}
BENCHMARK(BM_MemoryPerSeries)->Arg(100000)->Iterations(1)->Unit(benchmark::kMillisecond);

// Open after a kill -9: a child writes `series` series x 10 scrapes (none
// sealed, all in the log) and exits without closing; the time is Open's
// replay of that log into the open blocks.
void BM_OpenAfterKill(benchmark::State& state) {
  const auto series = static_cast<uint64_t>(state.range(0));
  constexpr int64_t kSteps = 10;
  for (auto _ : state) {
    state.PauseTiming();
    TempDir dir;
    const pid_t child = fork();
    if (child == 0) {
      std::unique_ptr<Store> store = OpenStore(dir.path());
      WriteBatch batch;
      int64_t step = 0;
      WriteScrapes(*store, series, kSteps, &step, batch);
      _exit(0);  // no destructor: nothing sealed, nothing flushed
    }
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child || status != 0) std::abort();
    state.ResumeTiming();
    std::unique_ptr<Store> store = OpenStore(dir.path());
    state.PauseTiming();
    store.reset();
    state.ResumeTiming();
  }
  state.counters["replayed_points"] = static_cast<double>(series * kSteps);
  state.counters["ns_per_replayed_point"] = benchmark::Counter(
      static_cast<double>(series * kSteps) * static_cast<double>(state.iterations()) * 1e-9,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_OpenAfterKill)->Arg(100000)->Iterations(2)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kad::storage
