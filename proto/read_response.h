// A hand-written encoder of prometheus.ReadResponse, the SAMPLES answer to
// a remote read (what Prometheus 2.42 asks for), writing the wire format
// straight from the caller's data: the generated message would allocate a
// Sample per sample and copy every label before serialising, which costs
// more than the read itself. The bytes are those the generated code would
// serialise (fields in number order, zero values omitted as proto3 does).
//
//   ReadResponseWriter w;
//   w.BeginResult();                       // one per query, in query order
//   w.AddSeries({{"__name__", "up"}}, {{1000, 1.0}, {2000, 1.0}});
//   std::string message = w.Finish();      // then snappy
//
// Not thread-safe; one writer per response.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace kad::proto {

class ReadResponseWriter {
 public:
  using LabelPair = std::pair<std::string_view, std::string_view>;
  using SamplePair = std::pair<int64_t, double>;  // timestamp ms, value

  // Starts the next QueryResult (ending the one before).
  void BeginResult();
  // Appends a TimeSeries to the current result; BeginResult() first.
  void AddSeries(std::span<const LabelPair> labels, std::span<const SamplePair> samples);
  // The serialised ReadResponse; the writer is empty again.
  std::string Finish();

 private:
  void EndResult();

  std::string out_;
  std::string result_;  // the current QueryResult's fields
  bool in_result_ = false;
};

}  // namespace kad::proto
