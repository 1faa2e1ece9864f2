// The answer to one remote-read query, encoded where its points are read:
// on the shard threads, from the stored chunks (storage::ChunkSet), straight
// into the bytes of the response. A SAMPLES answer's series are TimeSeries
// entries; a STREAMED_XOR_CHUNKS answer's are whole frames, whose chunks are
// the stored ones wherever they lie within the range.
//
//   SeriesEncoder enc(format);          // one per value type, per shard
//   enc.Begin(labels, value_type);
//   store.ScanChunks(scans, columns, [&](size_t, const ChunkSet& s) {
//     return enc.Add(s, s.chunks[c], &n);
//   });
//   enc.AddSample(t, v);                // future points, after the stored ones
//   enc.End(&part);                     // the series' bytes, appended
//
// SeriesEncoder is a plain value used by one thread. QueryAnswer is filled
// by Engine::Read and read by the response encoders (remote_read.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "adapter/labels.h"
#include "proto/read_response.h"
#include "storage/store.h"
#include "storage/xor_chunk.h"

namespace kad::adapter {

struct ReadFormat {
  // STREAMED_XOR_CHUNKS frames; SAMPLES TimeSeries otherwise.
  bool streamed = false;
  // Streamed: a series' chunks are cut into frames of about this size.
  size_t max_frame_bytes = size_t{1} << 20;
  // Streamed: the query's number in the request, which its frames carry.
  int64_t query_index = 0;
};

// One output series of a read, value_type added to its labels.
class SeriesEncoder {
 public:
  explicit SeriesEncoder(const ReadFormat& format) : format_(format) {}

  // Starts the series `labels` (sorted, without value_type) with
  // value_type kValueTypes[value_type].
  void Begin(LabelsView labels, int value_type);
  // Adds the samples of `chunk` (the chunk of this series' column in `set`)
  // within [set.from_ms, set.to_ms], counting them into *added; false if
  // the chunk does not decode.
  bool Add(const storage::ChunkSet& set, std::string_view chunk, size_t* added);
  // Adds a sample later than any added before.
  void AddSample(int64_t t_ms, double v);
  // Appends the series to *out: a TimeSeries entry, or its frames.
  void End(std::string* out);

 private:
  // Streamed: ends the chunk of samples being encoded, if any.
  void CutChunk();
  // Streamed: ends the frame once it is big enough (or `force`).
  void CutFrame(bool force);

  const ReadFormat format_;
  proto::SeriesWriter writer_;
  std::vector<proto::SeriesWriter::LabelPair> labels_;
  // Streamed: samples not from a whole stored chunk, and the frames cut.
  storage::XorChunkEncoder pending_;
  std::string frames_;
  bool framed_ = false;
};

// The series of one query's answer, as the shards encoded them.
struct QueryAnswer {
  // One per shard: the bytes of its series, one after another.
  std::vector<std::string> parts;
  struct Piece {
    size_t part;
    size_t offset;
    size_t size;
  };
  // The series in the order of the answer (by labels).
  std::vector<Piece> order;
  size_t bytes = 0;

  std::string_view bytes_of(const Piece& p) const {
    return std::string_view(parts[p.part]).substr(p.offset, p.size);
  }
};

// Appends to *out the key of the series `labels` (sorted, without
// value_type) with value_type kValueTypes[value_type]. Keys compare
// bytewise as Prometheus orders label sets: name, then value, label by
// label, a set that is the start of another first. (Each name and value is
// written with bytes 0 and 1 escaped as 1 1 and 1 2, then a 0.)
void AppendSortKey(LabelsView labels, int value_type, std::string* out);

}  // namespace kad::adapter
