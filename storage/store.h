// The RocksDB that holds everything the adapter must not forget:
//   series  id -> output label set (opaque bytes, written by the adapter)
//   state   id -> the latest model checkpoint of that series (opaque bytes)
//   blocks  (id, time of the block's last point) -> a compressed block of
//           that series' forecast points (storage/block_codec.h), dropped
//           once its last point is older than the retention
//   log     sequence number -> the points of one Write, kept until all of
//           them live in sealed blocks (replayed at Open)
//   locks   activity lock key -> value (opaque bytes, written by the
//           activity engine)
//   runs    sequence number -> activity run record (opaque bytes), bounded
//
// Series ids are chosen by the caller (sequential, never reused).
// A WriteBatch is applied atomically and, once Write() returns OK, survives
// kill -9 (the RocksDB WAL is written before it returns; `sync_writes` adds
// an fsync for power loss).
//
// Points are not a key each: every series has an open block in memory that
// Write appends to; a block is sealed into one `blocks` key when it holds
// `block_max_points` points or `block_max_bytes` bytes, on Flush and at
// close. Durability comes from the log: each Write puts one record with all
// its points; records are deleted once every point in them is sealed, and
// the rest are replayed into the open blocks at Open.
//
// Compactions are off from Open until the first Write: a restart's load
// only reads, and has the cores to itself.
//
// Thread-safe: Write, Scan*, ForEach* and the lock and run methods may be
// called concurrently. Writes are applied one at a time (one mutex for the
// whole Write); readers only wait while a Write changes the open blocks in
// memory, never during its disk write.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kad::storage {

// One forecast point: the actual sample and what the model said about it
// before seeing it.
struct ForecastPoint {
  int64_t timestamp_ms = 0;
  double value = 0;
  double yhat = 0;
  double yhat_lower = 0;
  double yhat_upper = 0;
  double anomaly_score = 0;
  bool anomaly = false;
  bool operator==(const ForecastPoint&) const = default;
};

// The values of a point as the blocks keep them: one Prometheus XOR chunk
// per column (the anomaly flag as 0 or 1), over the same timestamps.
enum class Column : uint8_t { kValue, kYhat, kYhatLower, kYhatUpper, kAnomaly, kAnomalyScore };
inline constexpr int kNumColumns = 6;
// A set of columns: bit c for Column c.
using ColumnSet = uint8_t;
inline constexpr ColumnSet kAllColumns = (1 << kNumColumns) - 1;
constexpr ColumnSet ColumnBit(Column c) { return static_cast<ColumnSet>(1 << static_cast<int>(c)); }
// A point's values in column order.
inline std::array<double, kNumColumns> ColumnValues(const ForecastPoint& p) {
  return {p.value, p.yhat, p.yhat_lower, p.yhat_upper, p.anomaly ? 1.0 : 0.0, p.anomaly_score};
}
inline double ValueOf(const ForecastPoint& p, Column c) {
  return ColumnValues(p)[static_cast<int>(c)];
}

// A stretch of one series' points, as a Prometheus XOR chunk per column
// (storage/xor_chunk.h), all over the same count points from min_time_ms to
// max_time_ms. The chunks may hold points outside the range read: the ones
// asked for are from_ms <= t <= to_ms (the range, clipped to the retention).
struct ChunkSet {
  int64_t min_time_ms = 0;
  int64_t max_time_ms = 0;
  uint32_t count = 0;
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  // The chunk of each column read; empty for the others. Valid during the
  // call that gives the set.
  std::array<std::string_view, kNumColumns> chunks;

  bool Within() const { return from_ms <= min_time_ms && max_time_ms <= to_ms; }
};

// One series' range of a read (Store::ScanChunks).
struct ChunkScan {
  uint64_t id = 0;
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  // The caller's promise that it wrote this series' points in increasing
  // time, each time once. Every sealed point is then older than the open
  // block's first, so a range that starts in the open block is read from
  // memory alone, without a read of the disk; so is one that starts in the
  // blocks Open saw sealed in the log it replayed, until the first Write
  // (a restart replaying models from their checkpoints). Broken, the
  // sealed points at or after start_ms are missed.
  bool written_in_order = false;
};

struct StoreOptions {
  // Default: "data". Created if missing.
  std::string path = "data";
  // Default: 15 days. Points older than (now - retention) are not returned
  // and are dropped at compaction.
  int64_t retention_ms = int64_t{15} * 24 * 3600 * 1000;
  // Default: false. True fsyncs the WAL on every Write (power-loss safety).
  bool sync_writes = false;
  // Default: 64 MiB. RocksDB block cache.
  size_t block_cache_bytes = size_t{64} << 20;
  // Default: none (discarded). Receives RocksDB's own warnings and errors,
  // one line each, from any thread. They are not written to a LOG file in
  // the data folder: a full disk would break that file first.
  std::function<void(std::string_view line)> log;
  // Default: 120. An open block is sealed (written as one key) once it holds
  // this many points...
  uint32_t block_max_points = 120;
  // Default: 576. ...or this many compressed bytes, whichever comes first:
  // the open blocks are RAM per series (about 30-40 bytes per point for
  // noisy forecasts, far less for steady ones). Each of a block's six
  // chunks starts with about 10 bytes of its own (count, first time and
  // delta): at 512 the blocks took 9% more instructions to store than the
  // format 2 blocks of the same points; at 576, as many (within 1%).
  uint32_t block_max_bytes = 576;
  // Default: 256 MiB. When the log of points not yet sealed exceeds this,
  // the oldest open blocks (series that stopped sending) are sealed early.
  // Bounds the disk the log takes and the replay at Open.
  uint64_t max_log_bytes = uint64_t{256} << 20;

  absl::Status Validate() const;
};

// Writes collected by one owner and applied atomically by Store::Write.
class WriteBatch {
 public:
  WriteBatch();
  ~WriteBatch();
  WriteBatch(WriteBatch&&) noexcept;
  WriteBatch& operator=(WriteBatch&&) noexcept;

  void PutSeries(uint64_t id, std::string_view labels);
  void PutState(uint64_t id, std::string_view state);
  void PutPoint(uint64_t id, const ForecastPoint& point);
  // Removes the series' labels, state and every point (a series that
  // expired), in the same atomic write as the rest of the batch.
  void DeleteSeries(uint64_t id);
  size_t count() const;
  void Clear();

 private:
  friend class Store;
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

class Store {
 public:
  // Opens or creates the database. FailedPrecondition when the folder holds
  // something that is not this project's database (the message says what to
  // do); Unavailable when it is locked by another process or unreadable.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();  // flushes memtables

  // Applies the batch (and clears it). Unavailable on I/O errors (full disk,
  // read-only folder): the caller answers 503 and Prometheus retries. Reads
  // keep working meanwhile, and once a write has failed every later Write
  // first tries to resume the database, so writes succeed again by
  // themselves as soon as the disk has room.
  absl::Status Write(WriteBatch* batch);

  // The last state written for series `id`; NotFound if none was.
  absl::StatusOr<std::string> GetState(uint64_t id) const;

  // Calls fn for every series in id order with its labels and its last
  // state (empty if none was written).
  absl::Status ForEachSeries(const std::function<void(uint64_t id, std::string_view labels,
                                                      std::string_view state)>& fn) const;

  // Calls fn for the points of series `id` with start_ms <= t <= end_ms that
  // are within the retention, in time order, until fn returns false.
  absl::Status ScanPoints(uint64_t id, int64_t start_ms, int64_t end_ms,
                          const std::function<bool(const ForecastPoint&)>& fn) const;
  // The same for several series: fn(i, point) for the points of scans[i],
  // series by series, until fn returns false; one RocksDB iterator for all
  // (as ScanChunks), where a call per series would make one each.
  // Both are for one-off passes (a restart's replay): the blocks they read
  // from disk are not kept in the block cache, where they would only push
  // out those that remote reads come back to. At a million series, a
  // replay that read each series' last blocks took 15% less time so.
  absl::Status ScanPoints(std::span<const ChunkScan> scans,
                          const std::function<bool(size_t scan, const ForecastPoint&)>& fn) const;

  // The points of several series as chunks of the `columns` asked for:
  // calls fn(i, set) for each stretch of series scans[i].id that holds
  // points in [start_ms, end_ms] within the retention, series by series and
  // each in time order, until fn returns false. A stored block comes as it
  // lies (its chunks may reach past the range: see ChunkSet); other points
  // (the open block, blocks of an older format, points written out of
  // order) come as chunks encoded for the read. All the series are read as
  // of one moment, with one RocksDB iterator.
  absl::Status ScanChunks(std::span<const ChunkScan> scans, ColumnSet columns,
                          const std::function<bool(size_t scan, const ChunkSet&)>& fn) const;

  // Activity locks: opaque key -> opaque value, in their own column family.
  // Like Write, an acknowledged PutLock/DeleteLock survives kill -9, so a
  // restart neither reruns a locked activity nor keeps a cleared lock.
  // Unavailable on I/O errors.
  absl::Status PutLock(std::string_view key, std::string_view value);
  absl::Status DeleteLock(std::string_view key);  // OK if absent
  // Calls fn for every lock in key order (bytewise).
  absl::Status ForEachLock(
      const std::function<void(std::string_view key, std::string_view value)>& fn) const;

  // Activity run history: records appended in order with an increasing
  // sequence number (1 for the first record of a database, never reused);
  // after each append only the newest `keep` records remain (older ones are
  // deleted in the same atomic write). InvalidArgument when keep is 0;
  // Unavailable on I/O errors.
  absl::Status AppendRun(std::string_view record, size_t keep);
  // Calls fn for every kept run record, oldest first.
  absl::Status ForEachRun(
      const std::function<void(uint64_t seq, std::string_view record)>& fn) const;

  // Sets "now" for the retention (time is the caller's: tests pass any
  // value). Points older than now_ms - retention_ms are hidden from then on
  // and dropped by later compactions.
  void SetRetentionNow(int64_t now_ms);

  // Bytes on disk (SST files plus live WAL).
  uint64_t SizeBytes() const;

  // Flushes the memtables to SST files (clean shutdown). The open blocks
  // stay in the log, replayed at Open. Sealing them all took 47-53 s at a
  // million series, cut every block short, and left the next start to read
  // each series' last block from disk: ready in 19-23 s instead of 11-14.
  absl::Status Flush();

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  // ScanChunks, with the blocks read from disk kept in the block cache or not.
  absl::Status ScanChunks(std::span<const ChunkScan> scans, ColumnSet columns, bool fill_cache,
                          const std::function<bool(size_t scan, const ChunkSet&)>& fn) const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kad::storage
