#include "storage/store.h"

#include <algorithm>
#include <array>
#include <cstdarg>
#include <cstdio>
#include <atomic>
#include <limits>
#include <utility>
#include <vector>

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
#include "storage/codec.h"
#include "storage/db_folder.h"
#include "storage/retention_filter.h"

namespace kad::storage {
namespace {

// Identifies a database written by this project, and its layout version.
constexpr char kMarkerKey[] = "kad:format";
constexpr char kFormatVersion[] = "1";

// The column families in the order of Store::Impl::handles. A database
// lacking some of them (written by an older release) gains them at open;
// a column family not listed here marks a database as someone else's.
enum Column : uint8_t { kSeries = 0, kState = 1, kPoints = 2, kLocks = 3, kRuns = 4, kColumnCount };
// Not a column: marks a series deletion record in a WriteBatch.
constexpr uint8_t kDeleteSeries = 0xff;
constexpr std::array<const char*, kColumnCount> kColumnNames = {"series", "state", "points",
                                                                "locks", "runs"};

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

rocksdb::ColumnFamilyOptions MakeColumnOptions(Column column,
                                               const std::shared_ptr<rocksdb::Cache>& cache,
                                               const std::shared_ptr<RetentionCutoff>& cutoff) {
  rocksdb::ColumnFamilyOptions cf;
  cf.compression = FastestSupported();
  rocksdb::BlockBasedTableOptions table;
  if (cache) {
    table.block_cache = cache;
    table.cache_index_and_filter_blocks = true;
    table.pin_l0_filter_and_index_blocks_in_cache = true;
  } else {
    table.no_block_cache = true;
  }
  if (column == kPoints) {
    cf.write_buffer_size = 32 * kMiB;
    // Every read of points is a scan of one series: a bloom filter on the
    // 8-byte id prefix lets a scan skip files without that series.
    cf.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(kIdKeySize));
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.whole_key_filtering = false;
    cf.compaction_filter_factory = std::make_shared<RetentionFilterFactory>(cutoff);
    // Files nobody compacts would keep expired points forever; this makes
    // RocksDB pass every file through the retention filter at least daily.
    cf.periodic_compaction_seconds = 24 * 3600;
  } else if (column == kState) {
    cf.write_buffer_size = 16 * kMiB;
  } else {
    // series, locks, runs: small and rarely written.
    cf.write_buffer_size = 4 * kMiB;
  }
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return cf;
}

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
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// WriteBatch: records are kept in one buffer, independent of any Store (the
// RocksDB column family handles only exist once a Store is open):
//   column (1 byte) | key (size fixed by the column) | value size (4 bytes LE)
//   | value
// A series deletion is the record kDeleteSeries | id key, with no size or
// value.

struct WriteBatch::Rep {
  std::string records;
  size_t count = 0;

  void Add(Column column, std::string_view key, std::string_view value) {
    records.push_back(static_cast<char>(column));
    records.append(key);
    const auto size = static_cast<uint32_t>(value.size());
    for (int shift = 0; shift < 32; shift += 8) {
      records.push_back(static_cast<char>((size >> shift) & 0xff));
    }
    records.append(value);
    ++count;
  }
};

namespace {

size_t KeySize(uint8_t column) { return column == kPoints ? kPointKeySize : kIdKeySize; }

}  // namespace

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
  rep_->Add(kPoints, EncodePointKey(id, point.timestamp_ms), EncodePointValue(point));
}

void WriteBatch::DeleteSeries(uint64_t id) {
  rep_->records.push_back(static_cast<char>(kDeleteSeries));
  rep_->records.append(EncodeIdKey(id));
  ++rep_->count;
}

size_t WriteBatch::count() const { return rep_->count; }

void WriteBatch::Clear() {
  rep_->records.clear();
  rep_->count = 0;
}

// ---------------------------------------------------------------------------

struct Store::Impl {
  StoreOptions options;
  std::shared_ptr<RetentionCutoff> cutoff = std::make_shared<RetentionCutoff>();
  rocksdb::DB* db = nullptr;
  rocksdb::ColumnFamilyHandle* default_cf = nullptr;
  std::array<rocksdb::ColumnFamilyHandle*, kColumnCount> handles{};
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

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  ~Impl() {
    if (db == nullptr) return;
    // Best effort: a destructor cannot report. Callers wanting the status
    // call Store::Flush first; the synced WAL covers a failed flush.
    // After a failed write RocksDB must not touch the broken WAL again; what
    // was acknowledged is in it already.
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

  // Adds to `write` the deletion of the labels, state and points of the
  // series with this id key.
  rocksdb::Status DeleteSeriesKeys(std::string_view id_key, rocksdb::WriteBatch* write) {
    const rocksdb::Slice key(id_key.data(), id_key.size());
    rocksdb::Status s = write->Delete(handles[kSeries], key);
    if (s.ok()) s = write->Delete(handles[kState], key);
    // Every point key of the series starts with its id key, and sorts before
    // the next id's.
    const std::optional<uint64_t> id = DecodeIdKey(id_key);
    if (s.ok() && id.has_value() && *id != std::numeric_limits<uint64_t>::max()) {
      s = write->DeleteRange(handles[kPoints], key, EncodeIdKey(*id + 1));
    }
    return s;
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

  const rocksdb::DBOptions db_options = MakeDbOptions(options);
  std::vector<std::string> existing = {rocksdb::kDefaultColumnFamilyName};
  if (*content == FolderContent::kRocksDb) {
    existing.clear();
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(db_options, path, &existing);
    if (!s.ok()) return FromRocksOpen(s, path);
    for (const std::string& name : existing) {
      if (name != rocksdb::kDefaultColumnFamilyName &&
          std::find(kColumnNames.begin(), kColumnNames.end(), name) == kColumnNames.end()) {
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
  auto column_options = [&](const std::string& name) {
    for (int c = 0; c < kColumnCount; ++c) {
      if (name == kColumnNames[c]) {
        return MakeColumnOptions(static_cast<Column>(c), cache, impl->cutoff);
      }
    }
    return rocksdb::ColumnFamilyOptions();  // default: only the marker
  };

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : existing) {
    descriptors.emplace_back(name, column_options(name));
  }
  std::vector<rocksdb::ColumnFamilyHandle*> opened;
  rocksdb::Status s = rocksdb::DB::Open(db_options, path, descriptors, &opened, &impl->db);
  if (!s.ok()) return FromRocksOpen(s, path);
  for (rocksdb::ColumnFamilyHandle* h : opened) {
    const auto it = std::find(kColumnNames.begin(), kColumnNames.end(), h->GetName());
    if (it == kColumnNames.end()) {
      impl->default_cf = h;
    } else {
      impl->handles[it - kColumnNames.begin()] = h;
    }
  }

  std::string marker;
  s = impl->db->Get(rocksdb::ReadOptions(), impl->default_cf, rocksdb::Slice(kMarkerKey), &marker);
  const bool has_marker = s.ok();
  if (has_marker && marker != kFormatVersion) {
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

  for (int c = 0; c < kColumnCount; ++c) {
    if (impl->handles[c] != nullptr) continue;
    s = impl->db->CreateColumnFamily(column_options(kColumnNames[c]), kColumnNames[c],
                                     &impl->handles[c]);
    if (!s.ok()) return FromRocksOpen(s, path);
  }
  if (!has_marker) {
    rocksdb::WriteOptions synced;
    synced.sync = true;
    s = impl->db->Put(synced, impl->default_cf, rocksdb::Slice(kMarkerKey),
                      rocksdb::Slice(kFormatVersion));
    if (!s.ok()) return FromRocksOpen(s, path);
  }
  if (absl::Status runs = impl->LoadRunBounds(); !runs.ok()) return runs;
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

absl::Status Store::Write(WriteBatch* batch) {
  WriteBatch::Rep& rep = *batch->rep_;
  if (rep.count == 0) return absl::OkStatus();
  rocksdb::WriteBatch write(rep.records.size() + rep.count * 8);
  std::string_view rest = rep.records;
  while (!rest.empty()) {
    // The buffer was written by WriteBatch::Rep::Add, so sizes are trusted.
    const auto column = static_cast<uint8_t>(rest[0]);
    const size_t key_size = KeySize(column);
    const std::string_view key = rest.substr(1, key_size);
    rocksdb::Status s;
    if (column == kDeleteSeries) {
      rest.remove_prefix(1 + key_size);
      s = impl_->DeleteSeriesKeys(key, &write);
    } else {
      uint32_t value_size = 0;
      for (int i = 3; i >= 0; --i) {
        value_size = (value_size << 8) | static_cast<unsigned char>(rest[1 + key_size + i]);
      }
      const std::string_view value = rest.substr(1 + key_size + 4, value_size);
      rest.remove_prefix(1 + key_size + 4 + value_size);
      s = write.Put(impl_->handles[column], rocksdb::Slice(key.data(), key.size()),
                    rocksdb::Slice(value.data(), value.size()));
    }
    if (!s.ok()) {
      batch->Clear();
      return FromRocks(s, "cannot build storage write");
    }
  }
  // Cleared whatever the outcome: a failed batch is the caller's to rebuild
  // (Prometheus resends the request), never to be applied twice.
  batch->Clear();
  if (impl_->write_failed.load(std::memory_order_relaxed)) {
    // Busy while RocksDB's own recovery (retried every second) is at work;
    // otherwise this flushes the memtables and starts a new WAL, and fails
    // again while the disk is still full.
    const rocksdb::Status resumed = impl_->db->Resume();
    if (!resumed.ok() && !resumed.IsBusy()) {
      return FromRocks(resumed, absl::StrCat("cannot write to ", impl_->options.path,
                                             " (failing since an earlier write)"));
    }
  }
  const rocksdb::Status s = impl_->db->Write(impl_->write_options, &write);
  impl_->write_failed.store(!s.ok(), std::memory_order_relaxed);
  return FromRocks(s, absl::StrCat("cannot write to ", impl_->options.path));
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
  const int64_t start = std::max(start_ms, impl_->cutoff->Get());
  if (start > end_ms) return absl::OkStatus();
  const std::string lower = EncodePointKey(id, start);
  // The smallest key after (id, end_ms): the bound is exclusive.
  std::string upper = EncodePointKey(id, end_ms);
  upper.push_back('\0');
  const rocksdb::Slice upper_bound(upper);
  rocksdb::ReadOptions read;
  read.iterate_upper_bound = &upper_bound;
  read.prefix_same_as_start = true;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(read, impl_->handles[kPoints]));
  for (it->Seek(lower); it->Valid(); it->Next()) {
    ForecastPoint point;
    point.timestamp_ms = DecodePointKeyTime(View(it->key())).value_or(0);
    if (!DecodePointValue(View(it->value()), &point)) {
      return absl::DataLossError(
          absl::StrCat("forecast point of series ", id, " at ", point.timestamp_ms,
                       " has an unknown format (written by a newer adapter?)"));
    }
    if (!fn(point)) break;
  }
  return FromRocks(it->status(), "cannot read forecast points");
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
