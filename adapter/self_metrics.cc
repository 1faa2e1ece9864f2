#include "adapter/self_metrics.h"

#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kad::adapter {
namespace {

constexpr const char* kRejectReasons[] = {nullptr,          "not_selected",     "out_of_order",
                                          "duplicate",      "non_finite",       "stale_marker",
                                          "invalid_labels", "native_histogram", "series_limit"};
static_assert(std::size(kRejectReasons) == static_cast<size_t>(SampleOutcome::kNum));

void Family(std::string* out, absl::string_view name, absl::string_view type,
            absl::string_view help) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

}  // namespace

void SelfMetrics::ObserveRequest(std::string_view handler, int code, double seconds) {
  absl::MutexLock lock(&mu_);
  Histogram& h = requests_[{std::string(handler), code}];
  size_t i = 0;
  while (i < kBuckets.size() && seconds > kBuckets[i]) ++i;
  if (i < kBuckets.size()) ++h.counts[i];
  ++h.count;
  h.sum += seconds;
}

void SelfMetrics::RenderTo(const GaugeSnapshot& gauges, std::string* out) const {
  Family(out, "kad_samples_received_total", "counter", "Samples received by remote write.");
  absl::StrAppend(out, "kad_samples_received_total ", received_.load(), "\n");
  Family(out, "kad_samples_modelled_total", "counter",
         "Samples that updated a forecaster (once per forecaster).");
  absl::StrAppend(out, "kad_samples_modelled_total ", Count(SampleOutcome::kModelled), "\n");
  Family(out, "kad_samples_rejected_total", "counter",
         "Samples that updated no forecaster, by reason.");
  for (int i = 1; i < static_cast<int>(SampleOutcome::kNum); ++i) {
    absl::StrAppend(out, "kad_samples_rejected_total{reason=\"", kRejectReasons[i], "\"} ",
                    outcomes_[i].load(), "\n");
  }
  Family(out, "kad_active_series", "gauge", "Forecast series held in memory.");
  absl::StrAppend(out, "kad_active_series ", gauges.active_series, "\n");
  Family(out, "kad_max_series", "gauge",
         "Forecast series the adapter may hold (--storage.max-series).");
  absl::StrAppend(out, "kad_max_series ", gauges.max_series, "\n");
  Family(out, "kad_series_expired_total", "counter",
         "Forecast series removed after series_ttl without a sample.");
  absl::StrAppend(out, "kad_series_expired_total ", expired_.load(), "\n");
  Family(out, "kad_write_queue_bytes", "gauge",
         "Bytes of remote-write requests waiting for the model threads.");
  absl::StrAppend(out, "kad_write_queue_bytes ", gauges.write_queue_bytes, "\n");
  Family(out, "kad_storage_size_bytes", "gauge", "Bytes RocksDB uses on disk.");
  absl::StrAppend(out, "kad_storage_size_bytes ", gauges.storage_bytes, "\n");
  Family(out, "kad_checkpoint_last_complete_timestamp_seconds", "gauge",
         "Every model change before this time is saved (0 until the first checkpoint): "
         "a crash replays what came since.");
  absl::StrAppend(out, "kad_checkpoint_last_complete_timestamp_seconds ",
                  absl::StrFormat("%.3f", static_cast<double>(gauges.checkpointed_ms) / 1000),
                  "\n");
  Family(out, "kad_ready", "gauge", "1 once the stored state is loaded.");
  absl::StrAppend(out, "kad_ready ", gauges.ready ? 1 : 0, "\n");

  Family(out, "kad_config_last_reload_successful", "gauge",
         "1 if the last load of the config files succeeded.");
  absl::StrAppend(out, "kad_config_last_reload_successful ", config_ok_.load() ? 1 : 0, "\n");
  Family(out, "kad_config_last_reload_success_timestamp_seconds", "gauge",
         "When the config files were last loaded successfully.");
  absl::StrAppend(out, "kad_config_last_reload_success_timestamp_seconds ",
                  absl::StrFormat("%.3f", static_cast<double>(config_ok_ms_.load()) / 1000), "\n");

  Family(out, "kad_http_request_duration_seconds", "histogram",
         "HTTP request latency by handler and status code.");
  absl::MutexLock lock(&mu_);
  for (const auto& [key, h] : requests_) {
    const std::string labels =
        absl::StrCat("handler=\"", key.first, "\",code=\"", key.second, "\"");
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += h.counts[i];
      absl::StrAppend(out, "kad_http_request_duration_seconds_bucket{", labels, ",le=\"",
                      absl::StrFormat("%g", kBuckets[i]), "\"} ", cumulative, "\n");
    }
    absl::StrAppend(out, "kad_http_request_duration_seconds_bucket{", labels, ",le=\"+Inf\"} ",
                    h.count, "\n");
    absl::StrAppend(out, "kad_http_request_duration_seconds_sum{", labels, "} ",
                    absl::StrFormat("%.9g", h.sum), "\n");
    absl::StrAppend(out, "kad_http_request_duration_seconds_count{", labels, "} ", h.count, "\n");
  }
}

}  // namespace kad::adapter
