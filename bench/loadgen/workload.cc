#include "bench/loadgen/workload.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
#include "prometheus/remote.pb.h"
#include "proto/snappy_codec.h"

namespace kad::bench {
namespace {

using google::protobuf::internal::WireFormatLite;

constexpr size_t kMetricsPerPod = 10;
constexpr size_t kPodsPerNamespace = 100;
constexpr int kMinLabels = 2;  // namespace and pod make a series unique
constexpr int kMaxLabels = 10;
constexpr double kDaySeconds = 86'400;
constexpr double kDailySwing = 0.3;  // ±30% around the level over a day

// What a pod exposes. Counters grow at `scale` per second on average
// (following the daily swing); gauges swing around `scale`.
struct MetricShape {
  const char* name;
  bool counter;
  bool integer;  // values are whole numbers (bytes, requests, fds)
  double scale;
  double noise;  // gauges: relative noise per scrape
};

constexpr MetricShape kMetrics[kMetricsPerPod] = {
    {"container_cpu_usage_seconds_total", true, false, 0.25, 0},
    {"container_memory_working_set_bytes", false, true, 2.5e8, 0.02},
    {"container_network_receive_bytes_total", true, true, 5e4, 0},
    {"container_network_transmit_bytes_total", true, true, 3e4, 0},
    {"http_requests_total", true, true, 20, 0},
    {"http_request_duration_seconds_sum", true, false, 1.5, 0},
    {"process_open_fds", false, true, 60, 0.05},
    {"go_goroutines", false, true, 120, 0.1},
    {"kube_pod_container_status_restarts_total", true, true, 1e-5, 0},
    {"up", false, true, 1, 0},
};

constexpr const char* kDeployments[] = {"checkout", "cart",   "payments", "search",   "catalog",
                                        "frontend", "auth",   "orders",   "shipping", "ledger",
                                        "reviews",  "images", "mailer"};

// Labels besides __name__, in the order --labels takes them.
constexpr const char* kLabelNames[kMaxLabels] = {"namespace", "pod",       "instance",
                                                 "job",       "container", "node",
                                                 "service",   "endpoint",  "app_kubernetes_io_name",
                                                 "cluster"};

uint64_t Mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

// Uniform in [0, 1).
double Unit(uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }

std::string Base36(uint64_t v, int width) {
  std::string s(width, '0');
  for (int i = width - 1; i >= 0; --i, v /= 36)
    s[i] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
  return s;
}

const char* Deployment(size_t pod) { return kDeployments[pod % std::size(kDeployments)]; }

std::string LabelValue(int label, size_t pod) {
  switch (label) {
    case 0:
      return absl::StrFormat("team-%04d", pod / kPodsPerNamespace);
    case 1:  // deployment-<replicaset hash>-<pod suffix>; the suffix makes it unique
      return absl::StrFormat("%s-%010x-%s", Deployment(pod), Mix(pod / 3) & 0xffffffffff,
                             Base36(pod, 5));
    case 2:
      return absl::StrFormat("10.%d.%d.%d:8080", (pod >> 16) & 255, (pod >> 8) & 255, pod & 255);
    case 3:
      return "kubernetes-pods";
    case 4:
    case 6:
    case 8:
      return Deployment(pod);
    case 5:
      return absl::StrFormat("ip-10-0-%d-%d.eu-west-1.compute.internal", pod / 40 / 250,
                             pod / 40 % 250);
    case 7:
      return "http-metrics";
    default:
      return "prod-eu-west-1";
  }
}

// The labels of every series, encoded once as TimeSeries field 1 entries.
std::string EncodedLabels(const LabelPairs& labels) {
  prometheus::TimeSeries ts;
  for (const auto& [name, value] : labels) {
    prometheus::Label* l = ts.add_labels();
    l->set_name(name);
    l->set_value(value);
  }
  return ts.SerializeAsString();
}

// Appends one TimeSeries entry (labels and one sample) as WriteRequest field 1.
void AppendEntry(const std::string& labels, int64_t t_ms, double value,
                 google::protobuf::io::CodedOutputStream* out) {
  const uint32_t sample_len =
      1 + sizeof(double) + 1 + static_cast<uint32_t>(WireFormatLite::Int64Size(t_ms));
  const uint32_t entry_len = static_cast<uint32_t>(labels.size()) + 1 +
                             google::protobuf::io::CodedOutputStream::VarintSize32(sample_len) +
                             sample_len;
  WireFormatLite::WriteTag(1, WireFormatLite::WIRETYPE_LENGTH_DELIMITED, out);
  out->WriteVarint32(entry_len);
  out->WriteRaw(labels.data(), static_cast<int>(labels.size()));
  WireFormatLite::WriteTag(2, WireFormatLite::WIRETYPE_LENGTH_DELIMITED, out);
  out->WriteVarint32(sample_len);
  WireFormatLite::WriteDouble(1, value, out);
  WireFormatLite::WriteInt64(2, t_ms, out);
}

}  // namespace

Workload::Workload(const WorkloadOptions& options) : options_(options) {}

std::string Workload::Validate(const WorkloadOptions& o) {
  if (o.series == 0) return "--series must be positive";
  if (o.labels < kMinLabels || o.labels > kMaxLabels) {
    return absl::StrCat("--labels must be between ", kMinLabels, " and ", kMaxLabels);
  }
  if (o.batch == 0) return "--batch must be positive";
  if (o.scrape_interval_ms <= 0) return "--scrape-interval must be positive";
  return "";
}

LabelPairs Workload::Labels(size_t i) const {
  const size_t pod = i / kMetricsPerPod;
  LabelPairs labels;
  labels.reserve(options_.labels + 1);
  for (int l = 0; l < options_.labels; ++l) labels.emplace_back(kLabelNames[l], LabelValue(l, pod));
  std::sort(labels.begin(), labels.end());
  labels.insert(labels.begin(), {"__name__", Metric(i)});  // '_' sorts before 'a'
  return labels;
}

std::string Workload::Metric(size_t i) const { return kMetrics[i % kMetricsPerPod].name; }
std::string Workload::Namespace(size_t i) const { return LabelValue(0, i / kMetricsPerPod); }
std::string Workload::Pod(size_t i) const { return LabelValue(1, i / kMetricsPerPod); }

int64_t Workload::Timestamp(size_t i, uint64_t round) const {
  const int64_t offset = static_cast<int64_t>(Mix(i) % options_.scrape_interval_ms);
  return options_.start_ms + static_cast<int64_t>(round) * options_.scrape_interval_ms + offset;
}

double Workload::Value(size_t i, int64_t t_ms) const {
  const MetricShape& m = kMetrics[i % kMetricsPerPod];
  const uint64_t h = Mix(i ^ 0x5bd1e995);
  const double level = m.scale * (0.5 + Unit(Mix(h)));
  const double phase = 2 * std::numbers::pi * Unit(h);
  const double w = 2 * std::numbers::pi / kDaySeconds;
  const double tau = static_cast<double>(t_ms) / 1000;
  double v;
  if (m.counter) {
    // The integral of level * (1 + swing * sin(w t + phase)) since start_ms:
    // never decreasing, as a counter must be.
    const double tau0 = static_cast<double>(options_.start_ms) / 1000;
    v = level *
        ((tau - tau0) - kDailySwing / w * (std::cos(w * tau + phase) - std::cos(w * tau0 + phase)));
  } else {
    const double noise = 2 * Unit(Mix(h ^ static_cast<uint64_t>(t_ms))) - 1;
    v = m.scale == 1 ? 1 : level * (1 + kDailySwing * std::sin(w * tau + phase) + m.noise * noise);
  }
  return m.integer ? std::floor(v) : v;
}

EncodedShard Workload::EncodeShard(size_t shard, size_t shards, size_t max_samples,
                                   size_t max_bytes) const {
  std::vector<size_t> series;
  std::vector<std::string> labels;
  for (size_t i = shard; i < options_.series; i += shards) {
    series.push_back(i);
    labels.push_back(EncodedLabels(Labels(i)));
  }
  EncodedShard out;
  out.series = series.size();
  if (series.empty()) return out;
  std::string raw, compressed;  // reused: only the stored bodies are allocated per request
  // Position in the stream of scrapes: round entry / n, series entry % n.
  size_t entry = options_.first_round * series.size();
  const size_t end =
      options_.rounds == 0 ? SIZE_MAX : (options_.first_round + options_.rounds) * series.size();
  while (entry < end && out.samples + options_.batch <= max_samples && out.bytes < max_bytes) {
    raw.clear();
    const size_t n = std::min(options_.batch, end - entry);
    {
      google::protobuf::io::StringOutputStream stream(&raw);
      google::protobuf::io::CodedOutputStream coded(&stream);
      for (size_t k = 0; k < n; ++k, ++entry) {
        const size_t j = entry % series.size();
        const int64_t t = Timestamp(series[j], entry / series.size());
        AppendEntry(labels[j], t, Value(series[j], t), &coded);
        out.last_timestamp_ms = std::max(out.last_timestamp_ms, t);
      }
    }
    proto::SnappyCompress(raw, &compressed);
    out.bodies.push_back(compressed);
    out.body_samples.push_back(static_cast<uint32_t>(n));
    out.samples += n;
    out.bytes += compressed.size();
  }
  return out;
}

std::string Workload::EncodeRequest(std::span<const size_t> series, uint64_t round,
                                    std::unordered_map<size_t, std::string>* labels) const {
  std::string raw;
  {
    google::protobuf::io::StringOutputStream stream(&raw);
    google::protobuf::io::CodedOutputStream coded(&stream);
    for (size_t i : series) {
      auto [it, added] = labels->try_emplace(i);
      if (added) it->second = EncodedLabels(Labels(i));
      const int64_t t = Timestamp(i, round);
      AppendEntry(it->second, t, Value(i, t), &coded);
    }
  }
  std::string body;
  proto::SnappyCompress(raw, &body);
  return body;
}

}  // namespace kad::bench
