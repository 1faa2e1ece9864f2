#include "storage/store.h"

#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/cache.h"
#include "rocksdb/convenience.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "rocksdb/transaction_log.h"
#include "rocksdb/write_batch.h"
#include "storage/block_codec.h"
#include "storage/codec.h"
#include "storage/db_folder.h"
#include "storage/retention_filter.h"
#include "storage/xor_chunk.h"

namespace kad::storage {
namespace {

// Identifies a database written by this project, and its layout version.
constexpr char kMarkerKey[] = "kad:format";
// Version 1 kept a key per forecast point in a "points" column family;
// version 2 keeps compressed blocks plus a log (see store.h); version 3
// writes its blocks as six XOR chunks (storage/block_codec.h).
constexpr char kFormatVersion[] = "3";
// Opened as it is and marked version 3 from then on: its blocks of format 2
// (storage/block_v2.h) are still read. The release that wrote it then
// refuses the folder instead of failing on blocks it cannot read.
constexpr char kUpgradedVersion[] = "2";
// Default column family: the sequence number of the oldest log record that
// may still hold points not in sealed blocks (older records are deleted).
constexpr char kLogStartKey[] = "kad:log-start";
// The column family of version 1, recognised only to say what to do.
constexpr char kV1PointsColumn[] = "points";

// The column families in the order of Store::Impl::handles. A database
// lacking some of them (written by an older release) gains them at open;
// a column family not listed here marks a database as someone else's.
enum Family : uint8_t {
  kSeries = 0,
  kState = 1,
  kBlocks = 2,
  kLog = 3,
  kLocks = 4,
  kRuns = 5,
  kFamilyCount
};
// Not a family: marks a series deletion record in a WriteBatch.
constexpr uint8_t kDeleteSeries = 0xff;
constexpr std::array<const char*, kFamilyCount> kFamilyNames = {"series", "state", "blocks",
                                                                "log",    "locks", "runs"};

constexpr size_t kMiB = size_t{1} << 20;

std::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

rocksdb::CompressionType FastestSupported() {
  const std::vector<rocksdb::CompressionType> supported = rocksdb::GetSupportedCompressions();
  for (rocksdb::CompressionType type : {rocksdb::kLZ4Compression, rocksdb::kSnappyCompression}) {
    if (std::find(supported.begin(), supported.end(), type) != supported.end()) {
      return type;
    }
  }
  return rocksdb::kNoCompression;
}

// RocksDB's info log, reduced to its warnings and errors and handed to the
// owner's log instead of a file in the data folder.
class ForwardingLogger final : public rocksdb::Logger {
 public:
  explicit ForwardingLogger(std::function<void(std::string_view)> log)
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), log_(std::move(log)) {}

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    if (!log_) return;
    char line[1024];
    const int n = std::vsnprintf(line, sizeof(line), format, ap);
    if (n > 0) log_(std::string_view(line, std::min<size_t>(n, sizeof(line) - 1)));
  }

 private:
  const std::function<void(std::string_view)> log_;
};

// RocksDB starts its timer thread (one per process) in the first DB::Open,
// and a new thread takes its creator's name: the opening thread is called
// after it for the while, so that `top -H` does not show a second thread
// with the process' name. (Its background threads name themselves.)
class NamedAsTimerWhileOpening {
 public:
  NamedAsTimerWhileOpening() {
    pthread_getname_np(pthread_self(), saved_, sizeof(saved_));
    pthread_setname_np(pthread_self(), "rocksdb:timer");
  }
  ~NamedAsTimerWhileOpening() { pthread_setname_np(pthread_self(), saved_); }
  NamedAsTimerWhileOpening(const NamedAsTimerWhileOpening&) = delete;
  NamedAsTimerWhileOpening& operator=(const NamedAsTimerWhileOpening&) = delete;

 private:
  char saved_[16] = {};  // TASK_COMM_LEN
};

rocksdb::DBOptions MakeDbOptions(const StoreOptions& options) {
  rocksdb::DBOptions db;
  db.info_log = std::make_shared<ForwardingLogger>(options.log);
  db.create_if_missing = true;
  // Our column families are created only once the folder is known to hold
  // our database (or nothing), never inside somebody else's.
  db.create_missing_column_families = false;
  db.max_background_jobs = 2;  // the target machine has 2 cores
  // The series CF is written rarely; without a cap its memtable would keep
  // every WAL alive. Reaching the cap flushes it.
  db.max_total_wal_size = 256 * kMiB;
  db.keep_log_file_num = 3;
  db.max_log_file_size = 16 * kMiB;
  db.bytes_per_sync = 1 * kMiB;
  return db;
}

rocksdb::ColumnFamilyOptions MakeFamilyOptions(Family family,
                                               const std::shared_ptr<rocksdb::Cache>& cache,
                                               const std::shared_ptr<RetentionCutoff>& cutoff) {
  rocksdb::ColumnFamilyOptions cf;
  cf.compression = FastestSupported();
  rocksdb::BlockBasedTableOptions table;
  if (cache) {
    table.block_cache = cache;
    table.cache_index_and_filter_blocks = true;
    table.pin_l0_filter_and_index_blocks_in_cache = true;
    // A file's whole filter or index is megabytes at a million series: more
    // than a cache shard holds, so it was read again (and checksummed) for
    // every seek, 55 us per series and most of a restart. Partitioned, a
    // seek reads one 4 KiB partition, which the cache keeps.
    table.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
    table.partition_filters = true;
    table.metadata_block_size = 4096;
    table.pin_top_level_index_and_filter = true;
  } else {
    table.no_block_cache = true;
  }
  if (family == kBlocks) {
    cf.write_buffer_size = 32 * kMiB;
    // The blocks are compressed already: LZ4 took 3% of the ingest CPU, in
    // flushes and compactions, to save 0.2% of the disk.
    cf.compression = rocksdb::kNoCompression;
    // Every read of blocks is a scan of one series: a bloom filter on the
    // 8-byte id prefix lets a scan skip files without that series.
    cf.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(kIdKeySize));
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.whole_key_filtering = false;
    cf.compaction_filter_factory = std::make_shared<RetentionFilterFactory>(cutoff);
    // Files nobody compacts would keep expired points forever; this makes
    // RocksDB pass every file through the retention filter at least daily.
    cf.periodic_compaction_seconds = 24 * 3600;
  } else if (family == kLog) {
    // Records live until their series seal, then a range deletion drops
    // them. That is longer than a memtable takes to fill (about a second
    // at a million points/s), so they reach a file whatever its size:
    // 32 MiB held 45-50 MB less memory at 100,000 series than 64 MiB, for
    // the same ingest CPU within the noise. Already compressed as raw
    // doubles would not gain much, and it is read once, at Open.
    cf.write_buffer_size = 32 * kMiB;
    cf.compression = rocksdb::kNoCompression;
  } else if (family == kState) {
    cf.write_buffer_size = 16 * kMiB;
    // A checkpoint rewrites the state of every series that changed, so each
    // merge of level 0 into level 1 rewrites the whole family to drop the
    // versions before. Merging at 8 files instead of 4 drops twice as many
    // each time: 40 s of load with checkpoints of 100,000 series every 5 s
    // took 20.6 instead of 24.2 CPU-s (medians of 5 runs each; 13.8 without
    // checkpoints).
    cf.level0_file_num_compaction_trigger = 8;
  } else {
    // series, locks, runs: small and rarely written.
    cf.write_buffer_size = 4 * kMiB;
  }
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Until the first Write (Store::Impl::written).
  cf.disable_auto_compactions = true;
  return cf;
}

// For the scans of whole column families at startup (the log, the series
// and their states). Read a 4 KiB block at a time, the thread that replays
// the log and reads a million series took 5.2-7.0 CPU-s until ready; read
// 4 MiB at a time, 3.6-4.2.
constexpr size_t kStartupReadahead = 4 * kMiB;

// Maps a RocksDB status from a read, a write or a flush.
absl::Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return absl::OkStatus();
  std::string message = absl::StrCat(what, ": ", s.ToString());
  // Full disk, read-only folder, stopped background work: a retry after the
  // operator fixes it can succeed.
  if (s.IsIOError() || s.IsBusy() || s.IsTimedOut() || s.IsTryAgain() || s.IsShutdownInProgress()) {
    return absl::UnavailableError(std::move(message));
  }
  if (s.IsCorruption()) return absl::DataLossError(std::move(message));
  return absl::InternalError(std::move(message));
}

constexpr char kWhatToDo[] =
    "point --storage.path at an empty folder or at this adapter's data folder";

// Maps a RocksDB status from opening the database at `path`.
absl::Status FromRocksOpen(const rocksdb::Status& s, const std::string& path) {
  const std::string detail = s.ToString();
  if (s.IsIOError() && absl::StrContains(absl::AsciiStrToLower(detail), "lock")) {
    return absl::UnavailableError(
        absl::StrCat("storage path ", path,
                     " is in use by another process (another adapter running on the same "
                     "folder?); stop it or use another --storage.path: ",
                     detail));
  }
  if (s.IsCorruption()) {
    return absl::FailedPreconditionError(
        absl::StrCat("database at ", path, " is corrupt (", detail,
                     "); restore it from a backup, or move it away and start with an empty "
                     "folder (models will relearn)"));
  }
  if (s.IsInvalidArgument() || s.IsNotSupported()) {
    // A comparator, merge operator or option this build does not know:
    // someone else's database.
    return absl::FailedPreconditionError(absl::StrCat("storage path ", path,
                                                      " holds a RocksDB this adapter cannot open (",
                                                      detail, "); ", kWhatToDo));
  }
  return absl::UnavailableError(absl::StrCat("cannot open database at ", path, ": ", detail));
}

absl::Status ForeignDatabase(const std::string& path, const std::string& why) {
  return absl::FailedPreconditionError(absl::StrCat("storage path ", path,
                                                    " holds a RocksDB that is not this adapter's (",
                                                    why, "); ", kWhatToDo));
}

}  // namespace

absl::Status StoreOptions::Validate() const {
  if (path.empty()) {
    return absl::InvalidArgumentError("storage path is empty; set --storage.path to a folder");
  }
  if (retention_ms <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("storage retention must be positive, got ", retention_ms, " ms"));
  }
  if (block_max_points == 0 || block_max_bytes == 0 || max_log_bytes == 0) {
    return absl::InvalidArgumentError(
        "storage block_max_points, block_max_bytes and max_log_bytes must be positive");
  }
  if (block_max_points > kMaxChunkSamples) {
    return absl::InvalidArgumentError(absl::StrCat("storage block_max_points must be at most ",
                                                   kMaxChunkSamples, ", got ", block_max_points));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// WriteBatch: labels, state and deletions are kept in one buffer,
// independent of any Store (the RocksDB column family handles only exist
// once a Store is open):
//   column (1 byte) | id key (8 bytes) | value size (4 bytes LE) | value
// A series deletion is the record kDeleteSeries | id key, with no size or
// value. Points go to their own list, in order with the deletions (which
// appear in both), since a deletion removes the points written before it.

struct WriteBatch::Rep {
  struct PointOp {
    uint64_t id;
    ForecastPoint point;
    bool is_delete;
  };
  std::string records;
  std::vector<PointOp> points;
  size_t count = 0;

  void Add(Family family, std::string_view key, std::string_view value) {
    records.push_back(static_cast<char>(family));
    records.append(key);
    const auto size = static_cast<uint32_t>(value.size());
    for (int shift = 0; shift < 32; shift += 8) {
      records.push_back(static_cast<char>((size >> shift) & 0xff));
    }
    records.append(value);
    ++count;
  }
};

WriteBatch::WriteBatch() : rep_(std::make_unique<Rep>()) {}
WriteBatch::~WriteBatch() = default;
WriteBatch::WriteBatch(WriteBatch&&) noexcept = default;
WriteBatch& WriteBatch::operator=(WriteBatch&&) noexcept = default;

void WriteBatch::PutSeries(uint64_t id, std::string_view labels) {
  rep_->Add(kSeries, EncodeIdKey(id), labels);
}

void WriteBatch::PutState(uint64_t id, std::string_view state) {
  rep_->Add(kState, EncodeIdKey(id), state);
}

void WriteBatch::PutPoint(uint64_t id, const ForecastPoint& point) {
  rep_->points.push_back({id, point, false});
  ++rep_->count;
}

void WriteBatch::DeleteSeries(uint64_t id) {
  rep_->records.push_back(static_cast<char>(kDeleteSeries));
  rep_->records.append(EncodeIdKey(id));
  rep_->points.push_back({id, ForecastPoint(), true});
  ++rep_->count;
}

size_t WriteBatch::count() const { return rep_->count; }

void WriteBatch::Clear() {
  rep_->records.clear();
  rep_->points.clear();
  rep_->count = 0;
}

// ---------------------------------------------------------------------------
// Log records: kLogFormatV1, then entries, each a tag byte and the series id
// as a zigzag varint delta from the previous entry's id:
//   kLogPoint / kLogPointAnomaly: timestamp as a zigzag varint delta from the
//     previous point of the record (modulo 2^64), then value, yhat,
//     yhat_lower, yhat_upper, anomaly_score as 8-byte little-endian doubles.
//   kLogReset: the series' open block was emptied here (sealed or deleted):
//     replay starts a new one, keeping what it collected so far as the
//     series' newest sealed points (Store::Impl::replayed).
// Points of one series appear in the order they were written; resets of a
// Write's seals come after all of its points.

namespace {

constexpr char kLogFormatV1 = 1;
// The doubles of a log point: value, yhat, yhat_lower, yhat_upper,
// anomaly_score.
constexpr int kLogDoubles = 5;
constexpr uint8_t kLogPoint = 0;
constexpr uint8_t kLogPointAnomaly = 1;
constexpr uint8_t kLogReset = 2;
static_assert(std::endian::native == std::endian::little, "log doubles are copied as they lie");

class LogWriter {
 public:
  void Start(std::string* out) {
    out_ = out;
    out_->clear();
    out_->push_back(kLogFormatV1);
    last_id_ = 0;
    last_t_ = 0;
    entries_ = 0;
  }
  void Point(uint64_t id, const ForecastPoint& p) {
    Tag(p.anomaly ? kLogPointAnomaly : kLogPoint, id);
    AppendVarint(ZigZag(static_cast<int64_t>(static_cast<uint64_t>(p.timestamp_ms) -
                                             static_cast<uint64_t>(last_t_))),
                 out_);
    last_t_ = p.timestamp_ms;
    const double values[kLogDoubles] = {p.value, p.yhat, p.yhat_lower, p.yhat_upper,
                                        p.anomaly_score};
    out_->append(reinterpret_cast<const char*>(values), sizeof(values));
  }
  void Reset(uint64_t id) { Tag(kLogReset, id); }
  size_t entries() const { return entries_; }

 private:
  void Tag(uint8_t tag, uint64_t id) {
    out_->push_back(static_cast<char>(tag));
    AppendVarint(ZigZag(static_cast<int64_t>(id - last_id_)), out_);
    last_id_ = id;
    ++entries_;
  }

  std::string* out_ = nullptr;
  uint64_t last_id_ = 0;
  int64_t last_t_ = 0;
  size_t entries_ = 0;
};

// Calls point(id, p) and reset(id) for the entries of a log record in order;
// false if the record is malformed.
template <typename OnPoint, typename OnReset>
bool ReadLogRecord(std::string_view record, OnPoint&& point, OnReset&& reset) {
  if (record.empty() || record[0] != kLogFormatV1) return false;
  record.remove_prefix(1);
  uint64_t id = 0;
  int64_t t = 0;
  while (!record.empty()) {
    const auto tag = static_cast<uint8_t>(record[0]);
    record.remove_prefix(1);
    uint64_t v = 0;
    if (!ReadVarint(&record, &v)) return false;
    id += static_cast<uint64_t>(UnZigZag(v));
    if (tag == kLogReset) {
      reset(id);
      continue;
    }
    if (tag != kLogPoint && tag != kLogPointAnomaly) return false;
    if (!ReadVarint(&record, &v) || record.size() < kLogDoubles * 8) return false;
    t = static_cast<int64_t>(static_cast<uint64_t>(t) + static_cast<uint64_t>(UnZigZag(v)));
    double values[kLogDoubles];
    std::memcpy(values, record.data(), sizeof(values));
    record.remove_prefix(sizeof(values));
    ForecastPoint p;
    p.timestamp_ms = t;
    p.value = values[0];
    p.yhat = values[1];
    p.yhat_lower = values[2];
    p.yhat_upper = values[3];
    p.anomaly_score = values[4];
    p.anomaly = tag == kLogPointAnomaly;
    point(id, p);
  }
  return true;
}

enum class SealedEnd : uint8_t {
  kUnknown,  // not looked up since Open
  kNone,     // the series has no sealed block
  kKnown,    // OpenSeries::sealed_end is the last sealed point's time
};

// The open block of one series and what a Write needs to know about its
// sealed blocks. Owned by Store::Impl::open.
struct OpenSeries {
  uint64_t id = 0;
  OpenBlock block;
  // How many points of `block` (of *shadow while it is set) readers see: a
  // Write's points become visible once they are on disk.
  uint32_t published = 0;
  // Set while an unfinished Write rewrites `block` (an out-of-order point,
  // a deletion, a seal in the middle of the Write): what readers see
  // meanwhile, and what a failed Write restores.
  std::unique_ptr<OpenBlock> shadow;
  SealedEnd sealed_state = SealedEnd::kUnknown;
  int64_t sealed_end = 0;
  // The log record of the oldest point in `block`, 0 when empty; the open
  // series with points form a list in this order (oldest first).
  uint64_t first_seq = 0;
  OpenSeries* older = nullptr;
  OpenSeries* newer = nullptr;
  // The last Write that touched this series, and its entry in
  // Store::Impl::touched.
  uint64_t touched_epoch = 0;
  uint32_t touched_index = 0;

  // Adds p (replacing a point with the same timestamp).
  void Add(const ForecastPoint& p) {
    if (block.count() == 0 || p.timestamp_ms > block.last_timestamp()) {
      block.Append(p);
      return;
    }
    std::vector<ForecastPoint> points;
    block.Decode(block.count(), &points);
    auto it =
        std::lower_bound(points.begin(), points.end(), p.timestamp_ms,
                         [](const ForecastPoint& a, int64_t t) { return a.timestamp_ms < t; });
    if (it != points.end() && it->timestamp_ms == p.timestamp_ms) {
      *it = p;
    } else {
      points.insert(it, p);
    }
    block.Clear();
    for (const ForecastPoint& q : points) block.Append(q);
  }

  // Keeps what readers see while a Write rewrites the block.
  void KeepShadow() {
    if (shadow == nullptr) shadow = std::make_unique<OpenBlock>(block);
  }
};

// What a Write changed in one series, to publish or undo it.
struct Touched {
  OpenSeries* s;
  OpenBlock::Mark saved;
  SealedEnd saved_state;
  int64_t saved_end;
  bool created;
  bool reset = false;  // emptied during the Write (a deletion, a seal)
  bool seal = false;   // to be emptied once the Write is on disk
  SealedEnd new_state = SealedEnd::kUnknown;
  int64_t new_end = 0;
};

}  // namespace

// ---------------------------------------------------------------------------

struct Store::Impl {
  StoreOptions options;
  std::shared_ptr<RetentionCutoff> cutoff = std::make_shared<RetentionCutoff>();
  rocksdb::DB* db = nullptr;
  rocksdb::ColumnFamilyHandle* default_cf = nullptr;
  std::array<rocksdb::ColumnFamilyHandle*, kFamilyCount> handles{};
  rocksdb::WriteOptions write_options;
  // Set by a failed write: RocksDB then refuses writes until resumed.
  std::atomic<bool> write_failed{false};

  // Appends to the run history are serialized so sequence numbers reach
  // RocksDB in order and each prune deletes a range no earlier prune did.
  absl::Mutex runs_mu;
  // The sequence number of the next run record.
  uint64_t next_run ABSL_GUARDED_BY(runs_mu) = 1;
  // No run record older than this exists (the start of the next prune).
  uint64_t oldest_run ABSL_GUARDED_BY(runs_mu) = 1;

  // Held for a whole Write (and Flush): log records are numbered, and open
  // blocks changed, in the order the writes reach RocksDB, and a failed
  // write can be undone.
  absl::Mutex write_mu ABSL_ACQUIRED_BEFORE(mem_mu);
  // Held by a Write while it changes open blocks (not during its disk
  // write) and by readers while they copy one.
  mutable absl::Mutex mem_mu;
  absl::flat_hash_map<uint64_t, std::unique_ptr<OpenSeries>> open ABSL_GUARDED_BY(mem_mu);
  // The open series with points, oldest first_seq first.
  OpenSeries* oldest ABSL_GUARDED_BY(write_mu) = nullptr;
  OpenSeries* newest ABSL_GUARDED_BY(write_mu) = nullptr;
  uint64_t next_seq ABSL_GUARDED_BY(write_mu) = 1;
  // Counts Apply calls, to know which series the current one touched.
  uint64_t epoch ABSL_GUARDED_BY(write_mu) = 0;
  // Log records below this are deleted (or being deleted by the next write).
  uint64_t log_deleted_to ABSL_GUARDED_BY(write_mu) = 1;
  uint64_t log_delete_to ABSL_GUARDED_BY(write_mu) = 1;
  // Sizes of the records not deleted, oldest first, and their sum.
  std::deque<std::pair<uint64_t, uint32_t>> live_log ABSL_GUARDED_BY(write_mu);
  uint64_t live_log_bytes ABSL_GUARDED_BY(write_mu) = 0;
  // Scratch reused across writes.
  std::vector<Touched> touched ABSL_GUARDED_BY(write_mu);
  // AddPoints' open series of the write's points, kept to reuse the memory.
  std::vector<OpenSeries*> found_open ABSL_GUARDED_BY(write_mu);
  // The blocks ReplayLog saw sealed (in the log records kept for the open
  // blocks), oldest first, per series: its newest sealed points, right up
  // to its open block. They are on disk too, but a scan written in order
  // that starts within them is read from memory: a restart replays each
  // series from its checkpoint, which is often older than its last seal,
  // and a seek per series took a third of a restart after kill -9. Freed
  // by the first Write (a seal would come between them and the open block).
  // A deleted series' reset reads like a seal: its entry is never read (ids
  // are not reused).
  absl::flat_hash_map<uint64_t, std::vector<OpenBlock>> replayed ABSL_GUARDED_BY(mem_mu);
  // Whether a Write came since Open. The first one ends what Open set up
  // for a restart's load: it frees `replayed` and starts compactions, off
  // until then (nothing is added before it, and the load, all reads, has the
  // cores; at a million series, merging the files the last run left took a
  // fifth of them).
  bool written ABSL_GUARDED_BY(write_mu) = false;
  std::string log_record ABSL_GUARDED_BY(write_mu);

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  ~Impl() {
    if (db == nullptr) return;
    // Best effort: a destructor cannot report. Callers wanting the status
    // call Store::Flush first; the synced WAL covers a failure.
    // After a failed write RocksDB must not touch the broken WAL again; what
    // was acknowledged is in it (or in the log) already.
    if (!write_failed.load()) {
      db->FlushWAL(/*sync=*/true).PermitUncheckedError();
      FlushAll().PermitUncheckedError();
    }
    for (rocksdb::ColumnFamilyHandle* h : handles) {
      if (h != nullptr) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    if (default_cf != nullptr) {
      db->DestroyColumnFamilyHandle(default_cf).PermitUncheckedError();
    }
    db->Close().PermitUncheckedError();
    delete db;
  }

  rocksdb::Status FlushAll() {
    std::vector<rocksdb::ColumnFamilyHandle*> all;
    for (rocksdb::ColumnFamilyHandle* h : handles) {
      if (h != nullptr) all.push_back(h);
    }
    if (default_cf != nullptr) all.push_back(default_cf);
    rocksdb::FlushOptions flush;
    flush.wait = true;
    return db->Flush(flush, all);
  }

  bool HasAnyKey() const {
    std::vector<rocksdb::ColumnFamilyHandle*> all = {default_cf};
    for (rocksdb::ColumnFamilyHandle* h : handles) {
      if (h != nullptr) all.push_back(h);
    }
    for (rocksdb::ColumnFamilyHandle* h : all) {
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), h));
      it->SeekToFirst();
      // An unreadable database is treated as non-empty: refusing is safer
      // than adopting it.
      if (it->Valid() || !it->status().ok()) return true;
    }
    return false;
  }

  // Adds to `write` the deletion of the labels, state and sealed blocks of
  // the series with this id key.
  rocksdb::Status DeleteSeriesKeys(std::string_view id_key, rocksdb::WriteBatch* write) {
    const rocksdb::Slice key(id_key.data(), id_key.size());
    rocksdb::Status s = write->Delete(handles[kSeries], key);
    if (s.ok()) s = write->Delete(handles[kState], key);
    // Every block key of the series starts with its id key, and sorts before
    // the next id's.
    const std::optional<uint64_t> id = DecodeIdKey(id_key);
    if (s.ok() && id.has_value()) {
      s = *id == std::numeric_limits<uint64_t>::max()
              ? write->DeleteRange(handles[kBlocks], key, EncodePointKey(*id, kMaxTime) + '\0')
              : write->DeleteRange(handles[kBlocks], key, EncodeIdKey(*id + 1));
    }
    return s;
  }

  static constexpr int64_t kMaxTime = std::numeric_limits<int64_t>::max();

  // Read options confined to the blocks of one series. `upper` must outlive
  // the iterator.
  static rocksdb::ReadOptions SeriesRead(uint64_t id, std::string* upper,
                                         rocksdb::Slice* upper_slice) {
    rocksdb::ReadOptions read;
    read.prefix_same_as_start = true;
    if (id != std::numeric_limits<uint64_t>::max()) {
      *upper = EncodeIdKey(id + 1);
      *upper_slice = rocksdb::Slice(*upper);
      read.iterate_upper_bound = upper_slice;
    }
    return read;
  }

  // Sets s's sealed_state from its last block on disk.
  absl::Status LookUpSealedEnd(OpenSeries* s) {
    std::string upper;
    rocksdb::Slice upper_slice;
    rocksdb::ReadOptions read = SeriesRead(s->id, &upper, &upper_slice);
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read, handles[kBlocks]));
    it->SeekForPrev(EncodePointKey(s->id, kMaxTime));
    if (!it->status().ok()) return FromRocks(it->status(), "cannot read forecast blocks");
    const std::optional<int64_t> end = it->Valid() && it->key().starts_with(EncodeIdKey(s->id))
                                           ? DecodePointKeyTime(View(it->key()))
                                           : std::nullopt;
    s->sealed_state = end.has_value() ? SealedEnd::kKnown : SealedEnd::kNone;
    s->sealed_end = end.value_or(0);
    return absl::OkStatus();
  }

  // Adds to `write` the sealing of t.s's open block; the block itself is
  // emptied when the write is on disk.
  absl::Status Seal(Touched& t, LogWriter& log, rocksdb::WriteBatch* write) {
    OpenSeries* s = t.s;
    if (s->block.count() == 0) return absl::OkStatus();
    if (s->sealed_state == SealedEnd::kUnknown) {
      if (absl::Status st = LookUpSealedEnd(s); !st.ok()) return st;
    }
    t.seal = true;
    log.Reset(s->id);
    const int64_t cut = cutoff->Get();
    const bool after_sealed =
        s->sealed_state == SealedEnd::kNone || s->block.first_timestamp() > s->sealed_end;
    if (after_sealed && s->block.first_timestamp() >= cut) {
      // The common case: the block goes to disk as it is.
      t.new_state = SealedEnd::kKnown;
      t.new_end = s->block.last_timestamp();
      // Put in parts, the chunks from where they lie.
      const std::array<char, kPointKeySize> key = PointKey(s->id, t.new_end);
      const rocksdb::Slice key_part(key.data(), key.size());
      char header[OpenBlock::kMaxSealedHeader];
      std::array<rocksdb::Slice, 1 + kNumColumns> value;
      value[0] = rocksdb::Slice(header, s->block.SealedHeader(header));
      for (int c = 0; c < kNumColumns; ++c) {
        const std::string_view chunk = s->block.Chunk(static_cast<Column>(c));
        value[1 + c] = rocksdb::Slice(chunk.data(), chunk.size());
      }
      return FromRocks(write->Put(handles[kBlocks], rocksdb::SliceParts(&key_part, 1),
                                  rocksdb::SliceParts(value.data(), value.size())),
                       "cannot build storage write");
    }
    // Points older than the last sealed one (written out of order, or the
    // same times again), or expired points: merge with the sealed blocks
    // they overlap, drop what expired, and write the result again.
    std::vector<ForecastPoint> points;
    s->block.Decode(s->block.count(), &points);
    if (!after_sealed) {
      std::vector<ForecastPoint> sealed;
      std::string upper;
      rocksdb::Slice upper_slice;
      rocksdb::ReadOptions read = SeriesRead(s->id, &upper, &upper_slice);
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read, handles[kBlocks]));
      const std::string id_key = EncodeIdKey(s->id);
      for (it->Seek(EncodePointKey(s->id, points.front().timestamp_ms));
           it->Valid() && it->key().starts_with(id_key); it->Next()) {
        if (!DecodeBlock(View(it->value()), &sealed)) {
          return absl::DataLossError(absl::StrCat("forecast block of series ", s->id,
                                                  " has an unknown format (written by a newer "
                                                  "adapter?)"));
        }
        rocksdb::Status st = write->Delete(handles[kBlocks], it->key());
        if (!st.ok()) return FromRocks(st, "cannot build storage write");
      }
      if (!it->status().ok()) return FromRocks(it->status(), "cannot read forecast blocks");
      std::vector<ForecastPoint> merged;
      merged.reserve(points.size() + sealed.size());
      size_t i = 0;
      for (const ForecastPoint& p : points) {
        while (i < sealed.size() && sealed[i].timestamp_ms < p.timestamp_ms) {
          merged.push_back(sealed[i++]);
        }
        if (i < sealed.size() && sealed[i].timestamp_ms == p.timestamp_ms) ++i;  // newer wins
        merged.push_back(p);
      }
      merged.insert(merged.end(), sealed.begin() + static_cast<ptrdiff_t>(i), sealed.end());
      points = std::move(merged);
    }
    points.erase(points.begin(), std::lower_bound(points.begin(), points.end(), cut,
                                                  [](const ForecastPoint& a, int64_t c) {
                                                    return a.timestamp_ms < c;
                                                  }));
    if (points.empty()) {
      // Everything expired; what is left on disk (if anything) is older.
      t.new_state = after_sealed ? s->sealed_state : SealedEnd::kUnknown;
      t.new_end = s->sealed_end;
      return absl::OkStatus();
    }
    t.new_state = SealedEnd::kKnown;
    t.new_end = points.back().timestamp_ms;
    const size_t chunk = options.block_max_points;
    for (size_t from = 0; from < points.size(); from += chunk) {
      const std::vector<ForecastPoint> part(
          points.begin() + static_cast<ptrdiff_t>(from),
          points.begin() + static_cast<ptrdiff_t>(std::min(points.size(), from + chunk)));
      rocksdb::Status st = write->Put(
          handles[kBlocks], EncodePointKey(s->id, part.back().timestamp_ms), EncodeBlock(part));
      if (!st.ok()) return FromRocks(st, "cannot build storage write");
    }
    return absl::OkStatus();
  }

  void Unlink(OpenSeries* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu) {
    if (s->first_seq == 0) return;
    (s->older != nullptr ? s->older->newer : oldest) = s->newer;
    (s->newer != nullptr ? s->newer->older : newest) = s->older;
    s->older = s->newer = nullptr;
    s->first_seq = 0;
  }

  // first_seq must not be older than the newest's.
  void LinkNewest(OpenSeries* s, uint64_t first_seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu) {
    s->first_seq = first_seq;
    s->older = newest;
    s->newer = nullptr;
    (newest != nullptr ? newest->newer : oldest) = s;
    newest = s;
  }

  // The index in `touched` of s's entry for this write, added on its
  // first touch.
  uint32_t Touch(OpenSeries* s, bool created) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu) {
    if (s->touched_epoch != epoch) {
      s->touched_epoch = epoch;
      s->touched_index = static_cast<uint32_t>(touched.size());
      touched.push_back({s, s->block.mark(), s->sealed_state, s->sealed_end, created});
    }
    return s->touched_index;
  }

  // Applies the batch: labels, state and deletions as RocksDB keys, points
  // into open blocks plus one log record; seals full blocks. All in one
  // atomic RocksDB write.
  absl::Status Apply(WriteBatch::Rep* rep) ABSL_LOCKS_EXCLUDED(write_mu) {
    // Freed after the locks are released.
    absl::flat_hash_map<uint64_t, std::vector<OpenBlock>> replayed_before;
    absl::MutexLock write_lock(&write_mu);
    if (write_failed.load(std::memory_order_relaxed)) {
      // Busy while RocksDB's own recovery (retried every second) is at work;
      // otherwise this flushes the memtables and starts a new WAL, and fails
      // again while the disk is still full.
      const rocksdb::Status resumed = db->Resume();
      if (!resumed.ok() && !resumed.IsBusy()) {
        return FromRocks(resumed, absl::StrCat("cannot write to ", options.path,
                                               " (failing since an "
                                               "earlier write)"));
      }
    }
    if (!written) {
      for (rocksdb::ColumnFamilyHandle* h : handles) {
        const rocksdb::Status s = db->SetOptions(h, {{"disable_auto_compactions", "false"}});
        if (!s.ok()) return FromRocks(s, "cannot start compactions");
      }
      absl::MutexLock mem_lock(&mem_mu);
      replayed_before.swap(replayed);
      written = true;
    }
    rocksdb::WriteBatch write(rep->records.size() + rep->points.size() * 48 + 64);
    std::string_view rest = rep->records;
    while (!rest.empty()) {
      // The buffer was written by WriteBatch::Rep::Add, so sizes are trusted.
      const auto family = static_cast<uint8_t>(rest[0]);
      const std::string_view key = rest.substr(1, kIdKeySize);
      rocksdb::Status s;
      if (family == kDeleteSeries) {
        rest.remove_prefix(1 + kIdKeySize);
        s = DeleteSeriesKeys(key, &write);
      } else {
        uint32_t value_size = 0;
        for (int i = 3; i >= 0; --i) {
          value_size = (value_size << 8) | static_cast<unsigned char>(rest[1 + kIdKeySize + i]);
        }
        const std::string_view value = rest.substr(1 + kIdKeySize + 4, value_size);
        rest.remove_prefix(1 + kIdKeySize + 4 + value_size);
        s = write.Put(handles[family], rocksdb::Slice(key.data(), key.size()),
                      rocksdb::Slice(value.data(), value.size()));
      }
      if (!s.ok()) return FromRocks(s, "cannot build storage write");
    }
    if (log_delete_to > log_deleted_to) {
      const std::string to = EncodeIdKey(log_delete_to);
      rocksdb::Status s = write.DeleteRange(handles[kLog], EncodeIdKey(log_deleted_to), to);
      if (s.ok()) s = write.Put(default_cf, kLogStartKey, to);
      if (!s.ok()) return FromRocks(s, "cannot build storage write");
    }
    const uint64_t seq = next_seq;
    LogWriter log;
    touched.clear();
    ++epoch;
    {
      absl::MutexLock mem_lock(&mem_mu);
      log.Start(&log_record);
      absl::Status built = AddPoints(*rep, log, &write);
      if (built.ok() && log.entries() > 0) {
        built = FromRocks(write.Put(handles[kLog], EncodeIdKey(seq), log_record),
                          "cannot build storage write");
      }
      if (!built.ok()) {
        Undo();
        return built;
      }
    }
    const bool logged = log.entries() > 0;
    // Consumed even if the write fails: a write that fails after reaching
    // the WAL may still be on disk.
    if (logged) ++next_seq;
    const uint64_t deleting_to = log_delete_to;
    rocksdb::Status s = rocksdb::Status::OK();
    if (write.Count() != 0) {
      s = db->Write(write_options, &write);
      write_failed.store(!s.ok(), std::memory_order_relaxed);
    }
    {
      absl::MutexLock mem_lock(&mem_mu);
      if (s.ok()) {
        Commit(seq);
      } else {
        Undo();
      }
    }
    if (!s.ok()) return FromRocks(s, absl::StrCat("cannot write to ", options.path));
    log_deleted_to = std::max(log_deleted_to, deleting_to);
    if (logged) {
      live_log.emplace_back(seq, static_cast<uint32_t>(log_record.size()));
      live_log_bytes += log_record.size();
    }
    // Records older than the oldest open point are sealed everywhere: the
    // next write deletes them.
    log_delete_to = oldest != nullptr ? oldest->first_seq : next_seq;
    while (!live_log.empty() && live_log.front().first < log_delete_to) {
      live_log_bytes -= live_log.front().second;
      live_log.pop_front();
    }
    return absl::OkStatus();
  }

  absl::Status AddPoints(const WriteBatch::Rep& rep, LogWriter& log, rocksdb::WriteBatch* write)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu, mem_mu) {
    OpenSeries* last = nullptr;
    // Each point's open series is a cache miss or three in a row (table
    // slot, series, the end of its block). Each pass fetches, kAhead points
    // ahead, what the next one reads, so the misses of several points
    // overlap: first the slots, finding each point's series...
    constexpr size_t kAhead = 8;
    const size_t n = rep.points.size();
    std::vector<OpenSeries*>& found = found_open;
    found.assign(n, nullptr);
    for (size_t k = 0; k < n; ++k) {
      if (k + kAhead < n) open.prefetch(rep.points[k + kAhead].id);
      const auto it = open.find(rep.points[k].id);
      if (it == open.end()) continue;
      found[k] = it->second.get();
      for (size_t line = 0; line < sizeof(OpenSeries); line += 64) {
        __builtin_prefetch(reinterpret_cast<const char*>(found[k]) + line);
      }
    }
    // ...then the end of each block, adding the points.
    for (size_t k = 0; k < n; ++k) {
      if (const OpenSeries* s = k + kAhead < n ? found[k + kAhead] : nullptr) {
        s->block.Prefetch();
      }
      const WriteBatch::Rep::PointOp& op = rep.points[k];
      if (last == nullptr || last->id != op.id) {
        bool created = false;
        if (found[k] != nullptr) {
          last = found[k];
        } else {
          // New, or made by an earlier point of this write.
          std::unique_ptr<OpenSeries>& slot = open[op.id];
          if (slot == nullptr) {
            slot = std::make_unique<OpenSeries>();
            slot->id = op.id;
            created = true;
          }
          last = slot.get();
        }
        Touch(last, created);
      }
      OpenSeries* s = last;
      if (op.is_delete) {
        s->KeepShadow();
        s->block.Clear();
        s->sealed_state = SealedEnd::kNone;
        touched[s->touched_index].reset = true;
        log.Reset(s->id);
        continue;
      }
      if (s->block.count() != 0 && op.point.timestamp_ms <= s->block.last_timestamp()) {
        s->KeepShadow();
      } else if (s->block.count() == kMaxChunkSamples) {
        // A chunk counts at most this many points (in 16 bits): the block is
        // sealed here, ahead of the rest of the Write.
        Touched& t = touched[s->touched_index];
        s->KeepShadow();
        if (absl::Status st = Seal(t, log, write); !st.ok()) return st;
        s->block.Clear();
        s->sealed_state = t.new_state;
        s->sealed_end = t.new_end;
        t.seal = false;
        t.reset = true;
      }
      s->Add(op.point);
      log.Point(s->id, op.point);
    }
    const size_t written = touched.size();
    for (size_t i = 0; i < written; ++i) {
      OpenSeries* s = touched[i].s;
      if (s->block.count() >= options.block_max_points ||
          s->block.byte_size() >= options.block_max_bytes) {
        if (absl::Status st = Seal(touched[i], log, write); !st.ok()) return st;
      }
    }
    if (live_log_bytes > options.max_log_bytes) {
      // Series that stopped sending hold the log back: seal the oldest
      // blocks, a bounded number per write.
      constexpr int kMaxEarlySeals = 1024;
      int sealed = 0;
      for (OpenSeries* s = oldest; s != nullptr && sealed < kMaxEarlySeals; s = s->newer) {
        Touched& t = touched[Touch(s, false)];
        if (t.seal) continue;
        if (absl::Status st = Seal(t, log, write); !st.ok()) return st;
        ++sealed;
      }
    }
    return absl::OkStatus();
  }

  void Commit(uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu, mem_mu) {
    for (Touched& t : touched) {
      OpenSeries* s = t.s;
      s->shadow.reset();
      if (t.seal) {
        s->block.Clear();
        s->sealed_state = t.new_state;
        s->sealed_end = t.new_end;
        s->published = 0;
        Unlink(s);
        continue;
      }
      s->published = s->block.count();
      if (s->block.count() == 0) {
        Unlink(s);
      } else if (t.reset || t.saved.count == 0) {
        // Every point it holds came with this write.
        Unlink(s);
        LinkNewest(s, seq);
      }
    }
    for (Touched& t : touched) {
      if (t.s->block.count() == 0 && t.reset) open.erase(t.s->id);
    }
    touched.clear();
  }

  void Undo() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu, mem_mu) {
    for (Touched& t : touched) {
      OpenSeries* s = t.s;
      if (s->shadow != nullptr) {
        // The block before its first rewrite in this Write: the points
        // before the Write and maybe some of its own, taken back below.
        s->block = std::move(*s->shadow);
        s->shadow.reset();
      }
      s->block.Rewind(t.saved);
      s->sealed_state = t.saved_state;
      s->sealed_end = t.saved_end;
    }
    for (Touched& t : touched) {
      if (t.created) open.erase(t.s->id);
    }
    touched.clear();
  }

  // Rebuilds the open blocks from the log records not deleted.
  absl::Status ReplayLog() ABSL_LOCKS_EXCLUDED(write_mu, mem_mu) {
    absl::MutexLock write_lock(&write_mu);
    absl::MutexLock mem_lock(&mem_mu);
    std::string start;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), default_cf, kLogStartKey, &start);
    if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "cannot read the log start");
    const uint64_t first = s.ok() ? DecodeIdKey(start).value_or(1) : 1;
    log_deleted_to = log_delete_to = next_seq = first;
    // A series per open block, each there once: no rehashing on the way.
    uint64_t series = 0;
    if (db->GetIntProperty(handles[kSeries], "rocksdb.estimate-num-keys", &series)) {
      open.reserve(series);
    }
    rocksdb::ReadOptions read;
    read.fill_cache = false;
    read.readahead_size = kStartupReadahead;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read, handles[kLog]));
    struct Entry {
      uint64_t id;
      std::optional<ForecastPoint> point;  // none: a reset
    };
    std::vector<Entry> entries;
    std::vector<OpenSeries*> found;
    for (it->Seek(EncodeIdKey(first)); it->Valid(); it->Next()) {
      const std::optional<uint64_t> seq = DecodeIdKey(View(it->key()));
      entries.clear();
      auto on_point = [&](uint64_t id, const ForecastPoint& p) { entries.push_back({id, p}); };
      auto on_reset = [&](uint64_t id) { entries.push_back({id, std::nullopt}); };
      const bool read_ok = seq.has_value() && ReadLogRecord(View(it->value()), on_point, on_reset);
      // As in a Write: the open series of the entries are found (made for
      // points) in a pass that fetches their table slots kAhead entries
      // ahead, then the points are added fetching their blocks' ends.
      constexpr size_t kAhead = 8;
      const size_t n = read_ok ? entries.size() : 0;
      found.assign(n, nullptr);
      for (size_t k = 0; k < n; ++k) {
        if (k + kAhead < n) open.prefetch(entries[k + kAhead].id);
        const uint64_t id = entries[k].id;
        if (!entries[k].point.has_value()) {
          const auto at = open.find(id);
          if (at != open.end()) found[k] = at->second.get();
          continue;
        }
        std::unique_ptr<OpenSeries>& slot = open[id];
        if (slot == nullptr) {
          slot = std::make_unique<OpenSeries>();
          slot->id = id;
        }
        found[k] = slot.get();
        __builtin_prefetch(found[k]);
      }
      // A Write seals a block before it holds more than a chunk counts, so
      // a log asking for more is damaged.
      bool overfull = false;
      for (size_t k = 0; k < n && !overfull; ++k) {
        if (const OpenSeries* ahead = k + kAhead < n ? found[k + kAhead] : nullptr) {
          ahead->block.Prefetch();
        }
        OpenSeries* o = found[k];
        if (o == nullptr) continue;  // a reset of a series with no open block
        if (!entries[k].point.has_value()) {
          if (o->block.count() > 0) {
            std::vector<OpenBlock>& sealed = replayed[o->id];
            sealed.emplace_back();
            std::swap(sealed.back(), o->block);
          }
          o->block.Clear();
          o->first_seq = 0;
          continue;
        }
        const ForecastPoint& p = *entries[k].point;
        if (o->block.count() == 0) o->first_seq = *seq;
        overfull =
            o->block.count() == kMaxChunkSamples && p.timestamp_ms > o->block.last_timestamp();
        if (!overfull) o->Add(p);
      }
      if (!read_ok || overfull) {
        return absl::DataLossError(absl::StrCat("log record ", seq.value_or(0), " in ",
                                                options.path,
                                                " is malformed; the database is damaged"));
      }
      live_log.emplace_back(*seq, static_cast<uint32_t>(it->value().size()));
      live_log_bytes += it->value().size();
      next_seq = *seq + 1;
    }
    if (!it->status().ok()) return FromRocks(it->status(), "cannot read the log");
    std::vector<OpenSeries*> filled;
    for (auto it2 = open.begin(); it2 != open.end();) {
      OpenSeries* o = it2->second.get();
      o->published = o->block.count();
      if (o->block.count() == 0) {
        open.erase(it2++);
      } else {
        filled.push_back(o);
        ++it2;
      }
    }
    std::sort(filled.begin(), filled.end(),
              [](const OpenSeries* a, const OpenSeries* b) { return a->first_seq < b->first_seq; });
    for (OpenSeries* o : filled) LinkNewest(o, o->first_seq);
    log_delete_to = oldest != nullptr ? oldest->first_seq : next_seq;
    while (!live_log.empty() && live_log.front().first < log_delete_to) {
      live_log_bytes -= live_log.front().second;
      live_log.pop_front();
    }
    return absl::OkStatus();
  }

  // Sets next_run and oldest_run from the run records on disk.
  absl::Status LoadRunBounds() {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[kRuns]));
    it->SeekToLast();
    if (!it->Valid()) return FromRocks(it->status(), "cannot read run history");
    const std::optional<uint64_t> last = DecodeIdKey(View(it->key()));
    it->SeekToFirst();
    const std::optional<uint64_t> first = it->Valid() ? DecodeIdKey(View(it->key())) : std::nullopt;
    if (!it->status().ok()) {
      return FromRocks(it->status(), "cannot read run history");
    }
    if (!last.has_value() || !first.has_value()) {
      return absl::DataLossError(
          absl::StrCat("activity run history in ", options.path,
                       " has a key that is not a sequence number; the database is "
                       "damaged"));
    }
    absl::MutexLock lock(&runs_mu);
    next_run = *last + 1;
    oldest_run = *first;
    return absl::OkStatus();
  }
};
Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  if (absl::Status valid = options.Validate(); !valid.ok()) return valid;
  const std::string& path = options.path;
  absl::StatusOr<FolderContent> content = InspectFolder(path);
  if (!content.ok()) return content.status();
  if (*content == FolderContent::kNothing) {
    if (absl::Status made = CreateFolder(path); !made.ok()) return made;
  }

  const rocksdb::DBOptions db_options = MakeDbOptions(options);
  std::vector<std::string> existing = {rocksdb::kDefaultColumnFamilyName};
  if (*content == FolderContent::kRocksDb) {
    existing.clear();
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(db_options, path, &existing);
    if (!s.ok()) return FromRocksOpen(s, path);
    for (const std::string& name : existing) {
      if (name != rocksdb::kDefaultColumnFamilyName && name != kV1PointsColumn &&
          std::find(kFamilyNames.begin(), kFamilyNames.end(), name) == kFamilyNames.end()) {
        return ForeignDatabase(path, absl::StrCat("it has a column family \"", name, "\""));
      }
    }
  }

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->write_options.sync = options.sync_writes;
  std::shared_ptr<rocksdb::Cache> cache;
  if (options.block_cache_bytes > 0) {
    cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  }
  auto family_options = [&](const std::string& name) {
    for (int c = 0; c < kFamilyCount; ++c) {
      if (name == kFamilyNames[c]) {
        return MakeFamilyOptions(static_cast<Family>(c), cache, impl->cutoff);
      }
    }
    return rocksdb::ColumnFamilyOptions();  // default: only the marker
  };

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : existing) {
    descriptors.emplace_back(name, family_options(name));
  }
  std::vector<rocksdb::ColumnFamilyHandle*> opened;
  rocksdb::ColumnFamilyHandle* v1_points = nullptr;
  rocksdb::Status s;
  {
    const NamedAsTimerWhileOpening named;
    s = rocksdb::DB::Open(db_options, path, descriptors, &opened, &impl->db);
  }
  if (!s.ok()) return FromRocksOpen(s, path);
  for (rocksdb::ColumnFamilyHandle* h : opened) {
    const auto it = std::find(kFamilyNames.begin(), kFamilyNames.end(), h->GetName());
    if (it != kFamilyNames.end()) {
      impl->handles[it - kFamilyNames.begin()] = h;
    } else if (h->GetName() == rocksdb::kDefaultColumnFamilyName) {
      impl->default_cf = h;
    } else {
      v1_points = h;  // only read for the marker check below
    }
  }
  // Closes the version-1 column family before any return (the Impl does
  // not know it).
  struct CloseV1 {
    rocksdb::DB* db;
    rocksdb::ColumnFamilyHandle*& h;
    ~CloseV1() {
      if (h != nullptr) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
  } close_v1{impl->db, v1_points};

  std::string marker;
  s = impl->db->Get(rocksdb::ReadOptions(), impl->default_cf, rocksdb::Slice(kMarkerKey), &marker);
  const bool has_marker = s.ok();
  if (has_marker && marker == "1") {
    // Not migrated: the adapter rebuilds the models from scratch in a new
    // folder faster than a migration would rewrite weeks of points.
    return absl::FailedPreconditionError(absl::StrCat(
        "database at ", path,
        " has format version 1 (a key per forecast point); this adapter reads version ",
        kFormatVersion,
        " (compressed blocks) and does not convert it: keep running the release that wrote it, "
        "or move the folder away (or delete it) and start with an empty --storage.path (models "
        "relearn, past forecasts are lost)"));
  }
  if (has_marker && marker != kFormatVersion && marker != kUpgradedVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("database at ", path, " has format version \"", marker,
                     "\" but this adapter reads version ", kFormatVersion,
                     "; run the adapter release that wrote it, or ", kWhatToDo));
  }
  if (!has_marker && !s.IsNotFound()) return FromRocksOpen(s, path);
  // Without the marker, only an empty database is ours: one whose creation
  // was interrupted before the marker was written.
  if (!has_marker && impl->HasAnyKey()) {
    return ForeignDatabase(path, "it lacks this adapter's format marker");
  }

  if (v1_points != nullptr) {
    // Marked as ours, a later version, with a "points" column family:
    // nothing writes there any more.
    return ForeignDatabase(path, "it has a column family \"points\" next to newer data");
  }
  for (int c = 0; c < kFamilyCount; ++c) {
    if (impl->handles[c] != nullptr) continue;
    s = impl->db->CreateColumnFamily(family_options(kFamilyNames[c]), kFamilyNames[c],
                                     &impl->handles[c]);
    if (!s.ok()) return FromRocksOpen(s, path);
  }
  if (!has_marker || marker != kFormatVersion) {
    rocksdb::WriteOptions synced;
    synced.sync = true;
    s = impl->db->Put(synced, impl->default_cf, rocksdb::Slice(kMarkerKey),
                      rocksdb::Slice(kFormatVersion));
    if (!s.ok()) return FromRocksOpen(s, path);
  }
  if (absl::Status runs = impl->LoadRunBounds(); !runs.ok()) return runs;
  if (absl::Status log = impl->ReplayLog(); !log.ok()) return log;
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

absl::Status Store::Write(WriteBatch* batch) {
  WriteBatch::Rep& rep = *batch->rep_;
  if (rep.count == 0) return absl::OkStatus();
  absl::Status status = impl_->Apply(&rep);
  // Cleared whatever the outcome: a failed batch is the caller's to rebuild
  // (Prometheus resends the request), never to be applied twice.
  batch->Clear();
  return status;
}

absl::StatusOr<std::string> Store::GetState(uint64_t id) const {
  std::string state;
  const rocksdb::Status s =
      impl_->db->Get(rocksdb::ReadOptions(), impl_->handles[kState], EncodeIdKey(id), &state);
  if (s.IsNotFound()) return absl::NotFoundError(absl::StrCat("no state for series ", id));
  if (!s.ok()) return FromRocks(s, "cannot read series state");
  return state;
}

absl::Status Store::ForEachSeries(const std::function<void(uint64_t id, std::string_view labels,
                                                           std::string_view state)>& fn) const {
  rocksdb::ReadOptions read;
  read.fill_cache = false;  // a one-off full scan at startup
  read.readahead_size = kStartupReadahead;
  std::vector<rocksdb::Iterator*> raw;
  // One call gives both iterators the same consistent view.
  rocksdb::Status s =
      impl_->db->NewIterators(read, {impl_->handles[kSeries], impl_->handles[kState]}, &raw);
  if (!s.ok()) return FromRocks(s, "cannot read series");
  std::unique_ptr<rocksdb::Iterator> series(raw[0]);
  std::unique_ptr<rocksdb::Iterator> state(raw[1]);
  series->SeekToFirst();
  state->SeekToFirst();
  for (; series->Valid(); series->Next()) {
    const rocksdb::Slice key = series->key();
    // Both column families are keyed by id, so one forward pass pairs them.
    while (state->Valid() && state->key().compare(key) < 0) state->Next();
    std::string_view state_bytes;
    if (state->Valid() && state->key() == key) state_bytes = View(state->value());
    const std::optional<uint64_t> id = DecodeIdKey(View(key));
    if (!id.has_value()) {
      return absl::DataLossError(absl::StrCat("series key of ", key.size(), " bytes in ",
                                              impl_->options.path,
                                              " is not an id; the database is damaged"));
    }
    fn(*id, View(series->value()), state_bytes);
  }
  if (!series->status().ok()) return FromRocks(series->status(), "cannot read series");
  return FromRocks(state->status(), "cannot read series state");
}

absl::Status Store::ScanPoints(uint64_t id, int64_t start_ms, int64_t end_ms,
                               const std::function<bool(const ForecastPoint&)>& fn) const {
  const ChunkScan scan{.id = id, .start_ms = start_ms, .end_ms = end_ms};
  return ScanPoints(std::span(&scan, 1), [&fn](size_t, const ForecastPoint& p) { return fn(p); });
}

absl::Status Store::ScanPoints(
    std::span<const ChunkScan> scans,
    const std::function<bool(size_t scan, const ForecastPoint&)>& fn) const {
  std::vector<ForecastPoint> points;
  std::optional<uint64_t> damaged;
  absl::Status status =
      ScanChunks(scans, kAllColumns, /*fill_cache=*/false, [&](size_t i, const ChunkSet& set) {
        points.clear();
        if (!DecodeChunks(set.chunks, set.count, &points)) {
          damaged = scans[i].id;
          return false;
        }
        for (const ForecastPoint& p : points) {
          if (p.timestamp_ms < set.from_ms) continue;
          if (p.timestamp_ms > set.to_ms) break;  // a stored block reaching past the range
          if (!fn(i, p)) return false;
        }
        return true;
      });
  if (damaged.has_value()) {
    return absl::DataLossError(absl::StrCat("forecast points of series ", *damaged,
                                            " do not decode; the database is damaged"));
  }
  return status;
}

namespace {

// Prometheus cuts chunks at 120 samples; readers expect about that.
constexpr size_t kReadChunkPoints = 120;

// Calls fn with chunk sets of the `columns` of the points (in time order)
// within [set.from_ms, set.to_ms], kReadChunkPoints at most each; false
// once fn returns false.
template <typename Fn>
bool EmitPoints(std::span<const ForecastPoint> points, ColumnSet columns, ChunkSet set, Fn&& fn) {
  const auto first =
      std::lower_bound(points.begin(), points.end(), set.from_ms,
                       [](const ForecastPoint& p, int64_t t) { return p.timestamp_ms < t; });
  const auto last =
      std::upper_bound(first, points.end(), set.to_ms,
                       [](int64_t t, const ForecastPoint& p) { return t < p.timestamp_ms; });
  std::array<XorChunkEncoder, kNumColumns> chunks;
  for (auto part = first; part != last;) {
    const auto end =
        last - part > static_cast<ptrdiff_t>(kReadChunkPoints) ? part + kReadChunkPoints : last;
    for (int c = 0; c < kNumColumns; ++c) {
      set.chunks[c] = {};
      if ((columns & ColumnBit(static_cast<Column>(c))) == 0) continue;
      chunks[c].Reset();
      for (auto p = part; p != end; ++p) {
        chunks[c].Append(p->timestamp_ms, ValueOf(*p, static_cast<Column>(c)));
      }
      set.chunks[c] = chunks[c].bytes();
    }
    set.min_time_ms = part->timestamp_ms;
    set.max_time_ms = (end - 1)->timestamp_ms;
    set.count = static_cast<uint32_t>(end - part);
    if (!fn(set)) return false;
    part = end;
  }
  return true;
}

absl::Status UnknownBlock(uint64_t id, std::string_view key) {
  return absl::DataLossError(absl::StrCat("forecast block of series ", id, " ending at ",
                                          DecodePointKeyTime(key).value_or(0),
                                          " has an unknown format (written by a newer adapter?)"));
}

// A block in memory as a read saw it: the chunks it wanted, copied.
struct BlockCopy {
  uint32_t count = 0;  // points in the chunks
  int64_t first_t = 0;
  int64_t last_t = 0;
  std::array<size_t, kNumColumns> at{};  // where in the copies
  std::array<size_t, kNumColumns> size{};
};

// A series' open block as a read saw it, and the sealed blocks Open
// replayed for it (Store::Impl::replayed).
struct OpenCopy : BlockCopy {
  uint32_t published = 0;     // of count, readers see the first ones
  size_t replayed_begin = 0;  // its replayed blocks' copies [begin, end)
  size_t replayed_end = 0;
};

}  // namespace

absl::Status Store::ScanChunks(std::span<const ChunkScan> scans, ColumnSet columns,
                               const std::function<bool(size_t scan, const ChunkSet&)>& fn) const {
  return ScanChunks(scans, columns, /*fill_cache=*/true, fn);
}

absl::Status Store::ScanChunks(std::span<const ChunkScan> scans, ColumnSet columns, bool fill_cache,
                               const std::function<bool(size_t scan, const ChunkSet&)>& fn) const {
  if (columns == 0) return absl::OkStatus();
  auto wanted = [columns](int c) { return (columns & ColumnBit(static_cast<Column>(c))) != 0; };
  std::unique_ptr<rocksdb::Iterator> it;
  std::vector<OpenCopy> opens(scans.size());
  std::vector<BlockCopy> replayed;
  std::string copies;
  auto copy = [&](const OpenBlock& block, BlockCopy* to) {
    to->count = block.count();
    to->first_t = block.first_timestamp();
    to->last_t = block.last_timestamp();
    for (int c = 0; c < kNumColumns; ++c) {
      if (!wanted(c)) continue;
      const std::string_view chunk = block.Chunk(static_cast<Column>(c));
      to->at[c] = copies.size();
      to->size[c] = chunk.size();
      copies.append(chunk);
    }
  };
  auto chunks_of = [&copies](const BlockCopy& b) {
    std::array<std::string_view, kNumColumns> chunks;
    for (int c = 0; c < kNumColumns; ++c) {
      chunks[c] = std::string_view(copies).substr(b.at[c], b.size[c]);
    }
    return chunks;
  };
  {
    // The iterator and the open blocks are taken together: a seal that is
    // on disk is also gone from memory only after this lock is released by
    // the writer, so a point may be seen twice (open points win) but never
    // missed.
    absl::ReaderMutexLock lock(&impl_->mem_mu);
    rocksdb::ReadOptions read;
    read.prefix_same_as_start = true;  // each Seek stays in its series
    read.fill_cache = fill_cache;
    it.reset(impl_->db->NewIterator(read, impl_->handles[kBlocks]));
    for (size_t i = 0; i < scans.size(); ++i) {
      OpenCopy& open = opens[i];
      if (const auto sealed = impl_->replayed.find(scans[i].id);
          scans[i].written_in_order && sealed != impl_->replayed.end()) {
        open.replayed_begin = replayed.size();
        for (const OpenBlock& block : sealed->second) copy(block, &replayed.emplace_back());
        open.replayed_end = replayed.size();
      }
      const auto found = impl_->open.find(scans[i].id);
      if (found == impl_->open.end() || found->second->published == 0) continue;
      const OpenSeries& s = *found->second;
      copy(s.shadow != nullptr ? *s.shadow : s.block, &open);
      open.published = s.published;
    }
  }
  std::vector<ForecastPoint> merged;
  std::vector<ForecastPoint> block;
  for (size_t i = 0; i < scans.size(); ++i) {
    const uint64_t id = scans[i].id;
    auto emit = [&fn, i](const ChunkSet& set) { return fn(i, set); };
    ChunkSet set;
    set.from_ms = std::max(scans[i].start_ms, impl_->cutoff->Get());
    set.to_ms = scans[i].end_ms;
    if (set.from_ms > set.to_ms) continue;
    const OpenCopy& open = opens[i];
    const std::array<std::string_view, kNumColumns> open_chunks = chunks_of(open);
    const int64_t open_first = open.published > 0 ? open.first_t : Impl::kMaxTime;
    // Once a sealed block reaches the open block's time (points written out
    // of order), it and the blocks after it are merged with the open points.
    bool merging = false;
    merged.clear();
    const std::string id_key = EncodeIdKey(id);
    // Written in order, nothing sealed reaches the open block's first point,
    // and the blocks replayed at Open are the newest sealed ones.
    const std::span<const BlockCopy> newest_sealed = std::span<const BlockCopy>(replayed).subspan(
        open.replayed_begin, open.replayed_end - open.replayed_begin);
    const int64_t memory_first = newest_sealed.empty() ? open_first : newest_sealed[0].first_t;
    const bool on_disk = !scans[i].written_in_order || set.from_ms < memory_first;
    for (size_t b = 0; !on_disk && b < newest_sealed.size(); ++b) {
      const BlockCopy& sealed = newest_sealed[b];
      if (sealed.last_t < set.from_ms) continue;
      if (sealed.first_t > set.to_ms) break;
      set.chunks = chunks_of(sealed);
      set.min_time_ms = sealed.first_t;
      set.max_time_ms = sealed.last_t;
      set.count = sealed.count;
      if (!emit(set)) return absl::OkStatus();
    }
    // Blocks are keyed by their last point's time and never overlap: the
    // first with a last point at or after `from` is where the range begins.
    if (on_disk) it->Seek(EncodePointKey(id, set.from_ms));
    for (; on_disk && it->Valid() && it->key().starts_with(id_key); it->Next()) {
      const std::optional<int64_t> last = DecodePointKeyTime(View(it->key()));
      const std::string_view value = View(it->value());
      if (!merging && last.value_or(Impl::kMaxTime) < open_first && !value.empty() &&
          value[0] == kBlockFormatV3) {
        // The common case: the stored chunks as they lie.
        const std::optional<SealedBlock> sealed = ParseSealed(value);
        if (!sealed.has_value()) return UnknownBlock(id, View(it->key()));
        std::optional<int64_t> first;
        for (int c = 0; c < kNumColumns; ++c) {
          set.chunks[c] = {};
          if (!wanted(c)) continue;
          set.chunks[c] = sealed->chunks[c];
          if (!ChunkCountIs(set.chunks[c], sealed->count)) return UnknownBlock(id, View(it->key()));
          if (!first.has_value()) first = XorChunkFirstTime(set.chunks[c]);
        }
        if (!first.has_value()) return UnknownBlock(id, View(it->key()));
        if (*first > set.to_ms) break;
        set.min_time_ms = *first;
        set.max_time_ms = *last;
        set.count = sealed->count;
        if (!emit(set)) return absl::OkStatus();
        continue;
      }
      block.clear();
      if (!DecodeBlock(value, &block)) return UnknownBlock(id, View(it->key()));
      if (block.front().timestamp_ms > set.to_ms) break;
      if (block.back().timestamp_ms >= open_first) merging = true;
      if (merging) {
        merged.insert(merged.end(), block.begin(), block.end());
      } else if (!EmitPoints(block, columns, set, emit)) {  // a format 2 block
        return absl::OkStatus();
      }
    }
    if (!it->status().ok()) return FromRocks(it->status(), "cannot read forecast points");
    if (open.published == 0 || (!merging && open_first > set.to_ms)) continue;
    if (!merging && open.published == open.count) {
      set.min_time_ms = open_first;
      set.max_time_ms = open.last_t;
      set.count = open.count;
      set.chunks = open_chunks;
      if (!emit(set)) return absl::OkStatus();
      continue;
    }
    // Points of a Write not yet on disk are left out; open points are newer
    // writes than sealed ones, so at equal times they win.
    block.clear();
    if (!DecodeChunks(open_chunks, open.published, &block)) {
      return absl::InternalError(absl::StrCat("open block of series ", id, " does not decode"));
    }
    std::vector<ForecastPoint> all;
    all.reserve(merged.size() + block.size());
    size_t k = 0;
    for (const ForecastPoint& p : block) {
      while (k < merged.size() && merged[k].timestamp_ms < p.timestamp_ms)
        all.push_back(merged[k++]);
      if (k < merged.size() && merged[k].timestamp_ms == p.timestamp_ms) ++k;
      all.push_back(p);
    }
    all.insert(all.end(), merged.begin() + static_cast<ptrdiff_t>(k), merged.end());
    if (!EmitPoints(all, columns, set, emit)) return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Status Store::PutLock(std::string_view key, std::string_view value) {
  return FromRocks(impl_->db->Put(impl_->write_options, impl_->handles[kLocks],
                                  rocksdb::Slice(key.data(), key.size()),
                                  rocksdb::Slice(value.data(), value.size())),
                   absl::StrCat("cannot write activity lock to ", impl_->options.path));
}

absl::Status Store::DeleteLock(std::string_view key) {
  return FromRocks(impl_->db->Delete(impl_->write_options, impl_->handles[kLocks],
                                     rocksdb::Slice(key.data(), key.size())),
                   absl::StrCat("cannot delete activity lock in ", impl_->options.path));
}

absl::Status Store::ForEachLock(
    const std::function<void(std::string_view key, std::string_view value)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->handles[kLocks]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    fn(View(it->key()), View(it->value()));
  }
  return FromRocks(it->status(), "cannot read activity locks");
}

absl::Status Store::AppendRun(std::string_view record, size_t keep) {
  if (keep == 0) {
    return absl::InvalidArgumentError("activity run history must keep at least 1 run");
  }
  absl::MutexLock lock(&impl_->runs_mu);
  // Consumed even if the write fails: a write that fails after reaching the
  // WAL may still be on disk, and a reused number would overwrite it.
  const uint64_t seq = impl_->next_run++;
  rocksdb::WriteBatch write;
  const std::string key = EncodeIdKey(seq);
  rocksdb::Status s =
      write.Put(impl_->handles[kRuns], key, rocksdb::Slice(record.data(), record.size()));
  // Records [oldest_run, seq - keep] fall out of the history. Each prune
  // starts where the previous ended, so range tombstones never overlap.
  const uint64_t end = seq >= keep ? seq - keep + 1 : 0;  // exclusive
  if (s.ok() && end > impl_->oldest_run) {
    s = write.DeleteRange(impl_->handles[kRuns], EncodeIdKey(impl_->oldest_run), EncodeIdKey(end));
  }
  if (!s.ok()) return FromRocks(s, "cannot build activity run write");
  s = impl_->db->Write(impl_->write_options, &write);
  if (s.ok() && end > impl_->oldest_run) impl_->oldest_run = end;
  return FromRocks(s, absl::StrCat("cannot write activity run to ", impl_->options.path));
}

absl::Status Store::ForEachRun(
    const std::function<void(uint64_t seq, std::string_view record)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->handles[kRuns]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::optional<uint64_t> seq = DecodeIdKey(View(it->key()));
    if (!seq.has_value()) {
      return absl::DataLossError(absl::StrCat("activity run key of ", it->key().size(),
                                              " bytes in ", impl_->options.path,
                                              " is not a sequence number; the database is "
                                              "damaged"));
    }
    fn(*seq, View(it->value()));
  }
  return FromRocks(it->status(), "cannot read activity run history");
}

void Store::SetRetentionNow(int64_t now_ms) {
  const int64_t retention = impl_->options.retention_ms;
  const int64_t cutoff = now_ms < std::numeric_limits<int64_t>::min() + retention
                             ? std::numeric_limits<int64_t>::min()
                             : now_ms - retention;
  impl_->cutoff->Set(cutoff);
}

uint64_t Store::SizeBytes() const {
  // Approximate: SST sizes as RocksDB last accounted them (including files
  // awaiting deletion) plus the WAL files; memtables are not on disk.
  uint64_t total = 0;
  std::vector<rocksdb::ColumnFamilyHandle*> all(impl_->handles.begin(), impl_->handles.end());
  all.push_back(impl_->default_cf);
  for (rocksdb::ColumnFamilyHandle* h : all) {
    uint64_t sst = 0;
    if (impl_->db->GetIntProperty(h, rocksdb::DB::Properties::kTotalSstFilesSize, &sst)) {
      total += sst;
    }
  }
  rocksdb::VectorLogPtr wals;
  if (impl_->db->GetSortedWalFiles(wals).ok()) {
    for (const std::unique_ptr<rocksdb::LogFile>& wal : wals) {
      total += wal->SizeFileBytes();
    }
  }
  return total;
}

absl::Status Store::Flush() {
  return FromRocks(impl_->FlushAll(), absl::StrCat("cannot flush ", impl_->options.path));
}

}  // namespace kad::storage
