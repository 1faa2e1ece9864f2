// The adapter as main() wires it, with its RocksDB on a small real disk that
// fills up: remote write answers 503 (Prometheus retries) and models
// nothing, reads and /metrics go on, and once there is room again the
// retried requests are taken by themselves. The forecasts in the end are bit
// for bit those of a twin on a roomy disk fed the same requests once.
#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/adapter/in_process_adapter.h"
#include "tests/support/http_client.h"
#include "tests/support/remote_client.h"
#include "tests/support/small_disk.h"

namespace kad::adapter {
namespace {

using ::kad::testing::DiffSeries;
using ::kad::testing::HttpCall;
using ::kad::testing::HttpResult;
using ::kad::testing::MakeQuery;
using ::kad::testing::Matcher;
using ::kad::testing::ReadSamples;
using ::kad::testing::RemoteWrite;
using ::kad::testing::SeriesData;
using ::kad::testing::SeriesOf;
using ::kad::testing::SmallDisk;
using ::kad::testing::WriteRequestBuilder;
using ::testing::HasSubstr;
using testing::InProcessAdapter;
using testing::kHour;
using testing::kStep;
using testing::kT0;
using testing::Metric;
using testing::TestOptions;

constexpr char kForecast[] = "predicted_node_load_holt_winters";
// Many series a request, so the WAL's preallocated room fills in a few
// hundred requests.
constexpr int kInstances = 1000;
constexpr int kStepsPerRequest = 1;

int64_t T(int i) { return kT0 + i * kStep; }

// Request r: step r of every instance.
prometheus::WriteRequest Request(int r) {
  WriteRequestBuilder b;
  for (int i = r * kStepsPerRequest; i < (r + 1) * kStepsPerRequest; ++i) {
    for (int k = 0; k < kInstances; ++k) {
      b.Add({{"__name__", "node_load1"}, {"instance", absl::StrCat("n", k)}, {"job", "node"}}, T(i),
            3 + k + std::sin(i * 0.07) + 0.05 * ((i * 31 + k) % 7));
    }
  }
  return b.request();
}

int Send(uint16_t port, int r) {
  absl::StatusOr<HttpResult> result = RemoteWrite(port, Request(r));
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? result->status : 0;
}

std::vector<SeriesData> ReadAll(uint16_t port, int64_t end) {
  absl::StatusOr<prometheus::ReadResponse> r = ReadSamples(
      port, MakeQuery(kT0, end, {Matcher(prometheus::LabelMatcher::EQ, "__name__", kForecast)}));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? SeriesOf(r->results(0)) : std::vector<SeriesData>();
}

TEST(StorageFull, WritesGet503ReadsGoOnAndRetriesSucceedOnceThereIsRoom) {
  SmallDisk disk(256 << 20);
  ASSERT_TRUE(disk.ok()) << disk.error();
  InProcessAdapter adapter(TestOptions{.storage_path = disk.path() + "/data"});
  const uint16_t port = adapter.port();
  int next = 0;
  for (; next < 10; ++next) ASSERT_EQ(Send(port, next), 204);
  const double modelled_before = Metric(port, "kad_samples_modelled_total");

  disk.Fill();
  // Some room is left in the preallocated WAL: the disk is full within a
  // bounded number of requests (each with new samples, as Prometheus sends).
  int refused = -1;
  for (; next < 4000 && refused < 0; ++next) {
    absl::StatusOr<HttpResult> r = RemoteWrite(port, Request(next));
    ASSERT_TRUE(r.ok()) << r.status();
    if (r->status == 204) continue;
    EXPECT_EQ(r->status, 503) << r->body;
    EXPECT_THAT(r->body, HasSubstr("cannot write to"));
    EXPECT_EQ(r->body.find('\n'), r->body.size() - 1) << "one line: " << r->body;
    refused = next;
  }
  ASSERT_GE(refused, 0) << "the disk never filled up";
  const int requests = refused + 10;
  // While full: the retry is refused again and models nothing; reads and
  // /metrics are served.
  const double modelled = Metric(port, "kad_samples_modelled_total");
  EXPECT_GE(modelled, modelled_before);
  EXPECT_EQ(Send(port, refused), 503);
  EXPECT_EQ(Metric(port, "kad_samples_modelled_total"), modelled);
  const std::vector<SeriesData> stored = ReadAll(port, T(refused * kStepsPerRequest) - 1);
  ASSERT_EQ(stored.size(), 5u * kInstances);
  for (const SeriesData& s : stored) {
    EXPECT_EQ(s.samples.size(), static_cast<size_t>(refused * kStepsPerRequest));
  }
  absl::StatusOr<HttpResult> ready = HttpCall(port, "GET", "/-/ready");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 200);

  // Room again: Prometheus' retries get through by themselves (RocksDB
  // retries its recovery every few seconds).
  disk.Free();
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((status = Send(port, refused)) != 204 && std::chrono::steady_clock::now() < deadline) {
    ASSERT_EQ(status, 503);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(status, 204);
  for (int r = refused + 1; r < requests; ++r) ASSERT_EQ(Send(port, r), 204) << r;

  // Nothing applied twice, nothing lost: a twin that never ran out of room.
  InProcessAdapter twin;
  for (int r = 0; r < requests; ++r) ASSERT_EQ(Send(twin.port(), r), 204);
  const int64_t end = T(requests * kStepsPerRequest) + kHour;
  EXPECT_EQ(DiffSeries(ReadAll(port, end), ReadAll(twin.port(), end)), "");
  EXPECT_EQ(Metric(port, "kad_samples_modelled_total"),
            Metric(twin.port(), "kad_samples_modelled_total"));
}

}  // namespace
}  // namespace kad::adapter
