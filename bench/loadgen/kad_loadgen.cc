// kad_loadgen: remote-writes to a receiver the way Prometheus 2.42 does, or
// times its remote read, and prints what it measured.
//
//   kad_loadgen --address=127.0.0.1:9201 --series=100000 --connections=2 --duration=30s
//   kad_loadgen --mode=read --address=127.0.0.1:9090 --start-ms=<the write run's>
//   kad_loadgen --mode=count --address=127.0.0.1:9090 --start-ms=<its> --rounds=<its>
//
// Write mode encodes every request before the clock starts (one ring per
// connection; a series always travels on the same connection, so its
// timestamps strictly increase), then sends them back to back on kept-alive
// connections until --duration is up or a ring runs out (a faster receiver
// than --max-rate ends the run early, and the output says so: the rings
// never wrap, which would send out-of-order samples a TSDB rejects cheaply).
//
// Read mode sends two remote-read queries over the first hour of simulated
// time, one series and the 1,000 series of a namespace, --read-repeats times
// each, and prints their latency and what came back. With --forecast-name it
// asks for the adapter's forecasts of those series (value_type="yhat").
//
// Count mode reads every series (or every forecast) over the scrapes
// --first-round to --first-round + --rounds in one query, and prints how
// many series and samples came back: what a receiver kept of a write run.
//
// The last lines of each mode start with "result " and hold key=value pairs
// for scripts. Flag names take dashes or underscores.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/loadgen/dashed_flags.h"
#include "bench/loadgen/keepalive_client.h"
#include "bench/loadgen/latency.h"
#include "bench/loadgen/workload.h"
#include "google/protobuf/io/coded_stream.h"
#include "prometheus/remote.pb.h"
#include "proto/snappy_codec.h"

ABSL_FLAG(std::string, mode, "write",
          "write: remote-write load; read: remote-read latency; count: the series and samples "
          "a remote read of every series over --rounds scrapes returns");
ABSL_FLAG(std::string, address, "127.0.0.1:9201", "the receiver, host:port");
ABSL_FLAG(std::string, write_path, "/api/v1/write", "remote-write path");
ABSL_FLAG(std::string, read_path, "/api/v1/read", "remote-read path");
ABSL_FLAG(uint64_t, series, 100'000, "active series");
ABSL_FLAG(int, labels, 6,
          "labels besides __name__ (2 to 10): namespace, pod, instance, job, container, node, "
          "service, endpoint, app_kubernetes_io_name, cluster");
ABSL_FLAG(uint64_t, batch, 2'000, "TimeSeries entries (one sample each) per request");
ABSL_FLAG(int, connections, 2, "kept-alive connections, each with its share of the series");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(30), "how long to send");
ABSL_FLAG(absl::Duration, scrape_interval, absl::Seconds(15),
          "simulated time between two samples of a series");
ABSL_FLAG(int64_t, start_ms, 0, "simulated time of scrape 0, ms; 0: 7 days ago");
ABSL_FLAG(uint64_t, first_round, 0,
          "scrape to begin with: continues a run that printed next_round=<this>");
ABSL_FLAG(uint64_t, rounds, 0, "scrapes of every series to send (0: as many as --duration takes)");
ABSL_FLAG(double, max_rate, 5e6,
          "samples/s the pre-encoded requests must last --duration for; a faster receiver ends "
          "the run early");
ABSL_FLAG(uint64_t, max_ring_mib, 2'048, "memory for pre-encoded requests, all connections");
ABSL_FLAG(std::string, ring_cache, "",
          "folder to keep pre-encoded requests in, so that runs with the same workload flags "
          "load them instead of encoding again; it keeps only the last workload's (gigabytes "
          "each), so set --start-ms for runs to share them");
ABSL_FLAG(std::string, read_type, "samples", "remote-read response type: samples or streamed");
ABSL_FLAG(std::string, forecast_name, "",
          "read mode: query the forecasts named this (e.g. bench_holt_winters) instead of raw "
          "series");
ABSL_FLAG(int, read_repeats, 20, "read mode: timed queries of each kind (after one untimed)");

namespace kad::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Target {
  std::string host;
  uint16_t port = 0;
};

absl::StatusOr<Target> ParseAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port == 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--address \"", address, "\": want host:port"));
  }
  return Target{address.substr(0, colon), static_cast<uint16_t>(port)};
}

// What one connection saw.
struct ConnectionResult {
  std::vector<double> latency_ms;
  size_t samples_ok = 0;
  uint64_t next_round = 0;  // the first scrape not (entirely) sent
  size_t requests_ok = 0;
  size_t non_2xx = 0;
  size_t errors = 0;
  bool exhausted = false;
  std::string first_failure;
  Clock::time_point end;
};

// Sends `ring` until it is all sent, the deadline or `stop`. Having sent it
// all, sets `stop` when `stop_others` (the rings were sized for a rate: the
// measurement ends with the first), not when every ring holds whole scrapes.
void Send(const Target& target, const std::string& path, const EncodedShard& ring,
          uint64_t first_round, Clock::time_point deadline, bool stop_others,
          std::atomic<bool>* stop, ConnectionResult* out) {
  KeepAliveClient client(target.host, target.port);
  out->latency_ms.reserve(ring.bodies.size());
  size_t next = 0, sent = 0;
  for (; next < ring.bodies.size(); ++next) {
    if (stop->load(std::memory_order_relaxed) || Clock::now() >= deadline) break;
    const Clock::time_point t0 = Clock::now();
    absl::StatusOr<HttpReply> reply = client.Post(path, RemoteWriteHeaders(), ring.bodies[next]);
    out->latency_ms.push_back(Ms(Clock::now() - t0));
    if (!reply.ok()) {
      ++out->errors;
      if (out->first_failure.empty()) out->first_failure = reply.status().ToString();
    } else if (reply->status / 100 != 2) {
      ++out->non_2xx;
      if (out->first_failure.empty()) {
        out->first_failure = absl::StrCat("HTTP ", reply->status, ": ", reply->body.substr(0, 300));
      }
    } else {
      ++out->requests_ok;
      out->samples_ok += ring.body_samples[next];
    }
    sent += ring.body_samples[next];
  }
  // A scrape cut off part way is sent again by a run that continues from
  // here: the receivers take a repeated sample (same time, same value) as
  // Prometheus' own resends.
  out->next_round = ring.series == 0 ? first_round : first_round + sent / ring.series;
  if (next == ring.bodies.size()) {
    out->exhausted = true;
    if (stop_others) stop->store(true);
  }
  out->end = Clock::now();
}

// The cache file of the rings a write run with these flags encodes.
std::string RingCachePath(const WorkloadOptions& o, int connections, size_t max_samples,
                          size_t max_bytes) {
  return absl::StrCat(absl::GetFlag(FLAGS_ring_cache), "/ring-s", o.series, "-l", o.labels, "-b",
                      o.batch, "-i", o.scrape_interval_ms, "-t", o.start_ms, "-f", o.first_round,
                      "-r", o.rounds, "-c", connections, "-n", max_samples, "-m", max_bytes,
                      ".bin");
}

// Per ring: body count, samples, bytes, last timestamp, then each body as
// its length and bytes; all integers in host order (the file never leaves
// the machine). The rings of other workloads in the folder are deleted
// first: each is gigabytes, and a run without --start-ms is a new workload.
void SaveRings(const std::string& path, const std::vector<EncodedShard>& rings) {
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(folder, error)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("ring-") && entry.path() != path) {
      std::filesystem::remove(entry.path(), error);
    }
  }
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return;
  auto put = [f](uint64_t v) { std::fwrite(&v, sizeof v, 1, f); };
  for (const EncodedShard& r : rings) {
    put(r.bodies.size());
    put(r.series);
    put(r.samples);
    put(r.bytes);
    put(static_cast<uint64_t>(r.last_timestamp_ms));
    for (size_t i = 0; i < r.bodies.size(); ++i) {
      const std::string& body = r.bodies[i];
      put(r.body_samples[i]);
      put(body.size());
      std::fwrite(body.data(), 1, body.size(), f);
    }
  }
  if (std::fclose(f) == 0) std::rename(tmp.c_str(), path.c_str());
}

bool LoadRings(const std::string& path, std::vector<EncodedShard>* rings) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  bool ok = true;
  auto get = [f, &ok] {
    uint64_t v = 0;
    ok = ok && std::fread(&v, sizeof v, 1, f) == 1;
    return v;
  };
  for (EncodedShard& r : *rings) {
    r.bodies.resize(get());
    r.body_samples.resize(r.bodies.size());
    r.series = get();
    r.samples = get();
    r.bytes = get();
    r.last_timestamp_ms = static_cast<int64_t>(get());
    for (size_t i = 0; i < r.bodies.size(); ++i) {
      std::string& body = r.bodies[i];
      r.body_samples[i] = static_cast<uint32_t>(get());
      body.resize(ok ? get() : 0);
      ok = ok && std::fread(body.data(), 1, body.size(), f) == body.size();
    }
  }
  std::fclose(f);
  return ok;
}

int RunWrite(const Workload& workload, const Target& target) {
  const int connections = absl::GetFlag(FLAGS_connections);
  const double duration_s = absl::ToDoubleSeconds(absl::GetFlag(FLAGS_duration));
  const auto max_samples =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_rate) * duration_s / connections);
  const size_t max_bytes = (absl::GetFlag(FLAGS_max_ring_mib) << 20) / connections;

  // Encode every request first, one thread per connection.
  const Clock::time_point encode_start = Clock::now();
  const WorkloadOptions& o = workload.options();
  std::vector<EncodedShard> rings(connections);
  const std::string cache = absl::GetFlag(FLAGS_ring_cache).empty()
                                ? ""
                                : RingCachePath(o, connections, max_samples, max_bytes);
  const bool cached = !cache.empty() && LoadRings(cache, &rings);
  if (!cached) {
    std::vector<std::thread> threads;
    for (int c = 0; c < connections; ++c) {
      threads.emplace_back(
          [&, c] { rings[c] = workload.EncodeShard(c, connections, max_samples, max_bytes); });
    }
    for (std::thread& t : threads) t.join();
    if (!cache.empty()) SaveRings(cache, rings);
  }
  size_t requests = 0, samples = 0, bytes = 0;
  int64_t last_ms = 0;
  for (const EncodedShard& r : rings) {
    requests += r.bodies.size();
    samples += r.samples;
    bytes += r.bytes;
    last_ms = std::max(last_ms, r.last_timestamp_ms);
  }
  std::printf(
      "%s %zu requests in %.1f s: %zu samples (%.1f per series), %.1f MiB, %.1f bytes per "
      "sample; simulated time %lld to %lld ms (%.1f h)\n",
      cached ? "loaded" : "encoded", requests,
      std::chrono::duration<double>(Clock::now() - encode_start).count(), samples,
      static_cast<double>(samples) / static_cast<double>(o.series),
      static_cast<double>(bytes) / (1 << 20),
      samples ? static_cast<double>(bytes) / static_cast<double>(samples) : 0.0,
      static_cast<long long>(o.start_ms), static_cast<long long>(last_ms),
      static_cast<double>(last_ms - o.start_ms) / 3.6e6);
  if (last_ms > absl::ToUnixMillis(absl::Now()) + 24 * 3600 * 1000) {
    std::fprintf(stderr,
                 "warning: samples reach more than a day into the future; receivers such as "
                 "VictoriaMetrics drop them (lower --start-ms or raise --series)\n");
  }

  std::atomic<bool> stop{false};
  std::vector<ConnectionResult> results(connections);
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + std::chrono::duration_cast<Clock::duration>(
                                                 std::chrono::duration<double>(duration_s));
  {
    std::vector<std::thread> threads;
    const std::string path = absl::GetFlag(FLAGS_write_path);
    for (int c = 0; c < connections; ++c) {
      threads.emplace_back(Send, std::cref(target), std::cref(path), std::cref(rings[c]),
                           o.first_round, deadline, o.rounds == 0, &stop, &results[c]);
    }
    for (std::thread& t : threads) t.join();
  }

  ConnectionResult total;
  // Rings sized for a rate: one ran out; rings of whole scrapes: all were sent.
  total.exhausted = o.rounds > 0;
  Clock::time_point end = start;
  // Each connection sends its own share of the series: a scrape is whole
  // once the slowest connection has sent its share.
  total.next_round = results.empty() ? 0 : std::numeric_limits<uint64_t>::max();
  for (ConnectionResult& r : results) {
    total.latency_ms.insert(total.latency_ms.end(), r.latency_ms.begin(), r.latency_ms.end());
    total.samples_ok += r.samples_ok;
    total.next_round = std::min(total.next_round, r.next_round);
    total.requests_ok += r.requests_ok;
    total.non_2xx += r.non_2xx;
    total.errors += r.errors;
    total.exhausted =
        o.rounds == 0 ? total.exhausted || r.exhausted : total.exhausted && r.exhausted;
    if (total.first_failure.empty()) total.first_failure = r.first_failure;
    end = std::max(end, r.end);
  }
  std::sort(total.latency_ms.begin(), total.latency_ms.end());
  const double elapsed = std::chrono::duration<double>(end - start).count();
  const double p50 = Percentile(total.latency_ms, 0.5), p99 = Percentile(total.latency_ms, 0.99);
  std::printf(
      "write %s: %zu series, %d labels, batch %zu, %d connections, %.2f s%s\n"
      "  samples/s %.0f  requests/s %.1f  non-2xx %zu  errors %zu  latency p50 %.2f ms  p99 "
      "%.2f ms\n",
      absl::GetFlag(FLAGS_address).c_str(), o.series, o.labels, o.batch, connections, elapsed,
      !total.exhausted ? ""
      : o.rounds > 0   ? " (every request sent)"
                       : " (pre-encoded requests ran out: raise --max-rate)",
      total.samples_ok / elapsed, total.requests_ok / elapsed, total.non_2xx, total.errors, p50,
      p99);
  if (!total.first_failure.empty()) {
    std::printf("  first failure: %s\n", total.first_failure.c_str());
  }
  std::printf(
      "result mode=write samples_per_s=%.0f requests_per_s=%.1f non2xx=%zu errors=%zu "
      "p50_ms=%.3f p99_ms=%.3f samples=%zu elapsed_s=%.3f exhausted=%d next_round=%llu\n",
      total.samples_ok / elapsed, total.requests_ok / elapsed, total.non_2xx, total.errors, p50,
      p99, total.samples_ok, elapsed, total.exhausted ? 1 : 0,
      static_cast<unsigned long long>(total.next_round));
  std::fflush(stdout);
  return total.requests_ok > 0 ? 0 : 1;
}

// Series and samples in a remote-read reply (SAMPLES or STREAMED_XOR_CHUNKS).
absl::StatusOr<std::pair<size_t, size_t>> CountReply(const HttpReply& reply) {
  size_t series = 0, samples = 0;
  if (reply.content_type.starts_with("application/x-streamed-protobuf")) {
    google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(reply.body.data()),
                                              static_cast<int>(reply.body.size()));
    in.SetTotalBytesLimit(INT32_MAX);
    uint64_t length = 0;
    std::string last_key;
    while (in.ReadVarint64(&length)) {
      std::string frame;
      prometheus::ChunkedReadResponse message;
      if (!in.Skip(4) || !in.ReadString(&frame, static_cast<int>(length)) ||
          !message.ParseFromString(frame)) {
        return absl::DataLossError("bad streamed remote-read frame");
      }
      for (const prometheus::ChunkedSeries& s : message.chunked_series()) {
        std::string key;  // a series may span frames: count it once
        for (const prometheus::Label& l : s.labels())
          absl::StrAppend(&key, l.name(), "\xff", l.value(), "\xff");
        if (key != last_key) ++series;
        last_key = std::move(key);
        for (const prometheus::Chunk& c : s.chunks()) {
          if (c.data().size() >= 2) {  // XOR chunks start with a big-endian sample count
            samples += static_cast<uint8_t>(c.data()[0]) << 8 | static_cast<uint8_t>(c.data()[1]);
          }
        }
      }
    }
    return std::make_pair(series, samples);
  }
  std::string raw;
  if (absl::Status s = proto::SnappyUncompress(reply.body, size_t{1} << 31, &raw); !s.ok()) {
    return s;
  }
  prometheus::ReadResponse response;
  if (!response.ParseFromString(raw)) return absl::DataLossError("bad remote-read response");
  for (const prometheus::QueryResult& r : response.results()) {
    series += r.timeseries_size();
    for (const prometheus::TimeSeries& t : r.timeseries()) samples += t.samples_size();
  }
  return std::make_pair(series, samples);
}

// The series a remote read asks for: one, the 1,000 of a namespace, or all.
enum class ReadScope { kOne, kNamespace, kAll };

std::string ReadBody(const Workload& w, ReadScope scope, int64_t from_ms, int64_t to_ms,
                     bool streamed) {
  const std::string forecast = absl::GetFlag(FLAGS_forecast_name);
  prometheus::ReadRequest request;
  if (streamed) request.add_accepted_response_types(prometheus::ReadRequest::STREAMED_XOR_CHUNKS);
  prometheus::Query* q = request.add_queries();
  q->set_start_timestamp_ms(from_ms);
  q->set_end_timestamp_ms(to_ms);
  auto match = [q](prometheus::LabelMatcher::Type type, std::string name, std::string value) {
    prometheus::LabelMatcher* m = q->add_matchers();
    m->set_type(type);
    m->set_name(std::move(name));
    m->set_value(std::move(value));
  };
  auto eq = [&match](std::string name, std::string value) {
    match(prometheus::LabelMatcher::EQ, std::move(name), std::move(value));
  };
  const bool one = scope == ReadScope::kOne;
  if (forecast.empty()) {
    if (one) eq("__name__", w.Metric(0));
    if (scope == ReadScope::kAll) match(prometheus::LabelMatcher::RE, "__name__", ".+");
  } else {
    eq("__name__", forecast);
    eq("value_type", "yhat");
    if (one) eq("source_metric", w.Metric(0));
  }
  if (scope != ReadScope::kAll) eq("namespace", w.Namespace(0));
  if (one) eq("pod", w.Pod(0));
  std::string body;
  proto::SnappyCompress(request.SerializeAsString(), &body);
  return body;
}

// Posts a remote-read body; an answer other than 200 is an error that
// quotes the start of its body.
absl::StatusOr<HttpReply> PostRead(KeepAliveClient& client, const std::string& body) {
  absl::StatusOr<HttpReply> reply =
      client.Post(absl::GetFlag(FLAGS_read_path), RemoteReadHeaders(), body, uint64_t{1} << 31);
  if (reply.ok() && reply->status != 200) {
    return absl::UnavailableError(
        absl::StrCat("HTTP ", reply->status, ": ", reply->body.substr(0, 300)));
  }
  return reply;
}

int RunRead(const Workload& workload, const Target& target) {
  const std::string type = absl::GetFlag(FLAGS_read_type);
  if (type != "samples" && type != "streamed") {
    std::fprintf(stderr, "--read-type must be samples or streamed\n");
    return 2;
  }
  if (workload.options().series < 1000) {
    std::fprintf(stderr, "warning: fewer than 1,000 series; the namespace query selects fewer\n");
  }
  KeepAliveClient client(target.host, target.port);
  int failures = 0;
  for (const bool one : {true, false}) {
    const int64_t from_ms = workload.options().start_ms;
    const std::string body = ReadBody(workload, one ? ReadScope::kOne : ReadScope::kNamespace,
                                      from_ms, from_ms + 3'600'000, type == "streamed");
    const char* name = one ? "1x1h" : "1000x1h";
    std::vector<double> latency_ms;
    std::pair<size_t, size_t> counted{0, 0};
    std::string failure;
    for (int i = 0; i <= absl::GetFlag(FLAGS_read_repeats); ++i) {
      const Clock::time_point t0 = Clock::now();
      absl::StatusOr<HttpReply> reply = PostRead(client, body);
      const double ms = Ms(Clock::now() - t0);
      if (!reply.ok()) {
        failure = reply.status().ToString();
        break;
      }
      if (i == 0) {  // untimed: warms caches, and its reply is counted
        absl::StatusOr<std::pair<size_t, size_t>> c = CountReply(*reply);
        if (!c.ok()) {
          failure = c.status().ToString();
          break;
        }
        counted = *c;
        continue;
      }
      latency_ms.push_back(ms);
    }
    std::sort(latency_ms.begin(), latency_ms.end());
    const double p50 = Percentile(latency_ms, 0.5), p99 = Percentile(latency_ms, 0.99);
    std::printf("read %s %s (%s): %zu series, %zu samples; latency p50 %.2f ms  p99 %.2f ms%s%s\n",
                absl::GetFlag(FLAGS_address).c_str(), name, type.c_str(), counted.first,
                counted.second, p50, p99, failure.empty() ? "" : "  FAILED: ", failure.c_str());
    std::printf(
        "result mode=read query=%s type=%s series=%zu samples=%zu p50_ms=%.3f p99_ms=%.3f "
        "failed=%d\n",
        name, type.c_str(), counted.first, counted.second, p50, p99, failure.empty() ? 0 : 1);
    failures += failure.empty() ? 0 : 1;
  }
  std::fflush(stdout);
  return failures == 0 ? 0 : 1;
}

// Count mode: one remote read of every series over the scrapes from
// --first-round, --rounds of them, and what came back.
int RunCount(const Workload& workload, const Target& target) {
  const WorkloadOptions& o = workload.options();
  const int64_t from_ms = o.start_ms + static_cast<int64_t>(o.first_round) * o.scrape_interval_ms;
  const int64_t to_ms = from_ms + static_cast<int64_t>(o.rounds) * o.scrape_interval_ms - 1;
  const std::string body = ReadBody(workload, ReadScope::kAll, from_ms, to_ms, false);
  KeepAliveClient client(target.host, target.port);
  const absl::StatusOr<HttpReply> reply = PostRead(client, body);
  const absl::StatusOr<std::pair<size_t, size_t>> counted =
      reply.ok() ? CountReply(*reply) : reply.status();
  if (!counted.ok()) {
    std::fprintf(stderr, "count %s: %s\n", absl::GetFlag(FLAGS_address).c_str(),
                 counted.status().ToString().c_str());
    return 1;
  }
  std::printf("count %s: %zu series, %zu samples from %lld to %lld ms\n",
              absl::GetFlag(FLAGS_address).c_str(), counted->first, counted->second,
              static_cast<long long>(from_ms), static_cast<long long>(to_ms));
  std::printf("result mode=count series=%zu samples=%zu\n", counted->first, counted->second);
  std::fflush(stdout);
  return 0;
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage("remote-write load and remote-read latency, as Prometheus sends");
  ParseDashedCommandLine(argc, argv);

  WorkloadOptions o;
  o.series = absl::GetFlag(FLAGS_series);
  o.labels = absl::GetFlag(FLAGS_labels);
  o.batch = absl::GetFlag(FLAGS_batch);
  o.scrape_interval_ms = absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_scrape_interval));
  o.start_ms = absl::GetFlag(FLAGS_start_ms);
  o.first_round = absl::GetFlag(FLAGS_first_round);
  o.rounds = absl::GetFlag(FLAGS_rounds);
  if (o.start_ms == 0) o.start_ms = absl::ToUnixMillis(absl::Now() - absl::Hours(7 * 24));
  std::string invalid = Workload::Validate(o);
  if (absl::GetFlag(FLAGS_connections) < 1) invalid = "--connections must be positive";
  if (absl::GetFlag(FLAGS_duration) <= absl::ZeroDuration())
    invalid = "--duration must be positive";
  absl::StatusOr<Target> target = ParseAddress(absl::GetFlag(FLAGS_address));
  if (!target.ok()) invalid = std::string(target.status().message());
  if (!invalid.empty()) {
    std::fprintf(stderr, "%s\n", invalid.c_str());
    return 2;
  }
  const Workload workload(o);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "write") return RunWrite(workload, *target);
  if (mode == "read") return RunRead(workload, *target);
  if (mode == "count") {
    if (o.rounds == 0) {
      std::fprintf(stderr, "--mode=count needs --rounds\n");
      return 2;
    }
    return RunCount(workload, *target);
  }
  std::fprintf(stderr, "--mode must be write, read or count\n");
  return 2;
}

}  // namespace
}  // namespace kad::bench

int main(int argc, char** argv) { return kad::bench::Main(argc, argv); }
