// The HTTP API: routes each request to its handler, answers from the engine,
// and records request durations. Blocking work (reads, /metrics) runs on a
// small worker pool owned here; writes are handed to the engine's shards;
// network threads only parse and route.
//
// Thread-safe. Handle() is the HttpServer's handler.
#pragma once

#include <atomic>
#include <cstddef>

#include "adapter/activity_engine.h"
#include "adapter/engine.h"
#include "adapter/http_server.h"
#include "adapter/log.h"
#include "adapter/self_metrics.h"
#include "boost/asio/thread_pool.hpp"
#include "storage/store.h"

namespace kad::adapter {

struct ApiOptions {
  // Default: 64 MiB. Uncompressed request bodies larger than this get 413.
  size_t max_uncompressed_bytes = size_t{64} << 20;
  // Default: 1 MiB. STREAMED_XOR_CHUNKS frame size (Prometheus'
  // --storage.remote.read-max-bytes-in-frame).
  size_t max_bytes_in_frame = size_t{1} << 20;
  // Default: 2. Threads for remote read and /metrics.
  int workers = 2;
};

class Api {
 public:
  // `activities` may be null: the activity endpoints then list nothing.
  // `reloader` may be null: POST /-/reload then answers 404.
  Api(const ApiOptions& options, Engine* engine, const storage::Store* store, SelfMetrics* metrics,
      ActivityEngine* activities, const Logger* log, ConfigReloader* reloader = nullptr);
  ~Api();  // waits for running worker tasks

  void SetReady() { ready_.store(true); }
  void Handle(HttpRequest&& request, Respond respond);

 private:
  void Write(HttpRequest&& request, Respond respond);
  void Read(const HttpRequest& request, const Respond& respond);
  void Metrics(bool forecast_gauges, const Respond& respond);
  // The activity endpoints; `request` carries activity= and match[]= params.
  void DeleteLocks(const HttpRequest& request, const Respond& respond);
  void Retrain(const HttpRequest& request, const Respond& respond);

  const ApiOptions options_;
  Engine* engine_;
  const storage::Store* store_;
  SelfMetrics* metrics_;
  ActivityEngine* activities_;
  const Logger* log_;
  ConfigReloader* reloader_;
  std::atomic<bool> ready_{false};
  boost::asio::thread_pool workers_;
};

}  // namespace kad::adapter
