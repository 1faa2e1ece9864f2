#include "storage/store.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "storage/block_codec.h"
#include "storage/codec.h"
#include "storage/retention_filter.h"
#include "storage/xor_chunk.h"
#include "tests/storage/format2_block.h"

namespace kad::storage {
namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// A fresh folder under /tmp, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/kad_storage_test_XXXXXX";
    path_ = mkdtemp(name);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

StoreOptions OptionsFor(const std::string& path) {
  StoreOptions options;
  options.path = path;
  return options;
}

std::unique_ptr<Store> OpenOrDie(const StoreOptions& options) {
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

ForecastPoint Point(int64_t t, double v) {
  ForecastPoint p;
  p.timestamp_ms = t;
  p.value = v;
  p.yhat = v + 0.5;
  p.yhat_lower = v - 1;
  p.yhat_upper = v + 1;
  p.anomaly_score = v / 10;
  p.anomaly = static_cast<int64_t>(v) % 2 == 1;
  return p;
}

std::vector<ForecastPoint> Scan(const Store& store, uint64_t id, int64_t start = kMin,
                                int64_t end = kMax) {
  std::vector<ForecastPoint> out;
  absl::Status s = store.ScanPoints(id, start, end, [&](const ForecastPoint& p) {
    out.push_back(p);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

using Sample = std::pair<int64_t, double>;

// ScanChunks of one column: per scan, its samples within its range,
// checking what the chunk sets say of themselves on the way.
std::vector<std::vector<Sample>> ScanColumn(const Store& store, std::span<const ChunkScan> scans,
                                            Column column) {
  std::vector<std::vector<Sample>> out(scans.size());
  absl::Status s = store.ScanChunks(scans, ColumnBit(column), [&](size_t i, const ChunkSet& set) {
    for (int c = 0; c < kNumColumns; ++c) {
      EXPECT_EQ(set.chunks[c].empty(), c != static_cast<int>(column));
    }
    XorChunkDecoder in(set.chunks[static_cast<int>(column)]);
    EXPECT_EQ(in.count(), static_cast<int>(set.count));
    bool within = true;
    int64_t first = 0;
    int64_t last = 0;
    for (int n = 0; in.Next(); ++n) {
      if (n == 0) first = in.t();
      last = in.t();
      within = within && in.t() >= set.from_ms && in.t() <= set.to_ms;
      if (in.t() >= set.from_ms && in.t() <= set.to_ms) {
        EXPECT_TRUE(out[i].empty() || out[i].back().first < in.t()) << "out of order";
        out[i].emplace_back(in.t(), in.v());
      }
    }
    EXPECT_TRUE(in.ok());
    EXPECT_EQ(set.min_time_ms, first);
    EXPECT_EQ(set.max_time_ms, last);
    EXPECT_EQ(set.Within(), within);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

std::vector<int64_t> Times(const std::vector<ForecastPoint>& points) {
  std::vector<int64_t> times;
  for (const ForecastPoint& p : points) times.push_back(p.timestamp_ms);
  return times;
}

struct SeriesRow {
  uint64_t id;
  std::string labels;
  std::string state;
  bool operator==(const SeriesRow&) const = default;
};

std::vector<SeriesRow> AllSeries(const Store& store) {
  std::vector<SeriesRow> rows;
  absl::Status s =
      store.ForEachSeries([&](uint64_t id, std::string_view labels, std::string_view state) {
        rows.push_back({id, std::string(labels), std::string(state)});
      });
  EXPECT_TRUE(s.ok()) << s;
  return rows;
}

void WriteOrDie(Store& store, WriteBatch& batch) {
  absl::Status s = store.Write(&batch);
  ASSERT_TRUE(s.ok()) << s;
}

// Creates a RocksDB at `path` that is not ours, holding one key.
void CreateForeignDb(const std::string& path) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, path, &db).ok());
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "hello", "world").ok());
  delete db;
}

TEST(StoreOptions, RejectsEmptyPathAndNonPositiveRetention) {
  StoreOptions options;
  EXPECT_TRUE(options.Validate().ok());
  options.path = "";
  EXPECT_EQ(options.Validate().code(), absl::StatusCode::kInvalidArgument);
  options.path = "x";
  options.retention_ms = 0;
  EXPECT_EQ(options.Validate().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Store::Open(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Store, RoundTripsSeriesStateAndPointsAcrossReopen) {
  TempDir dir;
  ForecastPoint odd;
  odd.timestamp_ms = 1700000000123;
  odd.value = -0.0;
  odd.yhat = std::numeric_limits<double>::infinity();
  odd.yhat_lower = -1e300;
  odd.yhat_upper = std::nan("");
  odd.anomaly_score = 4.25;
  odd.anomaly = true;
  {
    std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
    ASSERT_NE(store, nullptr);
    WriteBatch batch;
    batch.PutSeries(7, "labels-7");
    batch.PutState(7, std::string("state\0with zero", 15));
    batch.PutPoint(7, odd);
    batch.PutPoint(7, Point(1700000060000, 3));
    WriteOrDie(*store, batch);
  }
  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(AllSeries(*store),
            (std::vector<SeriesRow>{{7, "labels-7", std::string("state\0with zero", 15)}}));
  std::vector<ForecastPoint> points = Scan(*store, 7);
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].timestamp_ms, odd.timestamp_ms);
  EXPECT_EQ(points[0].value, 0.0);
  EXPECT_TRUE(std::signbit(points[0].value));
  EXPECT_EQ(points[0].yhat, odd.yhat);
  EXPECT_EQ(points[0].yhat_lower, odd.yhat_lower);
  EXPECT_TRUE(std::isnan(points[0].yhat_upper));
  EXPECT_EQ(points[0].anomaly_score, odd.anomaly_score);
  EXPECT_TRUE(points[0].anomaly);
  const ForecastPoint expected = Point(1700000060000, 3);
  EXPECT_EQ(points[1].timestamp_ms, expected.timestamp_ms);
  EXPECT_EQ(points[1].value, expected.value);
  EXPECT_EQ(points[1].yhat, expected.yhat);
  EXPECT_EQ(points[1].yhat_lower, expected.yhat_lower);
  EXPECT_EQ(points[1].yhat_upper, expected.yhat_upper);
  EXPECT_EQ(points[1].anomaly_score, expected.anomaly_score);
  EXPECT_EQ(points[1].anomaly, expected.anomaly);
}

TEST(Store, ForEachSeriesVisitsIdsInOrderWithEmptyMissingState) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  // 256 before 1 in little-endian byte order: the keys must sort by value.
  batch.PutSeries(256, "a");
  batch.PutSeries(1, "b");
  batch.PutSeries(uint64_t{1} << 40, "c");
  batch.PutSeries(3, "d");
  batch.PutState(3, "s3");
  batch.PutState(256, "s256");
  batch.PutState(2, "orphan state without series");
  WriteOrDie(*store, batch);
  // A newer state replaces the older one.
  batch.PutState(3, "s3-newer");
  WriteOrDie(*store, batch);
  EXPECT_EQ(AllSeries(*store), (std::vector<SeriesRow>{
                                   {1, "b", ""},
                                   {3, "d", "s3-newer"},
                                   {256, "a", "s256"},
                                   {uint64_t{1} << 40, "c", ""},
                               }));
}

TEST(Store, ScanPointsBoundsAreInclusive) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  for (int64_t t = 1000; t <= 5000; t += 1000) batch.PutPoint(1, Point(t, 1));
  WriteOrDie(*store, batch);
  EXPECT_EQ(Times(Scan(*store, 1, 2000, 4000)), (std::vector<int64_t>{2000, 3000, 4000}));
  EXPECT_EQ(Times(Scan(*store, 1, 1999, 2001)), (std::vector<int64_t>{2000}));
  EXPECT_EQ(Times(Scan(*store, 1, 3000, 3000)), (std::vector<int64_t>{3000}));
  EXPECT_TRUE(Scan(*store, 1, 2001, 2999).empty());
  EXPECT_TRUE(Scan(*store, 1, 4000, 2000).empty());
  EXPECT_TRUE(Scan(*store, 99).empty());
}

TEST(Store, ScanPointsStopsWhenCallbackReturnsFalse) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  for (int64_t t = 0; t < 10; ++t) batch.PutPoint(1, Point(t, 1));
  WriteOrDie(*store, batch);
  std::vector<int64_t> seen;
  ASSERT_TRUE(store
                  ->ScanPoints(1, kMin, kMax,
                               [&](const ForecastPoint& p) {
                                 seen.push_back(p.timestamp_ms);
                                 return seen.size() < 3;
                               })
                  .ok());
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2}));
}

TEST(Store, ScanPointsOfSeveralSeriesEqualsOneScanEach) {
  TempDir dir;
  StoreOptions options = OptionsFor(dir.path());
  options.block_max_points = 4;  // sealed blocks that reach past the ranges
  std::unique_ptr<Store> store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  for (int64_t t = 0; t < 10; ++t) {
    for (uint64_t id = 1; id <= 3; ++id) batch.PutPoint(id, Point(t * 1000, t + 10.0 * id));
  }
  WriteOrDie(*store, batch);
  // Series 1 ends inside its second block, series 3 inside its open one;
  // series 4 holds nothing; series 2 is asked twice.
  const std::vector<ChunkScan> scans = {
      {.id = 1, .start_ms = 1000, .end_ms = 5000}, {.id = 2, .start_ms = kMin, .end_ms = kMax},
      {.id = 2, .start_ms = 7000, .end_ms = 7000}, {.id = 3, .start_ms = 8500, .end_ms = 8500},
      {.id = 3, .start_ms = 6000, .end_ms = 8000}, {.id = 4, .start_ms = kMin, .end_ms = kMax}};
  std::vector<std::vector<ForecastPoint>> got(scans.size());
  ASSERT_TRUE(store
                  ->ScanPoints(scans,
                               [&](size_t i, const ForecastPoint& p) {
                                 got[i].push_back(p);
                                 return true;
                               })
                  .ok());
  for (size_t i = 0; i < scans.size(); ++i) {
    EXPECT_EQ(got[i], Scan(*store, scans[i].id, scans[i].start_ms, scans[i].end_ms)) << i;
  }
  EXPECT_EQ(Times(got[0]), (std::vector<int64_t>{1000, 2000, 3000, 4000, 5000}));
  EXPECT_EQ(got[1].size(), 10u);
  EXPECT_EQ(Times(got[4]), (std::vector<int64_t>{6000, 7000, 8000}));
  EXPECT_TRUE(got[3].empty());
  EXPECT_TRUE(got[5].empty());

  // false stops the whole scan, not just its series.
  std::vector<size_t> seen;
  ASSERT_TRUE(store
                  ->ScanPoints(scans,
                               [&](size_t i, const ForecastPoint&) {
                                 seen.push_back(i);
                                 return seen.size() < 7;
                               })
                  .ok());
  EXPECT_EQ(seen, (std::vector<size_t>{0, 0, 0, 0, 0, 1, 1}));
}

TEST(Store, ScanPointsDoesNotBleedIntoAdjacentSeries) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
  ASSERT_NE(store, nullptr);
  constexpr uint64_t kLast = std::numeric_limits<uint64_t>::max();
  WriteBatch batch;
  for (int64_t t = 0; t < 20; ++t) {
    batch.PutPoint(t % 2 == 0 ? 1 : 2, Point(t, static_cast<double>(t)));
    batch.PutPoint(kLast, Point(t, 100));
    batch.PutPoint(0, Point(t, 200));
  }
  WriteOrDie(*store, batch);
  std::vector<int64_t> even, odd;
  for (int64_t t = 0; t < 20; ++t) (t % 2 == 0 ? even : odd).push_back(t);
  EXPECT_EQ(Times(Scan(*store, 1)), even);
  EXPECT_EQ(Times(Scan(*store, 2)), odd);
  EXPECT_EQ(Scan(*store, kLast).size(), 20u);
  EXPECT_EQ(Scan(*store, 0).size(), 20u);
  EXPECT_TRUE(Scan(*store, 3).empty());
}

TEST(Store, ScanPointsOrdersNegativeTimestampsFirst) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  for (int64_t t : {int64_t{5}, kMax, int64_t{-1}, int64_t{0}, kMin, int64_t{-1000}, int64_t{1}}) {
    batch.PutPoint(4, Point(t, 1));
  }
  WriteOrDie(*store, batch);
  EXPECT_EQ(Times(Scan(*store, 4)), (std::vector<int64_t>{kMin, -1000, -1, 0, 1, 5, kMax}));
  EXPECT_EQ(Times(Scan(*store, 4, -1000, 0)), (std::vector<int64_t>{-1000, -1, 0}));
}

TEST(Store, WriteAppliesTheWholeBatchAndClearsIt) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
  ASSERT_NE(store, nullptr);
  WriteBatch empty;
  EXPECT_TRUE(store->Write(&empty).ok());

  WriteBatch batch;
  batch.PutSeries(1, "l");
  batch.PutState(1, "s");
  batch.PutPoint(1, Point(10, 1));
  batch.PutPoint(1, Point(20, 2));
  EXPECT_EQ(batch.count(), 4u);
  WriteOrDie(*store, batch);
  EXPECT_EQ(batch.count(), 0u);
  EXPECT_EQ(AllSeries(*store), (std::vector<SeriesRow>{{1, "l", "s"}}));
  EXPECT_EQ(Times(Scan(*store, 1)), (std::vector<int64_t>{10, 20}));

  // The cleared batch is reusable and does not replay old records.
  batch.PutPoint(1, Point(30, 3));
  WriteOrDie(*store, batch);
  EXPECT_EQ(Times(Scan(*store, 1)), (std::vector<int64_t>{10, 20, 30}));

  // Clear drops records without writing them; a moved batch keeps them.
  batch.PutPoint(1, Point(40, 4));
  batch.Clear();
  EXPECT_EQ(batch.count(), 0u);
  batch.PutPoint(1, Point(50, 5));
  WriteBatch moved = std::move(batch);
  EXPECT_EQ(moved.count(), 1u);
  WriteOrDie(*store, moved);
  EXPECT_EQ(Times(Scan(*store, 1)), (std::vector<int64_t>{10, 20, 30, 50}));
}

TEST(Store, DeleteSeriesRemovesLabelsStateAndPointsOfThatSeriesOnly) {
  TempDir dir;
  {
    std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
    WriteBatch batch;
    for (uint64_t id : {1, 2, 3}) {
      batch.PutSeries(id, "labels" + std::to_string(id));
      batch.PutState(id, "state" + std::to_string(id));
      for (int64_t t = 0; t < 5; ++t) batch.PutPoint(id, Point(t, static_cast<double>(id)));
    }
    WriteOrDie(*store, batch);
    batch.DeleteSeries(2);
    batch.PutPoint(3, Point(9, 3));  // in the same atomic write
    EXPECT_EQ(batch.count(), 2u);
    WriteOrDie(*store, batch);
    EXPECT_TRUE(Scan(*store, 2).empty());
  }
  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
  const std::vector<SeriesRow> series = AllSeries(*store);
  ASSERT_EQ(series.size(), 2u);
  EXPECT_EQ(series[0].id, 1u);
  EXPECT_EQ(series[0].state, "state1");
  EXPECT_EQ(series[1].id, 3u);
  EXPECT_TRUE(Scan(*store, 2).empty());
  EXPECT_EQ(Times(Scan(*store, 1)), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(Times(Scan(*store, 3)), (std::vector<int64_t>{0, 1, 2, 3, 4, 9}));
}

TEST(Store, RetentionHidesPointsOlderThanNowMinusRetention) {
  TempDir dir;
  StoreOptions options = OptionsFor(dir.path());
  options.retention_ms = 1000;
  std::unique_ptr<Store> store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  for (int64_t t = 0; t <= 5000; t += 500) batch.PutPoint(1, Point(t, 1));
  WriteOrDie(*store, batch);
  EXPECT_EQ(Scan(*store, 1).size(), 11u);  // no "now" yet: nothing expired
  store->SetRetentionNow(4000);
  EXPECT_EQ(Times(Scan(*store, 1)), (std::vector<int64_t>{3000, 3500, 4000, 4500, 5000}));
  EXPECT_EQ(Times(Scan(*store, 1, 0, 3500)), (std::vector<int64_t>{3000, 3500}));
  EXPECT_TRUE(Scan(*store, 1, 0, 2999).empty());
  // A "now" near the bottom of the time range does not overflow.
  store->SetRetentionNow(kMin + 10);
  EXPECT_EQ(Scan(*store, 1).size(), 11u);
}

TEST(Store, ExpiredPointsOfAnOpenBlockAreDroppedWhenItIsSealed) {
  TempDir dir;
  StoreOptions options = OptionsFor(dir.path());
  options.retention_ms = 1000;
  options.block_max_points = 7;
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    ASSERT_NE(store, nullptr);
    WriteBatch batch;
    batch.PutSeries(1, "l");
    for (int64_t t = 0; t <= 5000; t += 1000) batch.PutPoint(1, Point(t, 1));
    WriteOrDie(*store, batch);
    store->SetRetentionNow(4500);
    batch.PutPoint(1, Point(6000, 1));  // the seventh point seals the block
    WriteOrDie(*store, batch);
    ASSERT_TRUE(store->Flush().ok());
  }
  // A reopened store has no "now" and hides nothing: what it returns is what
  // is on disk.
  options.retention_ms = kMax;
  std::unique_ptr<Store> store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Times(Scan(*store, 1)), (std::vector<int64_t>{4000, 5000, 6000}));
  EXPECT_EQ(AllSeries(*store).size(), 1u);  // other CFs are not filtered
}

TEST(RetentionFilter, CompactionDropsOnlyPointsOlderThanTheCutoff) {
  TempDir dir;
  auto cutoff = std::make_shared<RetentionCutoff>();
  rocksdb::Options options;
  options.create_if_missing = true;
  options.compaction_filter_factory = std::make_shared<RetentionFilterFactory>(cutoff);
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, dir.path(), &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  const std::string value = EncodeBlock({Point(0, 1)});
  for (int64_t t = -3; t <= 3; ++t) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), EncodePointKey(9, t), value).ok());
  }
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "not-a-point", "x").ok());
  // Flushed while nothing is expired, so only the compaction can drop them.
  ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  cutoff->Set(1);
  ASSERT_TRUE(db->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr).ok());
  std::vector<int64_t> left;
  bool kept_foreign_key = false;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string key = it->key().ToString();
    if (std::optional<int64_t> t = DecodePointKeyTime(key)) {
      left.push_back(*t);
    } else {
      kept_foreign_key = kept_foreign_key || key == "not-a-point";
    }
  }
  EXPECT_EQ(left, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_TRUE(kept_foreign_key);
}

// Calls write_one(store, i) for i = 0 .. count-1 in a forked child that
// reports each acknowledged i through a pipe, SIGKILLs the child after
// `acks_before_kill` acknowledgements, and returns the last acknowledged i
// (-1, with a test failure, if the child did not get that far).
int32_t WriteUntilKilled(const StoreOptions& options, int32_t count, int acks_before_kill,
                         const std::function<bool(Store&, int32_t)>& write_one) {
  int fds[2];
  if (pipe(fds) != 0) {
    ADD_FAILURE() << "pipe failed";
    return -1;
  }
  const pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
    if (!store.ok()) _exit(2);
    for (int32_t i = 0; i < count; ++i) {
      if (!write_one(**store, i)) _exit(3);
      if (write(fds[1], &i, sizeof(i)) != sizeof(i)) _exit(4);
    }
    // Wait for the kill even if it comes late: the store is never closed.
    for (;;) pause();
  }
  close(fds[1]);
  int32_t last_ack = -1;
  int acks = 0;
  int32_t i;
  while (child > 0 && read(fds[0], &i, sizeof(i)) == sizeof(i)) {
    last_ack = i;
    if (++acks == acks_before_kill) kill(child, SIGKILL);
  }
  close(fds[0]);
  int wstatus = 0;
  if (child < 0 || waitpid(child, &wstatus, 0) != child || !WIFSIGNALED(wstatus) ||
      acks < acks_before_kill) {
    ADD_FAILURE() << "writer stopped early: status " << wstatus << " after " << acks << " acks";
    return -1;
  }
  return last_ack;
}

// The child writes batches of kPointsPerBatch points and reports each
// acknowledged batch number through a pipe; the parent kills it with
// SIGKILL mid-stream and checks nothing acknowledged was lost.
TEST(Store, AcknowledgedWritesSurviveKill9) {
  constexpr int kBatches = 2000;
  constexpr int kPointsPerBatch = 50;
  constexpr int kAcksBeforeKill = 500;
  TempDir dir;
  WriteBatch batch;
  batch.PutSeries(1, "series");
  const int32_t last_ack = WriteUntilKilled(
      OptionsFor(dir.path()), kBatches, kAcksBeforeKill, [&batch](Store& store, int32_t b) {
        batch.PutState(1, std::to_string(b));
        for (int i = 0; i < kPointsPerBatch; ++i) {
          batch.PutPoint(1, Point(int64_t{b} * kPointsPerBatch + i, b));
        }
        return store.Write(&batch).ok();
      });
  ASSERT_GE(last_ack, kAcksBeforeKill - 1);

  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
  ASSERT_NE(store, nullptr);
  std::map<int64_t, int> points_per_batch;
  for (const ForecastPoint& p : Scan(*store, 1)) {
    ++points_per_batch[p.timestamp_ms / kPointsPerBatch];
  }
  for (int64_t batch = 0; batch <= last_ack; ++batch) {
    ASSERT_EQ(points_per_batch[batch], kPointsPerBatch)
        << "acknowledged batch " << batch << " of " << last_ack;
  }
  // Batches are atomic: even the one in flight at the kill is all or nothing.
  for (const auto& [batch, count] : points_per_batch) {
    EXPECT_EQ(count, kPointsPerBatch) << "batch " << batch;
  }
  // The state written with the newest surviving batch survived with it.
  const std::vector<SeriesRow> series = AllSeries(*store);
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].state, std::to_string(points_per_batch.rbegin()->first));
}

TEST(StoreOpen, RefusesAForeignRocksDb) {
  TempDir dir;
  CreateForeignDb(dir.path());
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(OptionsFor(dir.path()));
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("--storage.path"), absl::string_view::npos)
      << store.status();
}

TEST(StoreOpen, RefusesARocksDbWithForeignColumnFamilies) {
  TempDir dir;
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir.path(), &db).ok());
    rocksdb::ColumnFamilyHandle* cf = nullptr;
    ASSERT_TRUE(db->CreateColumnFamily(options, "users", &cf).ok());
    db->DestroyColumnFamilyHandle(cf);
    delete db;
  }
  EXPECT_EQ(Store::Open(OptionsFor(dir.path())).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(StoreOpen, RefusesAFormatVersionItDoesNotRead) {
  TempDir dir;
  { ASSERT_NE(OpenOrDie(OptionsFor(dir.path())), nullptr); }
  {
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.path(), &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const std::string& name : names)
      descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(
        rocksdb::DB::Open(rocksdb::DBOptions(), dir.path(), descriptors, &handles, &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "kad:format", "99").ok());
    for (rocksdb::ColumnFamilyHandle* h : handles) {
      db->DestroyColumnFamilyHandle(h);
    }
    delete db;
  }
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(OptionsFor(dir.path()));
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("99"), absl::string_view::npos);
}

TEST(StoreOpen, RefusesAFolderThatHoldsOtherFiles) {
  TempDir dir;
  std::ofstream(dir.Sub("notes.txt")) << "not a database";
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(OptionsFor(dir.path()));
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("notes.txt"), absl::string_view::npos) << store.status();
  // The folder was left as it was.
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("CURRENT")));
}

TEST(StoreOpen, RefusesAPathThatIsAFile) {
  TempDir dir;
  std::ofstream(dir.Sub("file")) << "x";
  EXPECT_EQ(Store::Open(OptionsFor(dir.Sub("file"))).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(StoreOpen, CreatesMissingFoldersAndAcceptsAFreshVolumeRoot) {
  TempDir dir;
  EXPECT_NE(OpenOrDie(OptionsFor(dir.Sub("new"))), nullptr);
  // ext4 puts lost+found at the root of every new volume (Kubernetes PVs).
  std::filesystem::create_directory(dir.Sub("volume"));
  std::filesystem::create_directory(dir.Sub("volume/lost+found"));
  EXPECT_NE(OpenOrDie(OptionsFor(dir.Sub("volume"))), nullptr);
}

TEST(StoreOpen, CreatingTheDatabaseInAMissingFolderLogsNothing) {
  TempDir dir;
  std::vector<std::string> lines;
  StoreOptions options = OptionsFor(dir.Sub("new/deeper"));
  options.log = [&lines](std::string_view line) { lines.emplace_back(line); };
  EXPECT_NE(OpenOrDie(options), nullptr);
  EXPECT_TRUE(lines.empty()) << lines.front();
}

TEST(StoreOpen, AdoptsAnEmptyRocksDbLeftByAnInterruptedCreation) {
  TempDir dir;
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir.path(), &db).ok());
    delete db;
  }
  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  batch.PutSeries(1, "l");
  WriteOrDie(*store, batch);
  EXPECT_EQ(AllSeries(*store).size(), 1u);
}

TEST(StoreOpen, SecondOpenOfTheSamePathIsUnavailable) {
  TempDir dir;
  std::unique_ptr<Store> first = OpenOrDie(OptionsFor(dir.path()));
  ASSERT_NE(first, nullptr);
  absl::StatusOr<std::unique_ptr<Store>> second = Store::Open(OptionsFor(dir.path()));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
}

TEST(Store, SizeBytesGrowsWithData) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
  ASSERT_NE(store, nullptr);
  const uint64_t empty = store->SizeBytes();
  WriteBatch batch;
  for (int64_t t = 0; t < 20000; ++t) {
    batch.PutPoint(static_cast<uint64_t>(t % 7), Point(t, t * 0.37));
  }
  WriteOrDie(*store, batch);
  const uint64_t in_wal = store->SizeBytes();
  EXPECT_GT(in_wal, empty + 20000 * 16);  // WAL holds at least every key
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_GT(store->SizeBytes(), empty + 20000 * 8);  // now in SST files
}

using Record = std::pair<std::string, std::string>;

std::vector<Record> AllLocks(const Store& store) {
  std::vector<Record> locks;
  absl::Status s = store.ForEachLock([&](std::string_view key, std::string_view value) {
    locks.emplace_back(std::string(key), std::string(value));
  });
  EXPECT_TRUE(s.ok()) << s;
  return locks;
}

std::vector<std::pair<uint64_t, std::string>> AllRuns(const Store& store) {
  std::vector<std::pair<uint64_t, std::string>> runs;
  absl::Status s = store.ForEachRun(
      [&](uint64_t seq, std::string_view record) { runs.emplace_back(seq, std::string(record)); });
  EXPECT_TRUE(s.ok()) << s;
  return runs;
}

void AppendRunOrDie(Store& store, std::string_view record, size_t keep) {
  absl::Status s = store.AppendRun(record, keep);
  ASSERT_TRUE(s.ok()) << s;
}

TEST(StoreLocks, PutListDeleteAndSurviveReopen) {
  TempDir dir;
  const std::string binary_key("act\0series", 10);
  {
    std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(AllLocks(*store).empty());
    ASSERT_TRUE(store->PutLock("b", "2").ok());
    ASSERT_TRUE(store->PutLock(binary_key, "0").ok());
    ASSERT_TRUE(store->PutLock("c", "3").ok());
    ASSERT_TRUE(store->PutLock("b", "2-newer").ok());  // replaces
    EXPECT_EQ(AllLocks(*store),
              (std::vector<Record>{{binary_key, "0"}, {"b", "2-newer"}, {"c", "3"}}));
    ASSERT_TRUE(store->DeleteLock("c").ok());
    EXPECT_TRUE(store->DeleteLock("never-set").ok());
    // Locks live apart from the series: neither sees the other.
    EXPECT_TRUE(AllSeries(*store).empty());
  }
  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(AllLocks(*store), (std::vector<Record>{{binary_key, "0"}, {"b", "2-newer"}}));
}

TEST(StoreRuns, KeepsTheNewestRecordsInOrderAcrossReopen) {
  TempDir dir;
  {
    std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(AllRuns(*store).empty());
    for (int i = 1; i <= 5; ++i) {
      AppendRunOrDie(*store, "run-" + std::to_string(i), 3);
    }
    EXPECT_EQ(AllRuns(*store), (std::vector<std::pair<uint64_t, std::string>>{
                                   {3, "run-3"}, {4, "run-4"}, {5, "run-5"}}));
  }
  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
  ASSERT_NE(store, nullptr);
  // The pruned records stayed deleted, and numbering continues after 5.
  EXPECT_EQ(AllRuns(*store).front().first, 3u);
  AppendRunOrDie(*store, "run-6", 3);
  EXPECT_EQ(AllRuns(*store), (std::vector<std::pair<uint64_t, std::string>>{
                                 {4, "run-4"}, {5, "run-5"}, {6, "run-6"}}));
  // A smaller bound drops several records at once; a larger one drops none.
  AppendRunOrDie(*store, "run-7", 1);
  EXPECT_EQ(AllRuns(*store), (std::vector<std::pair<uint64_t, std::string>>{{7, "run-7"}}));
  AppendRunOrDie(*store, std::string("run\0-8", 6), 10);
  EXPECT_EQ(AllRuns(*store), (std::vector<std::pair<uint64_t, std::string>>{
                                 {7, "run-7"}, {8, std::string("run\0-8", 6)}}));
  EXPECT_EQ(store->AppendRun("run-9", 0).code(), absl::StatusCode::kInvalidArgument);
}

TEST(StoreRuns, ConcurrentAppendsGetDistinctIncreasingNumbers) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  constexpr size_t kKeep = 120;
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
  ASSERT_NE(store, nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&store, t] {
      for (int i = 0; i < kPerThread; ++i) {
        EXPECT_TRUE(store->AppendRun(std::to_string(t) + ":" + std::to_string(i), kKeep).ok());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const auto runs = AllRuns(*store);
  ASSERT_EQ(runs.size(), kKeep);
  for (size_t i = 0; i < runs.size(); ++i) {
    EXPECT_EQ(runs[i].first, kThreads * kPerThread - kKeep + 1 + i);
  }
}

// A lock acknowledged to the activity engine must survive kill -9, or a
// restart would run the activity again.
TEST(StoreLocks, AcknowledgedLocksSurviveKill9) {
  constexpr int32_t kLocks = 100000;
  constexpr int kAcksBeforeKill = 300;
  TempDir dir;
  const int32_t last_ack = WriteUntilKilled(
      OptionsFor(dir.path()), kLocks, kAcksBeforeKill,
      [](Store& store, int32_t i) { return store.PutLock(EncodeIdKey(i), "locked").ok(); });
  ASSERT_GE(last_ack, kAcksBeforeKill - 1);

  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
  ASSERT_NE(store, nullptr);
  const std::vector<Record> locks = AllLocks(*store);
  ASSERT_GE(locks.size(), static_cast<size_t>(last_ack) + 1);
  for (int32_t n = 0; n <= last_ack; ++n) {
    ASSERT_EQ(locks[n].first, EncodeIdKey(n)) << "acknowledged lock " << n;
  }
}

// Writes what a version-1 Store::Open wrote: the series, state and points
// column families plus the format marker, here with one series and point.
void CreateVersion1Database(const std::string& path) {
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const char* name :
       {rocksdb::kDefaultColumnFamilyName.c_str(), "series", "state", "points"}) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, path, descriptors, &handles, &db).ok());
  rocksdb::WriteOptions synced;
  synced.sync = true;
  ASSERT_TRUE(db->Put(synced, handles[0], "kad:format", "1").ok());
  ASSERT_TRUE(db->Put(synced, handles[1], EncodeIdKey(5), "labels-5").ok());
  ASSERT_TRUE(db->Put(synced, handles[3], EncodePointKey(5, 1000), std::string(42, '\1')).ok());
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    db->DestroyColumnFamilyHandle(h);
  }
  delete db;
}

std::vector<std::string> ColumnFamilies(const std::string& path) {
  std::vector<std::string> names;
  EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
  std::sort(names.begin(), names.end());
  return names;
}

// Version 1 (a key per point) is refused, not migrated, with a message
// saying what to do; the folder is left as it was.
TEST(StoreOpen, RefusesAVersion1DatabaseSayingWhatToDo) {
  TempDir dir;
  CreateVersion1Database(dir.path());
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(OptionsFor(dir.path()));
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  EXPECT_NE(store.status().message().find("version 1"), absl::string_view::npos);
  EXPECT_NE(store.status().message().find("--storage.path"), absl::string_view::npos);
  EXPECT_EQ(ColumnFamilies(dir.path()),
            (std::vector<std::string>{"default", "points", "series", "state"}));
}

TEST(StoreOpen, CreatesEveryColumnFamilyOnce) {
  TempDir dir;
  { ASSERT_NE(OpenOrDie(OptionsFor(dir.path())), nullptr); }
  { ASSERT_NE(OpenOrDie(OptionsFor(dir.path())), nullptr); }
  EXPECT_EQ(
      ColumnFamilies(dir.path()),
      (std::vector<std::string>{"blocks", "default", "locks", "log", "runs", "series", "state"}));
}

// Column family names alone do not make a database ours: with data and no
// format marker it is still refused, and left untouched.
TEST(StoreOpen, RefusesARocksDbThatOnlySharesColumnFamilyNames) {
  TempDir dir;
  {
    rocksdb::DBOptions options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
        {"locks", rocksdb::ColumnFamilyOptions()}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir.path(), descriptors, &handles, &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[1], "k", "v").ok());
    for (rocksdb::ColumnFamilyHandle* h : handles) {
      db->DestroyColumnFamilyHandle(h);
    }
    delete db;
  }
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(OptionsFor(dir.path()));
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  EXPECT_EQ(ColumnFamilies(dir.path()), (std::vector<std::string>{"default", "locks"}));
}

// ---------------------------------------------------------------------------
// Compressed blocks and the log.

StoreOptions SmallBlocks(const std::string& path, uint32_t max_points) {
  StoreOptions options = OptionsFor(path);
  options.block_max_points = max_points;
  options.block_max_bytes = 1 << 20;
  return options;
}

// The column families of the database at `path`, with default options.
std::vector<rocksdb::ColumnFamilyDescriptor> RawFamilies(const std::string& path) {
  std::vector<std::string> names;
  EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  rocksdb::ColumnFamilyOptions family;
  // What the tests look at is the files the store left or makes.
  family.disable_auto_compactions = true;
  for (const std::string& name : names) descriptors.emplace_back(name, family);
  return descriptors;
}

// Opens the database at `path` with plain RocksDB, behind the store's back,
// and calls fn with each of its column families.
void EditRawDatabase(const std::string& path,
                     const std::function<void(rocksdb::DB*, rocksdb::ColumnFamilyHandle*)>& fn) {
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), path, RawFamilies(path), &handles, &db).ok());
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    fn(db, h);
    db->DestroyColumnFamilyHandle(h);
  }
  delete db;
}

using RawColumn = std::vector<std::pair<std::string, std::string>>;

// Every key of every column family of the database at `path`, read with
// plain RocksDB (replaying its WAL, as after a kill).
std::map<std::string, RawColumn> RawColumns(const std::string& path) {
  std::map<std::string, RawColumn> out;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s =
      rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), path, RawFamilies(path), &handles, &db);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return out;
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    RawColumn& column = out[h->GetName()];
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), h));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      column.emplace_back(it->key().ToString(), it->value().ToString());
    }
    db->DestroyColumnFamilyHandle(h);
  }
  delete db;
  return out;
}

void ExpectSamePoints(const std::vector<ForecastPoint>& want,
                      const std::vector<ForecastPoint>& got) {
  ASSERT_EQ(Times(want), Times(got));
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(want[i].value, got[i].value) << "t=" << want[i].timestamp_ms;
    EXPECT_EQ(want[i].yhat, got[i].yhat);
    EXPECT_EQ(want[i].yhat_lower, got[i].yhat_lower);
    EXPECT_EQ(want[i].yhat_upper, got[i].yhat_upper);
    EXPECT_EQ(want[i].anomaly_score, got[i].anomaly_score);
    EXPECT_EQ(want[i].anomaly, got[i].anomaly);
  }
}

bool StrictlyIncreasing(const std::vector<ForecastPoint>& points) {
  for (size_t i = 1; i < points.size(); ++i) {
    if (points[i].timestamp_ms <= points[i - 1].timestamp_ms) return false;
  }
  return true;
}

TEST(StoreBlocks, FullBlocksBecomeOneKeyEachAndTheOpenOneStaysInTheLogAtClose) {
  TempDir dir;
  const StoreOptions options = SmallBlocks(dir.path(), 10);
  std::vector<ForecastPoint> written;
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    WriteBatch batch;
    for (int64_t t = 0; t < 100; ++t) {
      written.push_back(Point(t * 15000, static_cast<double>(t) * 0.25));
      batch.PutPoint(3, written.back());
      if (t % 7 == 6) WriteOrDie(*store, batch);
    }
    WriteOrDie(*store, batch);
    ExpectSamePoints(written, Scan(*store, 3));
  }
  std::map<std::string, RawColumn> raw = RawColumns(dir.path());
  EXPECT_FALSE(raw["log"].empty()) << "the open points are kept in the log at a clean close";
  const RawColumn& blocks = raw["blocks"];
  // Sealed at the end of the write that fills them: 14 points (two writes
  // of 7) each; the last 2 points are open, not sealed by the close.
  EXPECT_EQ(blocks.size(), 7u);
  size_t points = 0;
  for (const auto& [key, value] : blocks) {
    std::vector<ForecastPoint> block;
    ASSERT_TRUE(DecodeBlock(value, &block));
    EXPECT_EQ(DecodePointKeyTime(key), block.back().timestamp_ms);  // keyed by the last point
    points += block.size();
  }
  EXPECT_EQ(points, written.size() - 2);
  std::unique_ptr<Store> store = OpenOrDie(options);
  ExpectSamePoints(written, Scan(*store, 3));
  ExpectSamePoints({written.begin() + 10, written.begin() + 31},
                   Scan(*store, 3, written[10].timestamp_ms, written[30].timestamp_ms));
}

// A reference of what ScanPoints must return, driven through random writes:
// in order and out of order, overwrites, deletions, with reopens.
TEST(StoreBlocks, MatchesAModelThroughSealsOverwritesDeletionsAndReopens) {
  TempDir dir;
  StoreOptions options = SmallBlocks(dir.path(), 6);
  options.block_max_bytes = 150;
  std::map<uint64_t, std::map<int64_t, ForecastPoint>> model;
  std::map<uint64_t, int64_t> last_t;
  std::mt19937_64 rng(7);
  std::unique_ptr<Store> store = OpenOrDie(options);
  auto check_all = [&](const std::string& when) {
    // All series at once, as chunks of one column, over a random range.
    const int64_t from = static_cast<int64_t>(rng() % 3000);
    const int64_t to = from + static_cast<int64_t>(rng() % 5000);
    std::vector<ChunkScan> scans;
    for (uint64_t id = 0; id < 6; ++id) scans.push_back({.id = id, .start_ms = from, .end_ms = to});
    const std::vector<std::vector<Sample>> got = ScanColumn(*store, scans, Column::kYhat);
    for (uint64_t id = 0; id < 6; ++id) {
      SCOPED_TRACE(when + " chunks of series " + std::to_string(id));
      std::vector<Sample> want;
      for (const auto& [t, p] : model[id]) {
        if (t >= from && t <= to) want.emplace_back(t, p.yhat);
      }
      EXPECT_EQ(got[id], want);
    }
    for (uint64_t id = 0; id < 6; ++id) {
      SCOPED_TRACE(when + " series " + std::to_string(id));
      std::vector<ForecastPoint> want;
      for (const auto& [t, p] : model[id]) want.push_back(p);
      ExpectSamePoints(want, Scan(*store, id));
      if (want.empty()) continue;
      const int64_t from = want[rng() % want.size()].timestamp_ms - 1 + rng() % 3;
      const int64_t to = from + static_cast<int64_t>(rng() % 2000);
      std::vector<ForecastPoint> part;
      for (const ForecastPoint& p : want) {
        if (p.timestamp_ms >= from && p.timestamp_ms <= to) part.push_back(p);
      }
      ExpectSamePoints(part, Scan(*store, id, from, to));
    }
  };
  for (int round = 0; round < 300; ++round) {
    WriteBatch batch;
    const int ops = 1 + static_cast<int>(rng() % 20);
    for (int i = 0; i < ops; ++i) {
      const uint64_t id = rng() % 6;
      const uint64_t kind = rng() % 100;
      if (kind < 2) {
        batch.DeleteSeries(id);
        model.erase(id);
        continue;
      }
      int64_t t;
      if (kind < 85 || model[id].empty()) {
        t = (last_t[id] += 1 + static_cast<int64_t>(rng() % 100));
      } else {
        // Out of order: an existing time (overwrite) or one between.
        auto it = model[id].begin();
        std::advance(it, static_cast<ptrdiff_t>(rng() % model[id].size()));
        t = it->first - static_cast<int64_t>(rng() % 2);
      }
      const ForecastPoint p = Point(t, static_cast<double>(rng() % 1000) / 8);
      batch.PutPoint(id, p);
      model[id][t] = p;
    }
    WriteOrDie(*store, batch);
    if (round % 10 == 0) check_all("round " + std::to_string(round));
    if (round % 37 == 36) {
      store.reset();
      store = OpenOrDie(options);
      check_all("reopen after round " + std::to_string(round));
    }
  }
  check_all("end");
}

// Children write batches that touch 20 of 50 series, 3 points each, with
// blocks of 7 points, so seals happen in nearly every batch; the kill lands
// between seals. Every acknowledged point is there exactly once, and the
// batch in flight is all or nothing.
TEST(Store, AcknowledgedWritesSurviveKill9BetweenBlockSeals) {
  constexpr int kSeries = 50;
  constexpr int kSeriesPerBatch = 20;
  constexpr int kPointsPerSeries = 3;
  TempDir dir;
  const StoreOptions options = SmallBlocks(dir.path(), 7);
  auto series_of = [](int32_t b, int k) { return static_cast<uint64_t>((b * 7 + k) % kSeries); };
  WriteBatch batch;
  const int32_t last_ack = WriteUntilKilled(options, 100000, 400, [&](Store& store, int32_t b) {
    for (int k = 0; k < kSeriesPerBatch; ++k) {
      for (int j = 0; j < kPointsPerSeries; ++j) {
        batch.PutPoint(series_of(b, k), Point(int64_t{b} * 10 + j, b));
      }
    }
    return store.Write(&batch).ok();
  });
  ASSERT_GE(last_ack, 399);
  for (int reopen = 0; reopen < 2; ++reopen) {
    SCOPED_TRACE(reopen == 0 ? "after the kill" : "after a clean reopen");
    std::unique_ptr<Store> store = OpenOrDie(options);
    ASSERT_NE(store, nullptr);
    std::map<int64_t, int> points_per_batch;
    for (uint64_t id = 0; id < kSeries; ++id) {
      const std::vector<ForecastPoint> points = Scan(*store, id);
      ASSERT_TRUE(StrictlyIncreasing(points)) << "series " << id;
      for (const ForecastPoint& p : points) {
        const int64_t b = p.timestamp_ms / 10;
        ASSERT_EQ(p.value, static_cast<double>(b));
        bool in_batch = false;
        for (int k = 0; k < kSeriesPerBatch; ++k) in_batch |= series_of(b, k) == id;
        ASSERT_TRUE(in_batch) << "series " << id << " has a point of batch " << b;
        ++points_per_batch[b];
      }
    }
    for (int64_t b = 0; b <= last_ack; ++b) {
      ASSERT_EQ(points_per_batch[b], kSeriesPerBatch * kPointsPerSeries)
          << "acknowledged batch " << b << " of " << last_ack;
    }
    ASSERT_LE(points_per_batch.size(), static_cast<size_t>(last_ack) + 2);
    for (const auto& [b, count] : points_per_batch) {
      EXPECT_EQ(count, kSeriesPerBatch * kPointsPerSeries) << "batch " << b;
    }
  }
}

TEST(StoreChunks, SealedBlocksComeAsTheyLieAndTheRestIsEncodedForTheRead) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(SmallBlocks(dir.path(), 10));
  std::vector<ForecastPoint> written;
  WriteBatch batch;
  for (int64_t t = 0; t < 35; ++t) {  // three sealed blocks, five points open
    written.push_back(Point(t * 1000, static_cast<double>(t) * 1.5));
    batch.PutPoint(8, written.back());
    if (t % 10 == 9 || t == 34) WriteOrDie(*store, batch);
  }
  std::vector<ChunkSet> sets;
  std::vector<std::string> chunks;
  const ChunkScan whole{.id = 8, .start_ms = kMin, .end_ms = kMax};
  auto scan = [&](const ChunkScan& scan, ColumnSet columns) {
    sets.clear();
    chunks.clear();
    ASSERT_TRUE(store
                    ->ScanChunks(std::span(&scan, 1), columns,
                                 [&](size_t i, const ChunkSet& set) {
                                   EXPECT_EQ(i, 0u);
                                   sets.push_back(set);
                                   chunks.emplace_back(set.chunks[1]);
                                   return true;
                                 })
                    .ok());
  };
  scan(whole, ColumnBit(Column::kYhat) | ColumnBit(Column::kValue));
  ASSERT_EQ(sets.size(), 4u);
  for (size_t b = 0; b < 4; ++b) {
    SCOPED_TRACE(b);
    const size_t end = std::min<size_t>(written.size(), (b + 1) * 10);
    // Each yhat chunk is the Prometheus chunk of the block's yhat values.
    XorChunkEncoder want;
    for (size_t i = b * 10; i < end; ++i) want.Append(written[i].timestamp_ms, written[i].yhat);
    EXPECT_EQ(chunks[b], want.bytes());
    EXPECT_EQ(sets[b].count, end - b * 10);
    EXPECT_EQ(sets[b].min_time_ms, written[b * 10].timestamp_ms);
    EXPECT_EQ(sets[b].max_time_ms, written[end - 1].timestamp_ms);
    EXPECT_TRUE(sets[b].Within());
  }
  // A range cutting into blocks gives them whole, with the range to cut at.
  scan({.id = 8, .start_ms = 5000, .end_ms = 32000}, ColumnBit(Column::kYhat));
  ASSERT_EQ(sets.size(), 4u);
  EXPECT_FALSE(sets[0].Within());
  EXPECT_TRUE(sets[1].Within());
  EXPECT_FALSE(sets[3].Within());
  EXPECT_EQ(sets[0].from_ms, 5000);
  EXPECT_EQ(sets[3].to_ms, 32000);
  EXPECT_TRUE(sets[0].chunks[0].empty());  // only the columns asked for
  // A range after the sealed blocks reads the open block alone.
  scan({.id = 8, .start_ms = 30000, .end_ms = kMax}, ColumnBit(Column::kYhat));
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_EQ(sets[0].count, 5u);
  // Points written out of order into sealed time come merged, newest first
  // wins: the whole stretch from the first overlapped block is re-encoded.
  batch.PutPoint(8, Point(12000, 99));
  WriteOrDie(*store, batch);
  std::vector<Sample> want;
  for (const ForecastPoint& p : written) want.emplace_back(p.timestamp_ms, p.yhat);
  want[12].second = Point(12000, 99).yhat;
  EXPECT_EQ(ScanColumn(*store, std::span(&whole, 1), Column::kYhat)[0], want);
}

// Written in order, a range starting in the open block is read from memory;
// one starting earlier, or a series not promised in order, from disk too.
TEST(StoreChunks, ARangeStartingInTheOpenBlockOfASeriesWrittenInOrderSkipsTheDisk) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(SmallBlocks(dir.path(), 10));
  WriteBatch batch;
  for (int64_t t = 0; t < 35; ++t) {  // three sealed blocks, 30..34 open
    batch.PutPoint(8, Point(t * 1000, static_cast<double>(t)));
    if (t % 10 == 9 || t == 34) WriteOrDie(*store, batch);
  }
  for (const int64_t start : {kMin, int64_t{25000}, int64_t{30000}, int64_t{32000}}) {
    SCOPED_TRACE(start);
    const ChunkScan plain{.id = 8, .start_ms = start, .end_ms = kMax};
    ChunkScan in_order = plain;
    in_order.written_in_order = true;
    const std::vector<Sample> want = ScanColumn(*store, std::span(&plain, 1), Column::kValue)[0];
    ASSERT_EQ(want.size(), static_cast<size_t>(35 - std::max<int64_t>(start, 0) / 1000));
    EXPECT_EQ(ScanColumn(*store, std::span(&in_order, 1), Column::kValue)[0], want);
  }
  // The promise is trusted, not checked: series 9 is sealed at 100..109 s,
  // then gets 50 s. From 50 s, the disk holds later points that a scan
  // promised in order does not look for.
  for (int64_t t = 100; t < 110; ++t) batch.PutPoint(9, Point(t * 1000, 1));
  WriteOrDie(*store, batch);
  batch.PutPoint(9, Point(50000, 2));
  WriteOrDie(*store, batch);
  const ChunkScan plain{.id = 9, .start_ms = 50000, .end_ms = kMax};
  ChunkScan in_order = plain;
  in_order.written_in_order = true;
  EXPECT_EQ(ScanColumn(*store, std::span(&plain, 1), Column::kValue)[0].size(), 11u);
  EXPECT_EQ(ScanColumn(*store, std::span(&in_order, 1), Column::kValue)[0],
            (std::vector<Sample>{{50000, 2}}));
}

size_t SstFiles(const std::string& path) {
  size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(path)) {
    n += entry.path().extension() == ".sst";
  }
  return n;
}

// A restart's load only reads: compactions wait for the first Write after
// Open, so that it has the cores. Shown with more files in level 0 of the
// series family than start a compaction (4), made behind the store's back.
TEST(StoreCompactions, WaitForTheFirstWriteAfterOpen) {
  TempDir dir;
  const StoreOptions options = OptionsFor(dir.path());
  OpenOrDie(options).reset();  // creates the column families
  EditRawDatabase(dir.path(), [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* h) {
    if (h->GetName() != "series") return;
    // Each file holds both ids, so a compaction merges them (files that do
    // not overlap are moved to the next level as they are).
    for (int copy = 0; copy < 10; ++copy) {
      for (uint64_t id : {1, 2}) {
        ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), h, EncodeIdKey(id), "labels").ok());
      }
      ASSERT_TRUE(db->Flush(rocksdb::FlushOptions(), h).ok());
    }
  });
  const size_t left = SstFiles(dir.path());
  ASSERT_GE(left, 10u);
  std::unique_ptr<Store> store = OpenOrDie(options);
  std::vector<uint64_t> ids;
  auto collect = [&ids](uint64_t id, std::string_view, std::string_view) { ids.push_back(id); };
  ASSERT_TRUE(store->ForEachSeries(collect).ok());
  EXPECT_EQ(ids, (std::vector<uint64_t>{1, 2}));
  // A compaction of files this small takes milliseconds once started.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(SstFiles(dir.path()), left);
  WriteBatch batch;
  batch.PutPoint(11, Point(0, 1));
  WriteOrDie(*store, batch);
  for (int i = 0; i < 200 && SstFiles(dir.path()) >= left; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_LT(SstFiles(dir.path()), left);
}

// The blocks Open saw sealed in the log it replayed are read from memory by
// a scan written in order that starts in them, until the first Write. Shown
// by deleting them from disk behind the store's back.
TEST(StoreChunks, BlocksSealedInTheReplayedLogAreReadFromMemoryUntilTheFirstWrite) {
  TempDir dir;
  const StoreOptions options = SmallBlocks(dir.path(), 10);
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    WriteBatch batch;
    // Series 7's open block keeps every log record after its point.
    batch.PutPoint(7, Point(0, 1));
    WriteOrDie(*store, batch);
    for (int64_t t = 0; t < 35; ++t) {  // three sealed blocks, 30..34 open
      batch.PutPoint(8, Point(t * 1000, static_cast<double>(t)));
      if (t % 10 == 9 || t == 34) WriteOrDie(*store, batch);
    }
  }
  EditRawDatabase(dir.path(), [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* h) {
    if (h->GetName() != "blocks") return;
    ASSERT_TRUE(db->DeleteRange(rocksdb::WriteOptions(), h, EncodeIdKey(8), EncodeIdKey(9)).ok());
  });
  std::unique_ptr<Store> store = OpenOrDie(options);
  auto values = [&store](int64_t start, bool in_order) {
    const ChunkScan scan{.id = 8, .start_ms = start, .end_ms = kMax, .written_in_order = in_order};
    const std::vector<Sample> samples = ScanColumn(*store, std::span(&scan, 1), Column::kValue)[0];
    std::vector<int64_t> times;
    for (const Sample& s : samples) {
      times.push_back(s.first / 1000);
      EXPECT_EQ(s.second, static_cast<double>(s.first / 1000));
    }
    return times;
  };
  auto seconds = [](int64_t from, int64_t to) {
    std::vector<int64_t> out;
    for (int64_t t = from; t < to; ++t) out.push_back(t);
    return out;
  };
  // From memory: the replayed blocks from 5 s on, then the open block.
  EXPECT_EQ(values(5000, true), seconds(5, 35));
  EXPECT_EQ(values(0, true), seconds(0, 35));
  EXPECT_EQ(values(31000, true), seconds(31, 35));
  // From disk, where they are gone: not promised in order, or starting
  // before the first replayed point.
  EXPECT_EQ(values(5000, false), seconds(30, 35));
  EXPECT_EQ(values(-1, true), seconds(30, 35));
  // After the first Write, of any series, from disk.
  WriteBatch batch;
  batch.PutPoint(7, Point(1000, 1));
  WriteOrDie(*store, batch);
  EXPECT_EQ(values(5000, true), seconds(30, 35));
}

TEST(StoreOpen, UpgradesAVersion2DatabaseAndReadsItsBlocks) {
  TempDir dir;
  const std::vector<ForecastPoint> old_points = Format2BlockPoints();
  { ASSERT_NE(OpenOrDie(OptionsFor(dir.path())), nullptr); }
  // As the release before left it: marker "2", a block of format 2.
  EditRawDatabase(dir.path(), [&old_points](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* h) {
    if (h->GetName() == "default") {
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), h, "kad:format", "2").ok());
    } else if (h->GetName() == "blocks") {
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), h,
                          EncodePointKey(5, old_points.back().timestamp_ms), kFormat2Block)
                      .ok());
    }
  });
  std::vector<ForecastPoint> all = old_points;
  {
    // Three points fill a block.
    std::unique_ptr<Store> store = OpenOrDie(SmallBlocks(dir.path(), 3));
    ASSERT_NE(store, nullptr);
    ExpectSamePoints(old_points, Scan(*store, 5));
    // New points go into blocks of format 3 after the old one.
    WriteBatch batch;
    for (int i = 1; i <= 3; ++i) {
      all.push_back(Point(old_points.back().timestamp_ms + i * 15000, i));
      batch.PutPoint(5, all.back());
    }
    WriteOrDie(*store, batch);
    ExpectSamePoints(all, Scan(*store, 5));
    std::vector<Sample> yhat;
    for (const ForecastPoint& p : all) yhat.emplace_back(p.timestamp_ms, p.yhat);
    const ChunkScan scan{.id = 5, .start_ms = kMin, .end_ms = kMax};
    EXPECT_EQ(ScanColumn(*store, std::span(&scan, 1), Column::kYhat)[0], yhat);
  }
  std::map<std::string, RawColumn> raw = RawColumns(dir.path());
  bool marked = false;
  for (const auto& [key, value] : raw["default"]) marked |= key == "kad:format" && value == "3";
  EXPECT_TRUE(marked) << "the database is marked version 3 once opened";
  ASSERT_EQ(raw["blocks"].size(), 2u);
  EXPECT_EQ(raw["blocks"][0].second, kFormat2Block);
  EXPECT_EQ(raw["blocks"][1].second[0], kBlockFormatV3);
  std::unique_ptr<Store> store = OpenOrDie(OptionsFor(dir.path()));
  ExpectSamePoints(all, Scan(*store, 5));
}

// One write of more points of a series than a chunk counts (65535): the
// block is sealed on the way, and the log says so in order, so a replay
// after kill -9 rebuilds the open block from the points after the seal.
TEST(StoreBlocks, AWriteOfMorePointsThanAChunkCountsIsSealedOnTheWay) {
  constexpr int64_t kPoints = 70000;
  TempDir dir;
  StoreOptions options = SmallBlocks(dir.path(), kMaxChunkSamples);
  WriteBatch batch;
  const int32_t last_ack = WriteUntilKilled(options, 1, 1, [&](Store& store, int32_t) {
    for (int64_t t = 0; t < kPoints; ++t) batch.PutPoint(2, Point(t, static_cast<double>(t % 50)));
    return store.Write(&batch).ok();
  });
  ASSERT_EQ(last_ack, 0);
  std::map<std::string, RawColumn> raw = RawColumns(dir.path());
  ASSERT_EQ(raw["blocks"].size(), 1u);
  std::vector<ForecastPoint> block;
  ASSERT_TRUE(DecodeBlock(raw["blocks"][0].second, &block));
  EXPECT_EQ(block.size(), static_cast<size_t>(kMaxChunkSamples));
  EXPECT_FALSE(raw["log"].empty());
  std::unique_ptr<Store> store = OpenOrDie(options);
  const std::vector<ForecastPoint> points = Scan(*store, 2);
  ASSERT_EQ(points.size(), static_cast<size_t>(kPoints));
  for (int64_t t = 0; t < kPoints; ++t) {
    ASSERT_EQ(points[t].timestamp_ms, t);
    ASSERT_EQ(points[t].value, static_cast<double>(t % 50));
  }
}

TEST(StoreBlocks, DeleteSeriesRemovesSealedOpenAndLoggedPoints) {
  TempDir dir;
  const StoreOptions options = SmallBlocks(dir.path(), 5);
  // Series 2 gets sealed blocks and an open block; the deletion comes with a
  // point before it (gone) and one after it (kept), in the same batch.
  auto fill = [](Store& store) {
    WriteBatch batch;
    for (int64_t t = 0; t < 23; ++t) {
      batch.PutPoint(1, Point(t, 1));
      batch.PutPoint(2, Point(t, 2));
      if (t % 4 == 3) {
        if (!store.Write(&batch).ok()) return false;
      }
    }
    if (!store.Write(&batch).ok()) return false;
    batch.PutSeries(2, "labels");
    batch.PutPoint(2, Point(100, 2));
    batch.DeleteSeries(2);
    batch.PutPoint(2, Point(200, 2));
    return store.Write(&batch).ok();
  };
  std::vector<int64_t> all;
  for (int64_t t = 0; t < 23; ++t) all.push_back(t);
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    ASSERT_TRUE(fill(*store));
    EXPECT_EQ(Times(Scan(*store, 2)), (std::vector<int64_t>{200}));
    EXPECT_EQ(Times(Scan(*store, 1)), all);
  }
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    EXPECT_EQ(Times(Scan(*store, 2)), (std::vector<int64_t>{200}));
    EXPECT_EQ(Times(Scan(*store, 1)), all);
    EXPECT_TRUE(AllSeries(*store).empty());
  }
  // The same, killed right after: the deletion is replayed from the log.
  TempDir killed;
  const StoreOptions killed_options = SmallBlocks(killed.path(), 5);
  const int32_t last_ack = WriteUntilKilled(killed_options, 2, 1, [&](Store& store, int32_t i) {
    if (i == 0) return fill(store);
    WriteBatch batch;
    batch.PutPoint(3, Point(0, 3));
    return store.Write(&batch).ok();
  });
  ASSERT_GE(last_ack, 0);
  std::unique_ptr<Store> store = OpenOrDie(killed_options);
  EXPECT_EQ(Times(Scan(*store, 2)), (std::vector<int64_t>{200}));
  EXPECT_EQ(Times(Scan(*store, 1)), all);
}

TEST(StoreBlocks, RetentionDropsSealedBlocksWhoseLastPointExpired) {
  TempDir dir;
  StoreOptions options = SmallBlocks(dir.path(), 5);
  options.retention_ms = 1000;
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    WriteBatch batch;
    // Blocks end at 400, 900, 1400 and 1900.
    for (int64_t t = 0; t < 2000; t += 100) {
      batch.PutPoint(1, Point(t, 1));
      if (t % 500 == 400) WriteOrDie(*store, batch);
    }
    store->SetRetentionNow(2150);  // cutoff 1150
    std::vector<int64_t> live;
    for (int64_t t = 1200; t < 2000; t += 100) live.push_back(t);
    EXPECT_EQ(Times(Scan(*store, 1)), live);
    ASSERT_TRUE(store->Flush().ok());
  }
  EXPECT_EQ(RawColumns(dir.path())["blocks"].size(), 2u);
  // Reopened without a "now": the block that straddles the cutoff is whole.
  options.retention_ms = kMax;
  std::unique_ptr<Store> store = OpenOrDie(options);
  std::vector<int64_t> kept;
  for (int64_t t = 1000; t < 2000; t += 100) kept.push_back(t);
  EXPECT_EQ(Times(Scan(*store, 1)), kept);
}

// A series that stops sending would keep every later log record alive;
// past max_log_bytes the oldest open blocks are sealed early.
TEST(StoreBlocks, SealsStaleSeriesEarlyWhenTheLogGrows) {
  TempDir dir;
  StoreOptions options = SmallBlocks(dir.path(), 1000);
  options.max_log_bytes = 4096;
  const int32_t last_ack = WriteUntilKilled(options, 1000, 400, [](Store& store, int32_t i) {
    WriteBatch batch;
    batch.PutPoint(i == 0 ? 1 : 2, Point(i, 1));
    return store.Write(&batch).ok();
  });
  ASSERT_GE(last_ack, 399);
  std::map<std::string, RawColumn> raw = RawColumns(dir.path());
  size_t log_bytes = 0;
  for (const auto& [key, value] : raw["log"]) log_bytes += value.size();
  EXPECT_LT(log_bytes, 2 * options.max_log_bytes);
  ASSERT_FALSE(raw["blocks"].empty());
  EXPECT_EQ(raw["blocks"].front().first, EncodePointKey(1, 0));  // the stale series, sealed
  std::unique_ptr<Store> store = OpenOrDie(options);
  EXPECT_EQ(Times(Scan(*store, 1)), (std::vector<int64_t>{0}));
  EXPECT_GE(Scan(*store, 2).size(), static_cast<size_t>(last_ack));
  EXPECT_TRUE(StrictlyIncreasing(Scan(*store, 2)));
}

TEST(StoreBlocks, ConcurrentWritersAndReadersSeeOrderedCompleteSeries) {
  constexpr int kWriters = 2;
  constexpr uint64_t kSeriesPerWriter = 40;
  constexpr int kBatches = 150;
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(SmallBlocks(dir.path(), 9));
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      WriteBatch batch;
      for (int64_t b = 0; b < kBatches; ++b) {
        for (uint64_t s = 0; s < kSeriesPerWriter; ++s) {
          for (int64_t j = 0; j < 2; ++j) {
            batch.PutPoint(w * kSeriesPerWriter + s, Point(b * 2 + j, static_cast<double>(b)));
          }
        }
        EXPECT_TRUE(store->Write(&batch).ok());
      }
    });
  }
  std::atomic<int> scans{0};
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      uint64_t id = r;
      while (!done.load()) {
        id = (id + 7) % (kWriters * kSeriesPerWriter);
        const std::vector<ForecastPoint> points = Scan(*store, id);
        // A prefix of what the writer wrote: times 0, 1, 2, ... without gaps.
        for (size_t i = 0; i < points.size(); ++i) {
          ASSERT_EQ(points[i].timestamp_ms, static_cast<int64_t>(i)) << "series " << id;
          ASSERT_EQ(points[i].value, static_cast<double>(i / 2));
        }
        ++scans;
      }
    });
  }
  for (int w = 0; w < kWriters; ++w) threads[w].join();
  done = true;
  for (size_t i = kWriters; i < threads.size(); ++i) threads[i].join();
  EXPECT_GT(scans.load(), 0);
  for (uint64_t id = 0; id < kWriters * kSeriesPerWriter; ++id) {
    EXPECT_EQ(Scan(*store, id).size(), static_cast<size_t>(kBatches) * 2);
  }
}

}  // namespace
}  // namespace kad::storage
