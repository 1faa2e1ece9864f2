// Overload and churn through the adapter as main() wires it: a full write
// queue answers 503 at once and models nothing; --storage.max-series caps
// the series held (new ones counted and dropped, old ones kept); series
// unseen for series_ttl leave memory and storage, making room again; the
// checkpoint timer saves every changed series of a shard that holds more
// than one store write of them.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/adapter/in_process_adapter.h"
#include "tests/support/http_client.h"
#include "tests/support/remote_client.h"

namespace kad::adapter {
namespace {

using ::kad::testing::HttpResult;
using ::kad::testing::MakeQuery;
using ::kad::testing::Matcher;
using ::kad::testing::ReadSamples;
using ::kad::testing::RemoteWrite;
using ::kad::testing::SeriesData;
using ::kad::testing::SeriesOf;
using ::kad::testing::WriteRequestBuilder;
using ::testing::HasSubstr;
using testing::InProcessAdapter;
using testing::kHour;
using testing::kStep;
using testing::kT0;
using testing::Metric;
using testing::TestOptions;

constexpr char kForecast[] = "predicted_node_load_holt_winters";

// Samples steps [first, first+steps) of instances [from, to) of node_load1.
prometheus::WriteRequest Load(int from, int to, int first, int steps = 1) {
  WriteRequestBuilder b;
  for (int i = first; i < first + steps; ++i) {
    for (int k = from; k < to; ++k) {
      b.Add({{"__name__", "node_load1"}, {"instance", absl::StrCat("n", k)}, {"job", "node"}},
            kT0 + i * kStep, 1 + k % 5 + 0.1 * (i % 3));
    }
  }
  return b.request();
}

int Send(uint16_t port, const prometheus::WriteRequest& request) {
  absl::StatusOr<HttpResult> r = RemoteWrite(port, request);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->status : 0;
}

// The instances with a stored forecast.
std::set<std::string> Instances(uint16_t port) {
  absl::StatusOr<prometheus::ReadResponse> r =
      ReadSamples(port, MakeQuery(kT0, kT0 + 48 * kHour,
                                  {Matcher(prometheus::LabelMatcher::EQ, "__name__", kForecast),
                                   Matcher(prometheus::LabelMatcher::EQ, "value_type", "yhat")}));
  EXPECT_TRUE(r.ok()) << r.status();
  std::set<std::string> out;
  if (!r.ok()) return out;
  for (const SeriesData& s : SeriesOf(r->results(0))) {
    for (const auto& [name, value] : s.labels) {
      if (name == "instance") out.insert(value);
    }
  }
  return out;
}

// Polls `metric` until it reaches `want` (the expiry runs on the shards'
// checkpoint timer, every second here); false after 20 s.
bool WaitForMetric(uint16_t port, std::string_view metric, double want) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (Metric(port, metric) < want) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

TEST(WriteQueue, FullQueueAnswers503AtOnceAndModelsNothingOfThatRequest) {
  // Any request waiting fills the queue; one into an empty queue is taken.
  InProcessAdapter adapter(TestOptions{.max_queued_bytes = 1});
  const uint16_t port = adapter.port();
  constexpr int kBig = 20'000;  // new series: a long wait for the shards
  std::atomic<int> big_status{0};
  std::string big_body;
  std::thread big([&] {
    absl::StatusOr<HttpResult> r = RemoteWrite(port, Load(0, kBig, 0));
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) big_body = r->body;
    big_status = r.ok() ? r->status : -1;
  });

  int accepted = 0;
  int refused = 0;
  std::string reason;
  // Small requests of new series meanwhile, until the big one is answered.
  for (int i = 0; i < 5'000 && big_status.load() == 0; ++i) {
    absl::StatusOr<HttpResult> r = RemoteWrite(port, Load(kBig + i, kBig + i + 1, 0));
    ASSERT_TRUE(r.ok()) << r.status();
    if (r->status == 204) {
      ++accepted;
      continue;
    }
    ASSERT_EQ(r->status, 503) << r->body;
    reason = r->body;
    ++refused;
  }
  big.join();
  // Small requests are refused while the big one is modelled; when a small
  // one gets in first (the big body takes a while to build), the big one is.
  const bool big_taken = big_status.load() == 204;
  if (!big_taken) {
    ASSERT_EQ(big_status.load(), 503) << big_body;
    reason = big_body;
    ++refused;
  }
  EXPECT_GT(refused, 0) << "no request found the queue full";
  EXPECT_THAT(reason, HasSubstr("write queue full"));
  EXPECT_THAT(reason, HasSubstr("--storage.write-queue-bytes"));
  // The refused requests modelled nothing; the queue is empty again.
  const int taken = (big_taken ? kBig : 0) + accepted;
  EXPECT_EQ(Metric(port, "kad_samples_modelled_total"), taken);
  EXPECT_EQ(Metric(port, "kad_active_series"), taken);
  EXPECT_EQ(Metric(port, "kad_write_queue_bytes"), 0);
  EXPECT_EQ(Send(port, Load(0, 1, 1)), 204);
}

TEST(SeriesLimit, NewSeriesBeyondTheCapAreCountedAndDroppedOldOnesCarryOn) {
  InProcessAdapter adapter(TestOptions{.max_series = 10});
  const uint16_t port = adapter.port();
  ASSERT_EQ(Send(port, Load(0, 10, 0)), 204);
  ASSERT_EQ(Send(port, Load(10, 15, 0, 3)), 204);  // 5 new series, 3 samples each
  EXPECT_EQ(Metric(port, "kad_active_series"), 10);
  EXPECT_EQ(Metric(port, "kad_max_series"), 10);
  EXPECT_EQ(Metric(port, "kad_samples_rejected_total{reason=\"series_limit\"}"), 15);
  // The ten held series go on being modelled.
  ASSERT_EQ(Send(port, Load(0, 15, 1, 5)), 204);
  EXPECT_EQ(Metric(port, "kad_samples_modelled_total"), 10 + 10 * 5);
  EXPECT_EQ(Metric(port, "kad_samples_rejected_total{reason=\"series_limit\"}"), 15 + 5 * 5);
  EXPECT_EQ(Instances(port).size(), 10u);
  EXPECT_FALSE(Instances(port).contains("n12"));
  // The cap holds across a restart, which keeps the stored series.
  adapter.Restart();
  ASSERT_EQ(Send(adapter.port(), Load(10, 15, 6)), 204);
  EXPECT_EQ(Metric(adapter.port(), "kad_active_series"), 10);
  EXPECT_EQ(Instances(adapter.port()).size(), 10u);
}

constexpr char kTtlConfig[] = R"(version: "v1alpha"
prometheus_metric_list:
  - metric_query: "node_load1{job='node'}"
    predicted_metric_name: predicted_node_load
    models:
      - kind: holt_winters
series_ttl: 1h
)";

TEST(SeriesTtl, SeriesUnseenForTheTtlLeaveMemoryAndStorageAndMakeRoom) {
  InProcessAdapter adapter(
      TestOptions{.config = kTtlConfig, .max_series = 2, .checkpoint_interval_ms = 1000});
  adapter.clock().Set(kT0);
  const uint16_t port = adapter.port();
  // n0 and n1 held; n2 over the cap. In two requests: within one, the two
  // shards take their places in the budget at the same time, and which
  // instance misses out is a race (n0 did, in 5 of 20 runs on a busy
  // machine, and then never expired).
  ASSERT_EQ(Send(port, Load(0, 2, 0, 10)), 204);
  ASSERT_EQ(Send(port, Load(2, 3, 0, 10)), 204);
  EXPECT_EQ(Metric(port, "kad_active_series"), 2);
  EXPECT_EQ(Metric(port, "kad_samples_rejected_total{reason=\"series_limit\"}"), 10);

  // Two hours on, only n1 and n2 kept sending (steps 10..489); n0 last sent
  // at step 9.
  for (int step = 10; step < 490; step += 40) {
    adapter.clock().Set(kT0 + (step + 40) * kStep);
    ASSERT_EQ(Send(port, Load(1, 3, step, 40)), 204);
  }
  ASSERT_TRUE(WaitForMetric(port, "kad_series_expired_total", 1));
  EXPECT_EQ(Metric(port, "kad_series_expired_total"), 1);
  EXPECT_FALSE(Instances(port).contains("n0"));
  // The room n0 left goes to n2, from its next sample on.
  ASSERT_TRUE(WaitForMetric(port, "kad_active_series", 2));
  const double modelled = Metric(port, "kad_samples_modelled_total");
  ASSERT_EQ(Send(port, Load(1, 3, 490)), 204);
  EXPECT_EQ(Metric(port, "kad_samples_modelled_total"), modelled + 2);
  EXPECT_EQ(Instances(port), (std::set<std::string>{"n1", "n2"}));

  // Gone from storage too: a restart does not bring n0 back.
  adapter.Restart();
  EXPECT_EQ(Metric(adapter.port(), "kad_active_series"), 2);
  EXPECT_EQ(Instances(adapter.port()), (std::set<std::string>{"n1", "n2"}));
}

TEST(Checkpoint, TheTimerSavesEveryChangedSeriesOfABigShardWriteByWrite) {
  // 10,000 series on two shards: each holds more than two of the timer's
  // store writes (2,048 series each), written as separate tasks.
  constexpr int kSeries = 10'000;
  InProcessAdapter adapter(TestOptions{.config = kTtlConfig, .checkpoint_interval_ms = 1000});
  adapter.clock().Set(kT0 + kStep);
  ASSERT_EQ(Send(adapter.port(), Load(0, kSeries, 0)), 204);
  EXPECT_EQ(Metric(adapter.port(), "kad_active_series"), kSeries);
  auto saved = [&adapter] {
    int n = 0;
    const absl::Status s = adapter.store()->ForEachSeries(
        [&n](uint64_t, std::string_view, std::string_view state) { n += !state.empty(); });
    EXPECT_TRUE(s.ok()) << s;
    return n;
  };
  // Bounded: the checkpoint runs every second here.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (saved() < kSeries && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(saved(), kSeries);
}

TEST(Checkpoint, TheMetricSaysWhenTheLastCompleteCheckpointStarted) {
  constexpr int kSeries = 5'000;
  constexpr char kMetric[] = "kad_checkpoint_last_complete_timestamp_seconds";
  {
    InProcessAdapter adapter(TestOptions{.config = kTtlConfig});  // every minute
    EXPECT_EQ(Metric(adapter.port(), kMetric), 0);
  }
  InProcessAdapter adapter(TestOptions{.config = kTtlConfig, .checkpoint_interval_ms = 1000});
  adapter.clock().Set(kT0 + kStep);
  ASSERT_EQ(Send(adapter.port(), Load(0, kSeries, 0)), 204);
  // A checkpoint that started after the samples were acknowledged has saved
  // every series they changed once the metric says so.
  const int64_t later = kT0 + 2 * kStep;
  adapter.clock().Set(later);
  ASSERT_TRUE(WaitForMetric(adapter.port(), kMetric, static_cast<double>(later) / 1000));
  EXPECT_EQ(Metric(adapter.port(), kMetric), static_cast<double>(later) / 1000);
  int saved = 0;
  const absl::Status s = adapter.store()->ForEachSeries(
      [&saved](uint64_t, std::string_view, std::string_view state) { saved += !state.empty(); });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(saved, kSeries);
}

}  // namespace
}  // namespace kad::adapter
