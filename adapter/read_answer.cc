#include "adapter/read_answer.h"

#include "adapter/forecast_series.h"

namespace kad::adapter {
namespace {

constexpr std::string_view kValueTypeLabel = "value_type";
// Prometheus cuts XOR chunks at 120 samples; readers expect about that.
constexpr int kSamplesPerChunk = 120;

// Walks a label set with value_type added where its name sorts.
class WithValueType {
 public:
  WithValueType(LabelsView labels, int value_type)
      : at_(labels.begin()), end_(labels.end()), type_(kValueTypes[value_type]) {}

  bool done() const { return at_ == end_ && typed_; }
  std::string_view name() const { return AtType() ? kValueTypeLabel : at_->name; }
  std::string_view value() const { return AtType() ? type_ : at_->value; }
  void Next() {
    if (AtType()) {
      typed_ = true;
    } else {
      ++at_;
    }
  }

 private:
  bool AtType() const { return !typed_ && (at_ == end_ || at_->name > kValueTypeLabel); }

  LabelsView::Iterator at_;
  const LabelsView::Iterator end_;
  const std::string_view type_;
  bool typed_ = false;
};

}  // namespace

void AppendSortKey(LabelsView labels, int value_type, std::string* out) {
  auto append = [out](std::string_view s) {
    for (const char c : s) {
      if (static_cast<unsigned char>(c) <= 1) {
        out->push_back('\x01');
        out->push_back(static_cast<char>(c + 1));
      } else {
        out->push_back(c);
      }
    }
    out->push_back('\0');
  };
  for (WithValueType l(labels, value_type); !l.done(); l.Next()) {
    append(l.name());
    append(l.value());
  }
}

void SeriesEncoder::Begin(LabelsView labels, int value_type) {
  labels_.clear();
  for (WithValueType l(labels, value_type); !l.done(); l.Next()) {
    labels_.emplace_back(l.name(), l.value());
  }
  writer_.Begin(labels_);
  pending_.Reset();
  frames_.clear();
  framed_ = false;
}

bool SeriesEncoder::Add(const storage::ChunkSet& set, std::string_view chunk, size_t* added) {
  if (format_.streamed && set.Within()) {
    // The stored chunk as it lies.
    CutChunk();
    writer_.AddChunk(set.min_time_ms, set.max_time_ms, chunk);
    *added += set.count;
    CutFrame(/*force=*/false);
    return true;
  }
  storage::XorChunkDecoder in(chunk);
  while (in.Next()) {
    if (in.t() < set.from_ms) continue;
    if (in.t() > set.to_ms) break;
    AddSample(in.t(), in.v());
    ++*added;
  }
  return in.ok();
}

void SeriesEncoder::AddSample(int64_t t_ms, double v) {
  if (!format_.streamed) {
    writer_.AddSample(t_ms, v);
    return;
  }
  pending_.Append(t_ms, v);
  if (pending_.num_samples() == kSamplesPerChunk) CutChunk();
}

void SeriesEncoder::CutChunk() {
  if (pending_.num_samples() == 0) return;
  writer_.AddChunk(pending_.min_time_ms(), pending_.max_time_ms(), pending_.bytes());
  pending_.Reset();
  CutFrame(/*force=*/false);
}

void SeriesEncoder::CutFrame(bool force) {
  if (!force && writer_.data_bytes() < format_.max_frame_bytes) return;
  writer_.AppendFrame(format_.query_index, &frames_);
  writer_.ClearData();
  framed_ = true;
}

void SeriesEncoder::End(std::string* out) {
  if (!format_.streamed) {
    writer_.AppendTo(out);
    return;
  }
  CutChunk();
  if (!framed_) {
    // The common case, a series in one frame: written in place. Every
    // series gets a frame, even one without chunks.
    writer_.AppendFrame(format_.query_index, out);
    return;
  }
  if (writer_.data_bytes() > 0) CutFrame(/*force=*/true);
  out->append(frames_);
}

}  // namespace kad::adapter
