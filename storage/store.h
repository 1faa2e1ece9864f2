// The RocksDB that holds everything the adapter must not forget:
//   series  id -> output label set (opaque bytes, written by the adapter)
//   state   id -> the latest model checkpoint of that series (opaque bytes)
//   points  (id, t) -> ForecastPoint, dropped after the retention
//   locks   activity lock key -> value (opaque bytes, written by the
//           activity engine)
//   runs    sequence number -> activity run record (opaque bytes), bounded
//
// Series ids are chosen by the caller (sequential, never reused).
// A WriteBatch is applied atomically and, once Write() returns OK, survives
// kill -9 (the RocksDB WAL is written before it returns; `sync_writes` adds
// an fsync for power loss).
//
// Thread-safe: Write, Scan*, ForEach* and the lock and run methods may be
// called concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
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

  // Flushes memtables to SST files (clean shutdown, faster restart).
  absl::Status Flush();

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kad::storage
