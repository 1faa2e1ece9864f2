#include "adapter/api.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "adapter/absl_view.h"
#include "adapter/http_status.h"
#include "adapter/remote_read.h"
#include "adapter/remote_write.h"
#include "boost/asio/post.hpp"

namespace kad::adapter {
namespace {

namespace http = boost::beast::http;

HttpResponse ErrorResponse(const absl::Status& status) {
  return TextResponse(HttpCodeFor(status), StdView(status.message()));
}

}  // namespace

Api::Api(const ApiOptions& options, Engine* engine, const storage::Store* store,
         SelfMetrics* metrics, const Logger* log)
    : options_(options),
      engine_(engine),
      store_(store),
      metrics_(metrics),
      log_(log),
      workers_(options.workers) {}

Api::~Api() { workers_.join(); }

void Api::Handle(HttpRequest&& request, Respond respond) {
  struct Route {
    std::string_view path;
    http::verb verb;
    std::string_view name;
  };
  static constexpr Route kRoutes[] = {
      {"/api/v1/write", http::verb::post, "write"},
      {"/api/v1/read", http::verb::post, "read"},
      {"/metrics", http::verb::get, "metrics"},
      {"/-/healthy", http::verb::get, "healthy"},
      {"/-/ready", http::verb::get, "ready"},
  };
  std::string_view target = request.target();
  target = target.substr(0, target.find('?'));
  const Route* route = nullptr;
  for (const Route& r : kRoutes) {
    if (r.path == target) route = &r;
  }
  if (route == nullptr) {
    return respond(TextResponse(404, absl::StrCat("no endpoint ", AbslView(target))));
  }
  const bool head =
      request.method() == http::verb::head && route->verb == http::verb::get;
  if (request.method() != route->verb && !head) {
    HttpResponse response =
        TextResponse(405, absl::StrCat(AbslView(target), " accepts ", AbslView(http::to_string(route->verb)), " only"));
    response.set(http::field::allow, http::to_string(route->verb));
    return respond(std::move(response));
  }
  // Every response is timed and counted by handler and code.
  const auto start = std::chrono::steady_clock::now();
  Respond timed = [this, name = route->name, start,
                   respond = std::move(respond)](HttpResponse r) {
    const std::chrono::duration<double> elapsed =
        std::chrono::steady_clock::now() - start;
    metrics_->ObserveRequest(name, r.result_int(), elapsed.count());
    respond(std::move(r));
  };

  const bool ready = ready_.load();
  if (route->name == "healthy") return timed(TextResponse(200, "Healthy"));
  if (route->name == "ready") {
    return timed(ready ? TextResponse(200, "Ready")
                       : TextResponse(503, "Not ready: loading stored state"));
  }
  if (route->name == "metrics") {
    return boost::asio::post(workers_, [this, timed] { Metrics(timed); });
  }
  if (!ready) {
    return timed(TextResponse(503, "not ready: loading stored state; retry"));
  }
  if (route->name == "write")
    return Write(std::move(request), std::move(timed));
  auto shared = std::make_shared<HttpRequest>(std::move(request));
  boost::asio::post(workers_, [this, shared, timed] { Read(*shared, timed); });
}

void Api::Write(HttpRequest&& request, Respond respond) {
  auto job = std::make_shared<WriteJob>();
  if (absl::Status s = DecodeRemoteWrite(
          request, options_.max_uncompressed_bytes, job.get());
      !s.ok()) {
    log_->Debug("remote write rejected", {{"err", s.ToString()}});
    return respond(ErrorResponse(s));
  }
  engine_->Ingest(std::move(job),
                  [respond = std::move(respond)](absl::Status s) {
                    respond(s.ok() ? TextResponse(204, "") : ErrorResponse(s));
                  });
}

void Api::Read(const HttpRequest& request, const Respond& respond) {
  absl::StatusOr<RemoteReadRequest> read =
      DecodeRemoteRead(request, options_.max_uncompressed_bytes);
  if (!read.ok()) return respond(ErrorResponse(read.status()));
  size_t budget = engine_->options().read_sample_limit;
  std::vector<std::vector<ReadSeries>> results;
  for (const ReadQuery& query : read->queries) {
    absl::StatusOr<std::vector<ReadSeries>> series =
        engine_->Read(query, &budget);
    if (!series.ok()) return respond(ErrorResponse(series.status()));
    results.push_back(*std::move(series));
  }
  respond(read->streamed ? ChunkedResponse(results, options_.max_bytes_in_frame)
                         : SamplesResponse(results));
}

void Api::Metrics(const Respond& respond) {
  // The shards answer only once the stored state is loaded.
  std::string body = ready_.load() ? engine_->RenderGauges() : std::string();
  metrics_->RenderTo({.active_series = engine_->num_series(),
                      .storage_bytes = store_->SizeBytes(),
                      .ready = ready_.load()},
                     &body);
  HttpResponse response(http::status::ok, 11);
  response.set(http::field::content_type,
               "text/plain; version=0.0.4; charset=utf-8");
  response.body() = std::move(body);
  respond(std::move(response));
}

}  // namespace kad::adapter
