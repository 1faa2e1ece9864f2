// The load generator's workload: the active series a fleet of Kubernetes
// pods exposes, their samples as scrapes produce them, and remote-write
// bodies encoded exactly as Prometheus 2.42 sends them (one sample per
// TimeSeries entry, labels sorted, `batch` entries per request, snappy).
//
//   WorkloadOptions o;
//   o.series = 100'000;
//   Workload w(o);
//   EncodedShard ring = w.EncodeShard(/*shard=*/0, /*shards=*/2, 50'000'000, size_t{1} << 30);
//   for (const std::string& body : ring.bodies) Post(body);  // in order
//
// Series i is metric i % 10 on pod i / 10; 100 pods share a namespace, so
// {namespace=Namespace(0)} selects 1,000 series. Series are spread over
// shards (connections) as Prometheus spreads them over its shards, so a
// series' samples travel in order on one connection: its timestamps
// strictly increase, as a TSDB requires. Every series is scraped once per
// `scrape_interval_ms` of simulated time, at its own offset in the interval.
//
// Thread-safe: EncodeShard may run for several shards at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kad::bench {

using LabelPairs = std::vector<std::pair<std::string, std::string>>;

struct WorkloadOptions {
  // Default: 100,000. Active series.
  size_t series = 100'000;
  // Default: 6. Labels besides __name__, 2 to 10: namespace, pod, instance,
  // job, container, node, service, endpoint, app_kubernetes_io_name, cluster.
  int labels = 6;
  // Default: 2,000. TimeSeries entries per request (Prometheus' default
  // max_samples_per_send is 500; 2,000 is a common tuning).
  size_t batch = 2'000;
  // Default: 15 s. Simulated time between two samples of a series.
  int64_t scrape_interval_ms = 15'000;
  // Default: 0. Simulated time of scrape 0 (ms since the epoch).
  int64_t start_ms = 0;
  // Default: 0. The scrape to begin with: continues a run that sent scrapes
  // 0 to first_round - 1, with the same values.
  uint64_t first_round = 0;
  // Default: 0 (no limit). Scrapes of every series to encode.
  uint64_t rounds = 0;
};

// A connection's pre-encoded requests, to be sent in order.
struct EncodedShard {
  std::vector<std::string> bodies;     // snappy-compressed WriteRequests
  std::vector<uint32_t> body_samples;  // samples in each body (`batch` but for the last)
  size_t series = 0;                   // series of this shard
  size_t samples = 0;                  // over all bodies
  size_t bytes = 0;                    // compressed, over all bodies
  int64_t last_timestamp_ms = 0;       // the newest sample
};

class Workload {
 public:
  // The options must be valid (see Validate).
  explicit Workload(const WorkloadOptions& options);

  // "" when `options` can be used; otherwise what is wrong.
  static std::string Validate(const WorkloadOptions& options);

  const WorkloadOptions& options() const { return options_; }

  // The labels of series `i`, sorted by name, __name__ first.
  LabelPairs Labels(size_t i) const;
  std::string Metric(size_t i) const;
  std::string Namespace(size_t i) const;
  std::string Pod(size_t i) const;

  // The sample of series `i` at its scrape number `round`.
  int64_t Timestamp(size_t i, uint64_t round) const;
  double Value(size_t i, int64_t t_ms) const;

  // Encodes the requests of connection `shard` of `shards`: the series
  // i % shards == shard, round after round from `first_round`, cut into
  // `batch` entries, until `rounds` rounds, `max_samples` samples or
  // `max_bytes` compressed bytes.
  EncodedShard EncodeShard(size_t shard, size_t shards, size_t max_samples, size_t max_bytes) const;

  // One request body, encoded now: the sample of each of `series` at its
  // scrape number `round`. `labels` caches each series' encoded labels
  // between calls (the caller evicts the series it no longer sends).
  std::string EncodeRequest(std::span<const size_t> series, uint64_t round,
                            std::unordered_map<size_t, std::string>* labels) const;

 private:
  WorkloadOptions options_;
};

}  // namespace kad::bench
