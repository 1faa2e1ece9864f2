// Restart tests of the real adapter binary (path in $KAD_BINARY) over real
// RocksDB folders: kill -9 mid-stream and start again; acknowledged samples
// are not lost, and the forecasts after the restart are bit-for-bit those of
// an uninterrupted run fed the same samples.
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"
#include "tests/support/remote_client.h"

namespace kad::testing {
namespace {

constexpr int64_t kT0 = 1767225600000;  // 2026-01-01T00:00:00Z
constexpr int64_t kStep = 15'000;
constexpr int64_t kHour = 3'600'000;
constexpr int kSeries = 20;
constexpr int kSteps = 800;
constexpr int kBatchEntries = 500;  // Prometheus' max_samples_per_send
constexpr int64_t kLastT = kT0 + (kSteps - 1) * kStep;
constexpr char kForecast[] = "restart_load_forecast_holt_winters";

constexpr char kConfig[] = R"(version: "v1alpha"
prometheus_metric_list:
  - metric_query: "restart_load{job='node'}"
    predicted_metric_name: restart_load_forecast
    models:
      - kind: holt_winters
    forecast_horizon: 1h
)";

std::string Instance(int series) { return absl::StrFormat("node-%02d", series); }

// Per series: a daily sine with its own level and phase, Gaussian noise from
// a fixed seed, and one spike in series 3.
std::vector<std::vector<double>> MakeValues() {
  std::mt19937_64 rng(20260101);
  std::normal_distribution<double> noise(0, 0.2);
  std::vector<std::vector<double>> values(kSeries, std::vector<double>(kSteps));
  for (int s = 0; s < kSeries; ++s) {
    for (int i = 0; i < kSteps; ++i) {
      const double day_phase = 2 * M_PI * (i * kStep) / (24.0 * kHour);
      values[s][i] = 5 + s + 3 * std::sin(day_phase + s * 0.3) + noise(rng);
    }
  }
  values[3][600] += 40;
  return values;
}

// One remote-write request and the (series, step) of each entry.
struct Batch {
  prometheus::WriteRequest request;
  std::vector<std::pair<int, int>> entries;
};

// The samples of `series` at steps [from, to), time step by time step, cut
// every 500 entries, as one Prometheus shard owning those series would send
// them.
std::vector<Batch> MakeBatches(const std::vector<std::vector<double>>& values,
                               const std::vector<int>& series, int from = 0, int to = kSteps) {
  std::vector<Batch> batches;
  WriteRequestBuilder builder;
  std::vector<std::pair<int, int>> entries;
  for (int i = from; i < to; ++i) {
    for (int s : series) {
      builder.Add({{"__name__", "restart_load"}, {"instance", Instance(s)}, {"job", "node"}},
                  kT0 + i * kStep, values[s][i]);
      entries.emplace_back(s, i);
      if (builder.size() == kBatchEntries) {
        batches.push_back({builder.request(), std::move(entries)});
        builder = WriteRequestBuilder();
        entries.clear();
      }
    }
  }
  if (builder.size() > 0) batches.push_back({builder.request(), entries});
  return batches;
}

std::vector<int> AllSeries() {
  std::vector<int> all;
  for (int s = 0; s < kSeries; ++s) all.push_back(s);
  return all;
}

// Every forecast series: stored points up to the last sample, and the same
// plus the future points of the next hour.
struct Forecasts {
  std::vector<SeriesData> history;
  std::vector<SeriesData> with_future;
};

absl::StatusOr<std::vector<SeriesData>> ReadAll(uint16_t port, int64_t end) {
  absl::StatusOr<prometheus::ReadResponse> r = ReadSamples(
      port, MakeQuery(kT0, end, {Matcher(prometheus::LabelMatcher::EQ, "__name__", kForecast)}));
  if (!r.ok()) return r.status();
  return SeriesOf(r->results(0));
}

absl::StatusOr<Forecasts> ReadForecasts(uint16_t port) {
  Forecasts f;
  absl::StatusOr<std::vector<SeriesData>> history = ReadAll(port, kLastT);
  if (!history.ok()) return history.status();
  f.history = *std::move(history);
  absl::StatusOr<std::vector<SeriesData>> future = ReadAll(port, kLastT + kHour);
  if (!future.ok()) return future.status();
  f.with_future = *std::move(future);
  return f;
}

absl::Status Send(uint16_t port, const Batch& batch) {
  absl::StatusOr<HttpResult> r = RemoteWrite(port, batch.request);
  if (!r.ok()) return r.status();
  if (r->status != 204) {
    return absl::InternalError(absl::StrCat("remote write answered ", r->status, ": ", r->body));
  }
  return absl::OkStatus();
}

class RestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* binary = getenv("KAD_BINARY");
    ASSERT_NE(binary, nullptr) << "set KAD_BINARY to the k8s-anomaly-detector binary (ctest does)";
    binary_ = binary;
    char dir_template[] = "/tmp/kad_restart_test_XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    root_ = dir_template;
    std::ofstream(root_ + "/environment.yaml") << kConfig;
    absl::StatusOr<uint16_t> port = PickFreePort();
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
    values_ = MakeValues();
  }

  void TearDown() override {
    processes_.clear();  // SIGKILLs any adapter still running
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }

  // Starts the adapter on `storage` (a folder under the test's root) and
  // waits until it is ready.
  AdapterProcess* Start(const std::string& storage, const char* checkpoint_interval = "1s") {
    auto p = std::make_unique<AdapterProcess>(
        binary_,
        std::vector<std::string>{
            absl::StrCat("--config.file=", root_, "/environment.yaml"),
            absl::StrCat("--web.listen-address=127.0.0.1:", port_),
            absl::StrCat("--storage.path=", root_, "/", storage),
            // The samples are from 2026-01-01, whatever today is.
            "--storage.retention=10y",
            absl::StrCat("--storage.checkpoint-interval=", checkpoint_interval)},
        absl::StrCat(root_, "/", storage, ".log"));
    const absl::Status started = p->Start();
    EXPECT_TRUE(started.ok()) << started;
    const absl::Status ready = p->WaitReady(port_);
    EXPECT_TRUE(ready.ok()) << ready;
    if (!started.ok() || !ready.ok()) return nullptr;
    processes_.push_back(std::move(p));
    return processes_.back().get();
  }

  // Run A: every batch in order, no interruption.
  Forecasts Uninterrupted() {
    AdapterProcess* a = Start("uninterrupted");
    if (a == nullptr) return {};
    for (const Batch& batch : MakeBatches(values_, AllSeries())) {
      const absl::Status s = Send(port_, batch);
      EXPECT_TRUE(s.ok()) << s;
      if (!s.ok()) return {};
    }
    absl::StatusOr<Forecasts> f = ReadForecasts(port_);
    EXPECT_TRUE(f.ok()) << f.status();
    const absl::Status stopped = a->Terminate();
    EXPECT_TRUE(stopped.ok()) << stopped;
    if (!f.ok()) return {};
    // 20 series x 5 value types; the band reaches an hour past the end.
    EXPECT_EQ(f->history.size(), 5u * kSeries);
    EXPECT_EQ(f->with_future.size(), 5u * kSeries);
    return *std::move(f);
  }

  void ExpectSameForecasts(const Forecasts& got, const Forecasts& want) {
    ASSERT_FALSE(want.history.empty());
    EXPECT_EQ(DiffSeries(got.history, want.history), "");
    EXPECT_EQ(DiffSeries(got.with_future, want.with_future), "");
    // The streamed encoding carries the same forecasts.
    absl::StatusOr<std::vector<SeriesData>> streamed = ReadChunked(
        port_, MakeQuery(kT0, kLastT + kHour,
                         {Matcher(prometheus::LabelMatcher::EQ, "__name__", kForecast)}));
    ASSERT_TRUE(streamed.ok()) << streamed.status();
    EXPECT_EQ(DiffSeries(*streamed, want.with_future), "");
  }

  double Scrape(std::string_view series) {
    absl::StatusOr<double> v = ScrapeMetric(port_, series);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.value_or(-1);
  }

  std::string binary_;
  std::string root_;
  uint16_t port_ = 0;
  std::vector<std::vector<double>> values_;
  std::vector<std::unique_ptr<AdapterProcess>> processes_;
};

TEST_F(RestartTest, KillAfterAcknowledgedBatchLosesNothingAndForecastsMatch) {
  const Forecasts want = Uninterrupted();
  ASSERT_FALSE(want.history.empty());
  const std::vector<Batch> batches = MakeBatches(values_, AllSeries());
  ASSERT_EQ(batches.size(), 32u);

  AdapterProcess* b = Start("interrupted");
  ASSERT_NE(b, nullptr);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Send(port_, batches[i]).ok()) << i;
  // A clean shutdown checkpoints every model.
  ASSERT_TRUE(b->Terminate().ok()) << b->LogTail();

  b = Start("interrupted");
  ASSERT_NE(b, nullptr);
  for (int i = 10; i < 20; ++i) ASSERT_TRUE(Send(port_, batches[i]).ok()) << i;
  // Right after the acknowledgement: the checkpoint may not have run.
  ASSERT_TRUE(b->Kill().ok());

  b = Start("interrupted");
  ASSERT_NE(b, nullptr);
  // Prometheus re-sends a batch whose answer it did not see: acknowledged
  // again, modelling nothing twice. Its newest sample per series equals the
  // series' last timestamp (duplicate); the older ones are behind it.
  ASSERT_TRUE(Send(port_, batches[19]).ok());
  EXPECT_EQ(Scrape("kad_samples_rejected_total{reason=\"duplicate\"}"), kSeries);
  EXPECT_EQ(Scrape("kad_samples_rejected_total{reason=\"out_of_order\"}"), kBatchEntries - kSeries);
  EXPECT_EQ(Scrape("kad_samples_modelled_total"), 0);

  for (int i = 20; i < 32; ++i) ASSERT_TRUE(Send(port_, batches[i]).ok()) << i;
  EXPECT_EQ(Scrape("kad_samples_modelled_total"), 12 * kBatchEntries);
  absl::StatusOr<Forecasts> got = ReadForecasts(port_);
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameForecasts(*got, want);
}

// The checkpoint of a clean stop lies in the open blocks, which the stop
// leaves in the log: after a kill, the points since are replayed from there.
TEST_F(RestartTest, KillSoonAfterACleanRestartReplaysThePointsSinceTheCheckpoint) {
  const Forecasts want = Uninterrupted();
  ASSERT_FALSE(want.history.empty());
  const std::vector<Batch> batches = MakeBatches(values_, AllSeries());
  ASSERT_EQ(batches.size(), 32u);
  auto two_steps = [&](int from) {
    std::vector<Batch> one = MakeBatches(values_, AllSeries(), from, from + 2);
    EXPECT_EQ(one.size(), 1u);
    return one.front();
  };

  AdapterProcess* b = Start("soon");
  ASSERT_NE(b, nullptr);
  // A write of 25 steps fills a block, which is sealed at its end; two
  // steps more stay open, and the stop checkpoints at step 251.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Send(port_, batches[i]).ok()) << i;
  ASSERT_TRUE(Send(port_, two_steps(250)).ok());
  ASSERT_TRUE(b->Terminate().ok()) << b->LogTail();

  // No checkpoint until the kill: steps 252 and 253 are only in storage.
  b = Start("soon", "1h");
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(Send(port_, two_steps(252)).ok());
  ASSERT_TRUE(b->Kill().ok());

  b = Start("soon");
  ASSERT_NE(b, nullptr);
  // Batch 10 holds steps 250 to 274: the models have the first four.
  for (int i = 10; i < 32; ++i) ASSERT_TRUE(Send(port_, batches[i]).ok()) << i;
  EXPECT_EQ(Scrape("kad_samples_modelled_total"), (kSteps - 254) * kSeries);
  EXPECT_EQ(Scrape("kad_samples_rejected_total{reason=\"duplicate\"}"), kSeries);
  EXPECT_EQ(Scrape("kad_samples_rejected_total{reason=\"out_of_order\"}"), 3 * kSeries);
  absl::StatusOr<Forecasts> got = ReadForecasts(port_);
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameForecasts(*got, want);
}

TEST_F(RestartTest, KillWithRequestsInFlightKeepsEveryAcknowledgedBatch) {
  const Forecasts want = Uninterrupted();
  ASSERT_FALSE(want.history.empty());

  // Four senders, each owning a quarter of the series (as Prometheus' shards
  // do), so each series still arrives in time order.
  constexpr int kSenders = 4;
  std::vector<std::vector<Batch>> batches(kSenders);
  for (int k = 0; k < kSenders; ++k) {
    std::vector<int> mine;
    for (int s = k; s < kSeries; s += kSenders) mine.push_back(s);
    batches[k] = MakeBatches(values_, mine);
  }

  AdapterProcess* c = Start("in_flight");
  ASSERT_NE(c, nullptr);
  std::mutex mu;
  std::condition_variable acked_cv;
  int total_acked = 0;
  std::vector<int> acked(kSenders, 0);  // a prefix of each sender's batches
  std::vector<bool> cut_off(kSenders, false);
  std::vector<std::thread> senders;
  for (int k = 0; k < kSenders; ++k) {
    senders.emplace_back([&, k] {
      for (const Batch& batch : batches[k]) {
        if (!Send(port_, batch).ok()) {
          std::lock_guard<std::mutex> lock(mu);
          cut_off[k] = true;
          return;
        }
        std::lock_guard<std::mutex> lock(mu);
        ++acked[k];
        ++total_acked;
        acked_cv.notify_all();
      }
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    // A quarter of the way through, every sender is mid-stream.
    const bool reached =
        acked_cv.wait_for(lock, std::chrono::seconds(60), [&] { return total_acked >= 8; });
    EXPECT_TRUE(reached) << "only " << total_acked << " batches acknowledged";
  }
  ASSERT_TRUE(c->Kill().ok());
  for (std::thread& t : senders) t.join();
  int interrupted = 0;
  for (int k = 0; k < kSenders; ++k) interrupted += cut_off[k] ? 1 : 0;
  EXPECT_GT(interrupted, 0) << "the kill came after every batch was sent";

  c = Start("in_flight");
  ASSERT_NE(c, nullptr);
  // Every acknowledged sample has its forecast point.
  absl::StatusOr<prometheus::ReadResponse> stored = ReadSamples(
      port_, MakeQuery(kT0, kLastT,
                       {Matcher(prometheus::LabelMatcher::EQ, "__name__", kForecast),
                        Matcher(prometheus::LabelMatcher::EQ, "value_type", "anomaly")}));
  ASSERT_TRUE(stored.ok()) << stored.status();
  std::map<std::string, std::set<int64_t>> times;  // by instance
  for (const SeriesData& s : SeriesOf(stored->results(0))) {
    std::string instance;
    for (const auto& [name, value] : s.labels) {
      if (name == "instance") instance = value;
    }
    for (const auto& [t, v] : s.samples) times[instance].insert(t);
  }
  int checked = 0;
  for (int k = 0; k < kSenders; ++k) {
    for (int b = 0; b < acked[k]; ++b) {
      for (const auto& [series, step] : batches[k][b].entries) {
        ASSERT_TRUE(times[Instance(series)].count(kT0 + step * kStep))
            << Instance(series) << " step " << step << " of acknowledged batch " << b
            << " of sender " << k << " is missing";
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 8 * kBatchEntries);
  std::printf("kill -9 with %d senders mid-stream: %d acknowledged samples checked, 0 lost\n",
              kSenders, checked);

  // Prometheus re-sends everything not acknowledged, then carries on.
  for (int k = 0; k < kSenders; ++k) {
    for (size_t b = acked[k]; b < batches[k].size(); ++b) {
      ASSERT_TRUE(Send(port_, batches[k][b]).ok()) << k << "/" << b;
    }
  }
  absl::StatusOr<Forecasts> got = ReadForecasts(port_);
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameForecasts(*got, want);
}

}  // namespace
}  // namespace kad::testing
