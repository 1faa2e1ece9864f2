// Hand-written encoders of the series of remote-read answers, writing the
// wire format straight from the caller's data: the generated messages would
// allocate a Sample per sample and copy every label before serialising,
// which costs more than the read itself. The bytes are those the generated
// code would serialise (fields in number order, zero values omitted as
// proto3 does).
//
// Both answers list their series as field 1 of a message:
//   SAMPLES              ReadResponse { QueryResult results = 1 {
//                                         TimeSeries timeseries = 1 } }
//   STREAMED_XOR_CHUNKS  frames (chunked_read.h) of ChunkedReadResponse {
//                          ChunkedSeries chunked_series = 1; query_index = 2 }
// and a TimeSeries or a ChunkedSeries is its labels (field 1), then its
// samples or its chunks (field 2).
//
//   SeriesWriter w;
//   w.Begin(labels);                     // sorted name/value pairs
//   w.AddSample(1000, 1.0);              // or w.AddChunk(min, max, xor_chunk)
//                                        // and w.AppendFrame(query, &body)
//   std::string result;
//   w.AppendTo(&result);                 // one TimeSeries of a QueryResult
//   AppendQueryResultHeader(result.size(), &message);
//   message.append(result);              // then snappy
//
// Not thread-safe; one writer per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace kad::proto {

class SeriesWriter {
 public:
  using LabelPair = std::pair<std::string_view, std::string_view>;

  // Starts a series with these labels, forgetting the one before.
  void Begin(std::span<const LabelPair> labels);
  // A TimeSeries' sample.
  void AddSample(int64_t t_ms, double v);
  // A ChunkedSeries' chunk of type XOR (storage/xor_chunk.h).
  void AddChunk(int64_t min_time_ms, int64_t max_time_ms, std::string_view xor_chunk);
  // The bytes of the samples or chunks so far.
  size_t data_bytes() const { return size_ - labels_end_; }
  // Forgets the samples or chunks, keeping the labels: the next frame of a
  // long streamed series.
  void ClearData() { size_ = labels_end_; }
  // Appends the series as a field 1 entry to *out.
  void AppendTo(std::string* out) const;
  // Appends a frame (chunked_read.h) of a ChunkedReadResponse holding the
  // series, for query number `query_index`.
  void AppendFrame(int64_t query_index, std::string* out) const;

 private:
  // Room for n more bytes at body_.data() + size_.
  char* Room(size_t n);

  std::string body_;  // its first size_ bytes are the series
  size_t size_ = 0;
  size_t labels_end_ = 0;
};

// Appends the start of a ReadResponse's QueryResult whose TimeSeries
// entries, `bytes` of them, the caller appends next.
void AppendQueryResultHeader(size_t bytes, std::string* response);

}  // namespace kad::proto
