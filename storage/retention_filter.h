// Retention of the `blocks` column family: a cutoff time shared between the
// Store (which hides older points from scans) and a RocksDB compaction filter
// (which drops a block whose last point is older, when SST files are written
// by a flush or a compaction; blocks are keyed by that time).
// Internal to kad_storage (and its tests).
//
// Thread-safe: the cutoff is an atomic; RocksDB runs filters on its
// background threads while the Store moves the cutoff.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>

#include "rocksdb/compaction_filter.h"

namespace kad::storage {

class RetentionCutoff {
 public:
  // Points with timestamp < cutoff are expired. Until the first Set nothing
  // is: after a restart, old points stay until the owner says what "now" is.
  int64_t Get() const { return cutoff_ms_.load(std::memory_order_relaxed); }
  void Set(int64_t cutoff_ms) { cutoff_ms_.store(cutoff_ms, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> cutoff_ms_{std::numeric_limits<int64_t>::min()};
};

// Creates filters that drop blocks keys older than the cutoff, on flush as
// well as on compaction, so expired points rarely reach disk at all.
class RetentionFilterFactory : public rocksdb::CompactionFilterFactory {
 public:
  explicit RetentionFilterFactory(std::shared_ptr<const RetentionCutoff> cutoff)
      : cutoff_(std::move(cutoff)) {}

  bool ShouldFilterTableFileCreation(rocksdb::TableFileCreationReason reason) const override;
  std::unique_ptr<rocksdb::CompactionFilter> CreateCompactionFilter(
      const rocksdb::CompactionFilter::Context& context) override;
  const char* Name() const override { return "kad.RetentionFilterFactory"; }

 private:
  std::shared_ptr<const RetentionCutoff> cutoff_;
};

}  // namespace kad::storage
