#include "adapter/api.h"

#include <chrono>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "adapter/absl_view.h"
#include "adapter/http_status.h"
#include "adapter/remote_read.h"
#include "adapter/remote_write.h"
#include "adapter/selector.h"
#include "adapter/thread_name.h"
#include "boost/asio/post.hpp"

namespace kad::adapter {
namespace {

namespace http = boost::beast::http;

HttpResponse ErrorResponse(const absl::Status& status) {
  return TextResponse(HttpCodeFor(status), StdView(status.message()));
}

HttpResponse JsonResponse(std::string body) {
  HttpResponse response(http::status::ok, 11);
  response.set(http::field::content_type, "application/json");
  response.body() = std::move(body);
  return response;
}

// Percent-decoding of one query-string component ('+' is a space).
std::string UrlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    int hex = 0;
    if (s[i] == '%' && i + 2 < s.size() &&
        absl::SimpleHexAtoi(AbslView(s.substr(i + 1, 2)), &hex)) {
      out.push_back(static_cast<char>(hex));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

// The values of `name` in the request target's query string.
std::vector<std::string> QueryValues(std::string_view target, std::string_view name) {
  std::vector<std::string> values;
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return values;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const size_t eq = pair.find('=');
    if (UrlDecode(pair.substr(0, eq)) == name) {
      values.push_back(eq == std::string_view::npos ? "" : UrlDecode(pair.substr(eq + 1)));
    }
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
  }
  return values;
}

// Whether /metrics includes the forecast gauges: yes unless the request
// says forecast_gauges=false. A scrape that drops them anyway (remote read
// serves the forecasts) saves rendering them: at 100,000 series they are
// 500,000 lines, 130 MB.
absl::StatusOr<bool> WantsForecastGauges(std::string_view target) {
  const std::vector<std::string> values = QueryValues(target, "forecast_gauges");
  if (values.empty()) return true;
  if (values.size() == 1 && (values[0] == "true" || values[0] == "false")) {
    return values[0] == "true";
  }
  return absl::InvalidArgumentError("give at most one forecast_gauges= parameter, true or false");
}

// The series selectors in match[]= (plain selectors only), ANDed.
absl::StatusOr<std::vector<LabelMatcher>> MatchersOf(const HttpRequest& request) {
  std::vector<LabelMatcher> matchers;
  for (const std::string& text : QueryValues(request.target(), "match[]")) {
    absl::StatusOr<Selector> selector = ParseSelector(text);
    if (!selector.ok()) return selector.status();
    if (selector->function != RangeFunction::kNone) {
      return absl::InvalidArgumentError("match[] takes a series selector, not rate()/irate()");
    }
    matchers.insert(matchers.end(), selector->matchers.begin(), selector->matchers.end());
  }
  return matchers;
}

struct Route {
  std::string_view path;
  http::verb verb;
  std::string_view name;
};

constexpr Route kRoutes[] = {
    {"/api/v1/write", http::verb::post, "write"},
    {"/api/v1/read", http::verb::post, "read"},
    {"/metrics", http::verb::get, "metrics"},
    {"/-/healthy", http::verb::get, "healthy"},
    {"/-/ready", http::verb::get, "ready"},
    {"/api/v1/activities", http::verb::get, "activities"},
    {"/api/v1/locks", http::verb::get, "locks"},
    {"/api/v1/locks", http::verb::delete_, "delete_locks"},
    {"/api/v1/retrain", http::verb::post, "retrain"},
    {"/-/reload", http::verb::post, "reload"},
};

}  // namespace

Api::Api(const ApiOptions& options, Engine* engine, const storage::Store* store,
         SelfMetrics* metrics, ActivityEngine* activities, const Logger* log,
         ConfigReloader* reloader)
    : options_(options),
      engine_(engine),
      store_(store),
      metrics_(metrics),
      activities_(activities),
      log_(log),
      reloader_(reloader),
      workers_(options.workers) {
  NamePoolThreads(workers_, options.workers, "kad-worker");
}

Api::~Api() { workers_.join(); }

void Api::Handle(HttpRequest&& request, Respond respond) {
  std::string_view path = request.target();
  path = path.substr(0, path.find('?'));
  const http::verb verb = request.method() == http::verb::head ? http::verb::get : request.method();
  const Route* route = nullptr;
  std::vector<std::string_view> allowed;
  for (const Route& r : kRoutes) {
    if (r.path != path) continue;
    allowed.push_back(http::to_string(r.verb));
    if (r.verb == verb) route = &r;
  }
  if (allowed.empty()) {
    return respond(TextResponse(404, absl::StrCat("no endpoint ", AbslView(path))));
  }
  if (route == nullptr) {
    const std::string allow = absl::StrJoin(
        allowed, ", ",
        [](std::string* out, std::string_view v) { out->append(v.data(), v.size()); });
    HttpResponse response =
        TextResponse(405, absl::StrCat(AbslView(path), " accepts ", allow, " only"));
    response.set(http::field::allow, allow);
    return respond(std::move(response));
  }
  // Every response is timed and counted by handler and code.
  const auto start = std::chrono::steady_clock::now();
  Respond timed = [this, name = route->name, start, respond = std::move(respond)](HttpResponse r) {
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    metrics_->ObserveRequest(name, r.result_int(), elapsed.count());
    respond(std::move(r));
  };

  const std::string_view name = route->name;
  const bool ready = ready_.load();
  if (name == "healthy") return timed(TextResponse(200, "Healthy"));
  if (name == "ready") {
    return timed(ready ? TextResponse(200, "Ready")
                       : TextResponse(503, "Not ready: loading stored state"));
  }
  if (name == "metrics") {
    const absl::StatusOr<bool> gauges = WantsForecastGauges(request.target());
    if (!gauges.ok()) return timed(ErrorResponse(gauges.status()));
    return boost::asio::post(workers_, [this, timed, gauges = *gauges] { Metrics(gauges, timed); });
  }
  if (!ready) return timed(TextResponse(503, "not ready: loading stored state; retry"));
  if (name == "write") return Write(std::move(request), std::move(timed));
  // The rest may wait on shards or storage: never on a network thread.
  auto shared = std::make_shared<HttpRequest>(std::move(request));
  boost::asio::post(workers_, [this, shared, timed, name] {
    if (name == "read") return Read(*shared, timed);
    if (name == "retrain") return Retrain(*shared, timed);
    if (name == "reload") {
      if (reloader_ == nullptr) return timed(TextResponse(404, "no endpoint /-/reload"));
      const absl::Status s = reloader_->Reload();
      return timed(s.ok()
                       ? TextResponse(200, "")
                       : TextResponse(500, absl::StrCat("failed to reload config: ", s.message())));
    }
    if (activities_ == nullptr) {
      return timed(JsonResponse(name == "locks" ? "{\"locks\":[]}" : "{\"activities\":[]}"));
    }
    if (name == "activities") return timed(JsonResponse(activities_->ActivitiesJson()));
    if (name == "locks") return timed(JsonResponse(activities_->LocksJson()));
    DeleteLocks(*shared, timed);
  });
}

void Api::Write(HttpRequest&& request, Respond respond) {
  auto job = std::make_shared<WriteJob>();
  RemoteWriteMessage message = RemoteWriteMessage::kV1;
  if (absl::Status s =
          DecodeRemoteWrite(request, options_.max_uncompressed_bytes, job.get(), &message);
      !s.ok()) {
    log_->Debug("remote write rejected", {{"err", s.ToString()}});
    HttpResponse response = ErrorResponse(s);
    if (message == RemoteWriteMessage::kV2) AddWrittenHeaders({}, &response);
    return respond(std::move(response));
  }
  const WrittenCounts counts = WrittenCounts::Of(job->request);
  // Native histograms are accepted (and reported written) but no model
  // takes them: counted here, as the shards never see them.
  metrics_->AddReceived(counts.histograms);
  metrics_->Add(SampleOutcome::kNativeHistogram, counts.histograms);
  engine_->Ingest(std::move(job), [respond = std::move(respond), message, counts](absl::Status s) {
    HttpResponse response = s.ok() ? TextResponse(204, "") : ErrorResponse(s);
    if (message == RemoteWriteMessage::kV2)
      AddWrittenHeaders(s.ok() ? counts : WrittenCounts{}, &response);
    respond(std::move(response));
  });
}

void Api::Read(const HttpRequest& request, const Respond& respond) {
  absl::StatusOr<RemoteReadRequest> read =
      DecodeRemoteRead(request, options_.max_uncompressed_bytes);
  if (!read.ok()) return respond(ErrorResponse(read.status()));
  size_t budget = engine_->options().read_sample_limit;
  ReadFormat format{.streamed = read->streamed, .max_frame_bytes = options_.max_bytes_in_frame};
  std::vector<QueryAnswer> answers;
  for (const ReadQuery& query : read->queries) {
    absl::StatusOr<QueryAnswer> answer = engine_->Read(query, format, &budget);
    if (!answer.ok()) return respond(ErrorResponse(answer.status()));
    answers.push_back(*std::move(answer));
    ++format.query_index;
  }
  respond(read->streamed ? ChunkedResponse(answers) : SamplesResponse(answers));
}

void Api::DeleteLocks(const HttpRequest& request, const Respond& respond) {
  absl::StatusOr<std::vector<LabelMatcher>> matchers = MatchersOf(request);
  if (!matchers.ok()) return respond(ErrorResponse(matchers.status()));
  const std::vector<std::string> activity = QueryValues(request.target(), "activity");
  if (activity.size() > 1) {
    return respond(TextResponse(400, "give at most one activity= parameter"));
  }
  const size_t deleted = activities_->DeleteLocks(activity.empty() ? "" : activity[0], *matchers);
  respond(JsonResponse(absl::StrCat("{\"deleted\":", deleted, "}")));
}

void Api::Retrain(const HttpRequest& request, const Respond& respond) {
  absl::StatusOr<std::vector<LabelMatcher>> matchers = MatchersOf(request);
  if (!matchers.ok()) return respond(ErrorResponse(matchers.status()));
  absl::StatusOr<size_t> retrained = engine_->Retrain(*matchers);
  if (!retrained.ok()) return respond(ErrorResponse(retrained.status()));
  respond(JsonResponse(absl::StrCat("{\"retrained\":", *retrained, "}")));
}

void Api::Metrics(bool forecast_gauges, const Respond& respond) {
  std::string body;
  // The gauges first: the shards answer them once they are done with what
  // came before, and only then are the counters below read, so that they
  // count it all (a scrape never shows fewer expiries than its gauges
  // reflect). The shards answer only once the stored state is loaded.
  if (forecast_gauges && ready_.load()) engine_->RenderGauges(&body);
  metrics_->RenderTo({.active_series = engine_->num_series(),
                      .max_series = engine_->options().max_series,
                      .write_queue_bytes = engine_->queued_bytes(),
                      .storage_bytes = store_->SizeBytes(),
                      .checkpointed_ms = engine_->checkpointed_ms(),
                      .ready = ready_.load()},
                     &body);
  if (activities_ != nullptr) activities_->RenderMetrics(&body);
  HttpResponse response(http::status::ok, 11);
  response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  response.body() = std::move(body);
  respond(std::move(response));
}

}  // namespace kad::adapter
