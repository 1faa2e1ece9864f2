// The store when its disk fails it: a disk that fills up and gets room back
// (writes fail with Unavailable and change nothing, reads go on, writes work
// again by themselves once there is room, every acknowledged write kept),
// and a database damaged on disk (refused at open, saying what to do).
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "storage/store.h"
#include "tests/support/small_disk.h"

namespace kad::storage {
namespace {

ForecastPoint Point(int64_t t) {
  ForecastPoint p;
  p.timestamp_ms = t;
  p.value = static_cast<double>(t);
  p.yhat = 1;
  p.yhat_lower = 0;
  p.yhat_upper = 2;
  return p;
}

// Every point of series 1, as t -> value.
std::map<int64_t, double> Points(const Store& store) {
  std::map<int64_t, double> out;
  const absl::Status s = store.ScanPoints(1, INT64_MIN, INT64_MAX, [&](const ForecastPoint& p) {
    out[p.timestamp_ms] = p.value;
    return true;
  });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

constexpr int kPointsPerBatch = 100;

absl::Status WriteBatchNumber(Store& store, int b) {
  WriteBatch batch;
  batch.PutSeries(1, "series");
  batch.PutState(1, std::to_string(b));
  for (int i = 0; i < kPointsPerBatch; ++i)
    batch.PutPoint(1, Point(int64_t{b} * kPointsPerBatch + i));
  return store.Write(&batch);
}

// Writes batches from number *acked on until one is refused (the WAL has
// some preallocated room left, so that takes a bounded number of writes).
absl::Status WriteUntilRefused(Store& store, int* acked) {
  for (int tries = 0; tries < 100'000; ++tries) {
    absl::Status s = WriteBatchNumber(store, *acked);
    if (!s.ok()) return s;
    ++*acked;
  }
  return absl::OkStatus();
}

// Every batch up to `acked` is there; refused ones are whole or absent.
void ExpectAcknowledgedBatches(const Store& store, int acked) {
  const std::map<int64_t, double> seen = Points(store);
  for (int64_t t = 0; t < int64_t{acked} * kPointsPerBatch; ++t) {
    ASSERT_EQ(seen.count(t), 1u) << "acknowledged point " << t << " lost";
  }
  EXPECT_EQ(seen.size() % kPointsPerBatch, 0u);
}

TEST(StoreDiskFull, RefusesWritesWhileFullKeepsReadingAndRecoversWhenRoomReturns) {
  testing::SmallDisk disk(256 << 20);
  ASSERT_TRUE(disk.ok()) << disk.error();
  StoreOptions options;
  options.path = disk.path() + "/data";
  absl::StatusOr<std::unique_ptr<Store>> opened = Store::Open(options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Store& store = **opened;

  int acked = 0;
  for (; acked < 50; ++acked) ASSERT_TRUE(WriteBatchNumber(store, acked).ok());
  disk.Fill();
  const absl::Status failed = WriteUntilRefused(store, &acked);
  ASSERT_TRUE(absl::IsUnavailable(failed)) << failed;
  EXPECT_NE(failed.message().find(options.path), std::string::npos) << failed.message();
  // Still full: still refused, and quickly.
  EXPECT_TRUE(absl::IsUnavailable(WriteBatchNumber(store, acked)));
  // Reads go on.
  EXPECT_EQ(Points(store).size(), static_cast<size_t>(acked) * kPointsPerBatch);

  disk.Free();
  // RocksDB's recovery retries every second; a write succeeds once it has
  // (the writes meanwhile keep failing cleanly).
  absl::Status recovered;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    recovered = WriteBatchNumber(store, acked);
    if (!recovered.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (!recovered.ok() && std::chrono::steady_clock::now() < deadline);
  ASSERT_TRUE(recovered.ok()) << recovered;
  ++acked;
  for (int i = 0; i < 20; ++i, ++acked) ASSERT_TRUE(WriteBatchNumber(store, acked).ok());
  opened->reset();

  // Everything acknowledged is there after a reopen, and the refused
  // batches are either whole (written to the WAL before the error) or
  // absent; the newest state is that of the newest acknowledged batch.
  opened = Store::Open(options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  ExpectAcknowledgedBatches(**opened, acked);
  absl::StatusOr<std::string> state = (*opened)->GetState(1);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(*state, std::to_string(acked - 1));
}

TEST(StoreDiskFull, ClosingWhileFullKeepsEveryAcknowledgedWrite) {
  testing::SmallDisk disk(256 << 20);
  ASSERT_TRUE(disk.ok()) << disk.error();
  StoreOptions options;
  options.path = disk.path() + "/data";
  int acked = 0;
  {
    absl::StatusOr<std::unique_ptr<Store>> opened = Store::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    for (; acked < 20; ++acked) ASSERT_TRUE(WriteBatchNumber(**opened, acked).ok());
    disk.Fill();
    ASSERT_TRUE(absl::IsUnavailable(WriteUntilRefused(**opened, &acked)));
  }  // closed while the disk is full
  disk.Free();
  absl::StatusOr<std::unique_ptr<Store>> opened = Store::Open(options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  ExpectAcknowledgedBatches(**opened, acked);
  EXPECT_TRUE(WriteBatchNumber(**opened, acked).ok());
}

TEST(StoreOpen, RefusesADamagedDatabaseSayingWhatToDo) {
  testing::SmallDisk disk(64 << 20);  // any folder; this one is removed after
  ASSERT_TRUE(disk.ok()) << disk.error();
  StoreOptions options;
  options.path = disk.path() + "/data";
  {
    absl::StatusOr<std::unique_ptr<Store>> opened = Store::Open(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    ASSERT_TRUE(WriteBatchNumber(**opened, 0).ok());
  }
  int damaged = 0;
  for (const auto& entry : std::filesystem::directory_iterator(options.path)) {
    if (entry.path().filename().string().rfind("MANIFEST-", 0) != 0) continue;
    std::ofstream(entry.path(), std::ios::binary | std::ios::trunc) << "not a manifest at all";
    ++damaged;
  }
  ASSERT_GT(damaged, 0);
  absl::StatusOr<std::unique_ptr<Store>> opened = Store::Open(options);
  ASSERT_FALSE(opened.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(opened.status())) << opened.status();
  EXPECT_NE(opened.status().message().find("restore it from a backup"), std::string::npos)
      << opened.status();
}

}  // namespace
}  // namespace kad::storage
