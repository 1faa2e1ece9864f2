// kad_soak: a long remote-write load at a fixed rate with series churn, as a
// cluster whose pods are replaced all day produces, to show that a
// receiver's memory levels off. It prints the receiver's RSS as it goes.
//
//   kad_soak --address=127.0.0.1:9201 --server-pid=1234 --series=50000
//            --rate=40000 --churn=0.02 --churn-interval=1m --duration=30m  (one command)
//
// At any moment --series series are active: a window over the workload's
// series (see workload.h) that slides by churn x series every
// --churn-interval, so that many series end and as many new ones begin.
// Every active series is scraped once per round; a round is --series
// samples, sent in --batch entries per request on --connections kept-alive
// connections, paced to --rate samples/s in all. Requests are encoded as
// they are sent (the run is too long to pre-encode).
//
// Each line also gives the slowest request since the line before; the last
// line starts with "result " and holds key=value pairs for scripts, among
// them the latency of all requests (p50, p99, slowest). Flag names take
// dashes or underscores.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/loadgen/dashed_flags.h"
#include "bench/loadgen/keepalive_client.h"
#include "bench/loadgen/latency.h"
#include "bench/loadgen/workload.h"

ABSL_FLAG(std::string, address, "127.0.0.1:9201", "the receiver, host:port");
ABSL_FLAG(std::string, write_path, "/api/v1/write", "remote-write path");
ABSL_FLAG(int, server_pid, 0, "the receiver's process, whose RSS is reported (0: none)");
ABSL_FLAG(uint64_t, series, 50'000, "active series at any moment");
ABSL_FLAG(int, labels, 6, "labels besides __name__ (2 to 10)");
ABSL_FLAG(uint64_t, batch, 2'000, "TimeSeries entries (one sample each) per request");
ABSL_FLAG(int, connections, 2, "kept-alive connections, each with its share of the series");
ABSL_FLAG(double, rate, 40'000, "samples/s to send, all connections together");
ABSL_FLAG(double, churn, 0.02, "share of the active series replaced every --churn-interval");
ABSL_FLAG(absl::Duration, churn_interval, absl::Minutes(1), "how often series are replaced");
ABSL_FLAG(absl::Duration, duration, absl::Minutes(30), "how long to send");
ABSL_FLAG(absl::Duration, report_interval, absl::Minutes(1), "how often to print a line");
ABSL_FLAG(int64_t, start_ms, 0, "simulated time of round 0, ms; 0: 2 days ago");

namespace kad::bench {
namespace {

using Clock = std::chrono::steady_clock;

int64_t RssKib(int pid) {
  if (pid <= 0) return 0;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    int64_t kib = 0;
    if (line.rfind("VmRSS:", 0) == 0 &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(6, line.size() - 9)), &kib)) {
      return kib;
    }
  }
  return 0;
}

struct Totals {
  std::atomic<uint64_t> samples_ok{0};
  std::atomic<uint64_t> requests_ok{0};
  std::atomic<uint64_t> non_2xx{0};
  std::atomic<uint64_t> errors{0};
  // The slowest request since the last report line, microseconds.
  std::atomic<int64_t> slowest_us{0};
};

// The first series of the active window `elapsed` into the run.
size_t WindowStart(Clock::duration elapsed, Clock::duration churn_interval, size_t step) {
  return static_cast<size_t>(elapsed / churn_interval) * step;
}

// Series the window slides by per --churn-interval.
size_t ChurnStep() {
  return static_cast<size_t>(absl::GetFlag(FLAGS_churn) *
                             static_cast<double>(absl::GetFlag(FLAGS_series)));
}

// Connection `c` of `connections`: round after round, the active series
// i % connections == c, paced to its share of the rate.
void Send(const Workload& workload, const std::string& host, uint16_t port, int c, int connections,
          Clock::time_point start, Clock::time_point deadline, Totals* totals,
          std::vector<double>* latency_ms) {
  const size_t series = absl::GetFlag(FLAGS_series);
  const size_t batch = absl::GetFlag(FLAGS_batch);
  const double rate = absl::GetFlag(FLAGS_rate) / connections;
  const auto churn_interval = absl::ToChronoMilliseconds(absl::GetFlag(FLAGS_churn_interval));
  const size_t step = ChurnStep();
  const std::string path = absl::GetFlag(FLAGS_write_path);
  KeepAliveClient client(host, port);
  std::unordered_map<size_t, std::string> labels;
  std::vector<size_t> mine;
  uint64_t sent = 0;
  for (uint64_t round = 0; Clock::now() < deadline; ++round) {
    const size_t first = WindowStart(Clock::now() - start, churn_interval, step);
    mine.clear();
    for (size_t i = first + (c + connections - first % connections) % connections;
         i < first + series; i += connections) {
      mine.push_back(i);
    }
    if (mine.empty()) return;  // fewer series than connections
    std::erase_if(labels, [first](const auto& entry) { return entry.first < first; });
    for (size_t at = 0; at < mine.size() && Clock::now() < deadline; at += batch) {
      const size_t n = std::min(batch, mine.size() - at);
      const std::string body =
          workload.EncodeRequest(std::span(mine).subspan(at, n), round, &labels);
      // Paced: this request is due once the samples before it have had
      // their share of time.
      std::this_thread::sleep_until(
          start + std::chrono::duration_cast<Clock::duration>(
                      std::chrono::duration<double>(static_cast<double>(sent) / rate)));
      const Clock::time_point t0 = Clock::now();
      absl::StatusOr<HttpReply> reply = client.Post(path, RemoteWriteHeaders(), body);
      const Clock::duration took = Clock::now() - t0;
      latency_ms->push_back(Ms(took));
      const int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
      int64_t slowest = totals->slowest_us.load(std::memory_order_relaxed);
      while (us > slowest && !totals->slowest_us.compare_exchange_weak(slowest, us)) {
      }
      sent += n;
      if (!reply.ok()) {
        totals->errors.fetch_add(1, std::memory_order_relaxed);
      } else if (reply->status / 100 != 2) {
        totals->non_2xx.fetch_add(1, std::memory_order_relaxed);
      } else {
        totals->requests_ok.fetch_add(1, std::memory_order_relaxed);
        totals->samples_ok.fetch_add(n, std::memory_order_relaxed);
      }
    }
  }
}

// Series that have been active at some point `elapsed` into the run.
size_t SeriesStarted(Clock::duration elapsed) {
  return WindowStart(elapsed, absl::ToChronoMilliseconds(absl::GetFlag(FLAGS_churn_interval)),
                     ChurnStep()) +
         absl::GetFlag(FLAGS_series);
}

int Run() {
  const std::string address = absl::GetFlag(FLAGS_address);
  const size_t colon = address.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port == 0 || port > 65535) {
    std::fprintf(stderr, "--address \"%s\": want host:port\n", address.c_str());
    return 2;
  }
  const int connections = absl::GetFlag(FLAGS_connections);
  if (connections < 1 || absl::GetFlag(FLAGS_rate) <= 0 || absl::GetFlag(FLAGS_churn) < 0 ||
      absl::GetFlag(FLAGS_churn) > 1 ||
      absl::GetFlag(FLAGS_churn_interval) <= absl::ZeroDuration()) {
    std::fprintf(stderr,
                 "--connections, --rate and --churn-interval must be positive, "
                 "--churn between 0 and 1\n");
    return 2;
  }
  WorkloadOptions options;
  options.series = absl::GetFlag(FLAGS_series);
  options.labels = absl::GetFlag(FLAGS_labels);
  options.batch = absl::GetFlag(FLAGS_batch);
  options.start_ms = absl::GetFlag(FLAGS_start_ms);
  if (options.start_ms == 0) options.start_ms = absl::ToUnixMillis(absl::Now() - absl::Hours(48));
  if (const std::string bad = Workload::Validate(options); !bad.empty()) {
    std::fprintf(stderr, "%s\n", bad.c_str());
    return 2;
  }
  const Workload workload(options);
  const int pid = absl::GetFlag(FLAGS_server_pid);
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline =
      start + absl::ToChronoMilliseconds(absl::GetFlag(FLAGS_duration));
  Totals totals;
  const int64_t rss_start = RssKib(pid);
  std::printf("soak: %zu active series, %.0f samples/s, %.1f%% churn every %s, %s, rss %lld KiB\n",
              options.series, absl::GetFlag(FLAGS_rate), 100 * absl::GetFlag(FLAGS_churn),
              absl::FormatDuration(absl::GetFlag(FLAGS_churn_interval)).c_str(),
              absl::FormatDuration(absl::GetFlag(FLAGS_duration)).c_str(),
              static_cast<long long>(rss_start));
  std::fflush(stdout);
  std::vector<std::thread> senders;
  std::vector<std::vector<double>> latency_ms(connections);
  for (int c = 0; c < connections; ++c) {
    senders.emplace_back(Send, std::cref(workload), address.substr(0, colon),
                         static_cast<uint16_t>(port), c, connections, start, deadline, &totals,
                         &latency_ms[c]);
  }
  int64_t rss_max = rss_start;
  std::vector<int64_t> rss_samples;
  const auto report = absl::ToChronoMilliseconds(absl::GetFlag(FLAGS_report_interval));
  for (Clock::time_point next = start + report; next <= deadline; next += report) {
    std::this_thread::sleep_until(next);
    const int64_t rss = RssKib(pid);
    rss_max = std::max(rss_max, rss);
    rss_samples.push_back(rss);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const size_t started = SeriesStarted(Clock::now() - start);
    std::printf(
        "t=%6.0fs acked=%llu (%.0f/s) series_started=%llu non_2xx=%llu errors=%llu "
        "rss=%lld KiB slowest=%.1f ms\n",
        seconds, static_cast<unsigned long long>(totals.samples_ok.load()),
        static_cast<double>(totals.samples_ok.load()) / seconds,
        static_cast<unsigned long long>(started),
        static_cast<unsigned long long>(totals.non_2xx.load()),
        static_cast<unsigned long long>(totals.errors.load()), static_cast<long long>(rss),
        static_cast<double>(totals.slowest_us.exchange(0)) / 1000);
    std::fflush(stdout);
  }
  for (std::thread& t : senders) t.join();
  std::vector<double> all_ms;
  for (const std::vector<double>& ms : latency_ms) {
    all_ms.insert(all_ms.end(), ms.begin(), ms.end());
  }
  std::sort(all_ms.begin(), all_ms.end());
  const int64_t rss_end = RssKib(pid);
  rss_max = std::max(rss_max, rss_end);
  // Levelled off: the second half of the run grew the RSS by how much, in
  // per cent of the RSS at its middle.
  const int64_t rss_mid = rss_samples.empty() ? rss_start : rss_samples[rss_samples.size() / 2];
  const double growth =
      rss_mid > 0 ? 100.0 * static_cast<double>(rss_end - rss_mid) / static_cast<double>(rss_mid)
                  : 0;
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf(
      "result seconds=%.0f samples_acked=%llu samples_per_s=%.0f series_started=%llu "
      "non_2xx=%llu errors=%llu rss_start_kib=%lld rss_mid_kib=%lld rss_end_kib=%lld "
      "rss_max_kib=%lld second_half_growth_pct=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
      seconds, static_cast<unsigned long long>(totals.samples_ok.load()),
      static_cast<double>(totals.samples_ok.load()) / seconds,
      static_cast<unsigned long long>(SeriesStarted(Clock::now() - start)),
      static_cast<unsigned long long>(totals.non_2xx.load()),
      static_cast<unsigned long long>(totals.errors.load()), static_cast<long long>(rss_start),
      static_cast<long long>(rss_mid), static_cast<long long>(rss_end),
      static_cast<long long>(rss_max), growth, Percentile(all_ms, 0.5), Percentile(all_ms, 0.99),
      all_ms.empty() ? 0.0 : all_ms.back());
  return totals.errors.load() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace kad::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("kad_soak: a long remote-write load with series churn");
  kad::bench::ParseDashedCommandLine(argc, argv);
  return kad::bench::Run();
}
