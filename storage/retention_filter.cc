#include "storage/retention_filter.h"

#include <optional>
#include <string_view>

#include "storage/codec.h"

namespace kad::storage {
namespace {

// One filter serves one flush or compaction job, so it reads the cutoff
// once: the whole job applies a single consistent retention.
class RetentionFilter : public rocksdb::CompactionFilter {
 public:
  explicit RetentionFilter(int64_t cutoff_ms) : cutoff_ms_(cutoff_ms) {}

  bool Filter(int /*level*/, const rocksdb::Slice& key, const rocksdb::Slice& /*existing_value*/,
              std::string* /*new_value*/, bool* /*value_changed*/) const override {
    const std::optional<int64_t> t = DecodePointKeyTime(std::string_view(key.data(), key.size()));
    // Keys of an unexpected shape are kept: dropping data we do not
    // understand is never the safe choice.
    return t.has_value() && *t < cutoff_ms_;
  }

  const char* Name() const override { return "kad.RetentionFilter"; }

 private:
  const int64_t cutoff_ms_;
};

}  // namespace

bool RetentionFilterFactory::ShouldFilterTableFileCreation(
    rocksdb::TableFileCreationReason reason) const {
  return reason == rocksdb::TableFileCreationReason::kFlush ||
         reason == rocksdb::TableFileCreationReason::kCompaction;
}

std::unique_ptr<rocksdb::CompactionFilter> RetentionFilterFactory::CreateCompactionFilter(
    const rocksdb::CompactionFilter::Context& /*context*/) {
  return std::make_unique<RetentionFilter>(cutoff_->Get());
}

}  // namespace kad::storage
