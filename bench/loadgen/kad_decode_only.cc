// kad_decode_only: the practical ingest limit of this machine. Accepts
// remote write, snappy-decompresses and decodes each body with the
// adapter's zero-copy decoder, drops it and answers 204.
//
//   kad_decode_only --listen-address=127.0.0.1:9300 &
//   kad_loadgen --address=127.0.0.1:9300
//
// It serves with the adapter's own HttpServer and the same number of network
// threads as the adapter (--threads, default 1, as the adapter's), and it
// decodes on the network thread as the adapter does before it hands a batch
// to its model shards; so the gap to the adapter is what ingest beyond
// decoding costs. Stops on SIGINT or SIGTERM.
#include <csignal>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "adapter/http_server.h"
#include "adapter/log.h"
#include "bench/loadgen/dashed_flags.h"
#include "proto/snappy_codec.h"
#include "proto/write_request.h"

ABSL_FLAG(std::string, listen_address, "127.0.0.1:9300", "host:port to serve remote write on");
ABSL_FLAG(int, threads, 1, "network threads (the adapter uses 1)");
ABSL_FLAG(uint64_t, max_uncompressed_bytes, uint64_t{64} << 20,
          "largest uncompressed body (as the adapter's default)");

namespace {

namespace http = boost::beast::http;
using kad::adapter::HttpRequest;
using kad::adapter::Respond;
using kad::adapter::TextResponse;

void Handle(const HttpRequest& request, const Respond& respond, size_t max_uncompressed) {
  if (request.method() != http::verb::post || request.target() != "/api/v1/write") {
    return respond(TextResponse(404, "only POST /api/v1/write"));
  }
  // One decode state per network thread, reused: the steady state allocates nothing.
  thread_local std::string raw;
  thread_local kad::proto::WriteRequestView decoded;
  absl::Status s = kad::proto::SnappyUncompress(request.body(), max_uncompressed, &raw);
  if (s.ok()) s = kad::proto::DecodeWriteRequest(raw, &decoded);
  respond(s.ok() ? TextResponse(204, "") : TextResponse(400, std::string(s.message())));
}

int Run(int argc, char** argv) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::SetProgramUsageMessage("remote-write receiver that only decodes (a benchmark baseline)");
  kad::bench::ParseDashedCommandLine(argc, argv);
  const kad::adapter::Logger log(kad::adapter::LogLevel::kInfo);
  kad::adapter::HttpServerOptions options;
  options.listen_address = absl::GetFlag(FLAGS_listen_address);
  options.threads = absl::GetFlag(FLAGS_threads);
  const size_t max_uncompressed = absl::GetFlag(FLAGS_max_uncompressed_bytes);
  kad::adapter::HttpServer server(
      options,
      [max_uncompressed](HttpRequest&& r, Respond respond) {
        Handle(r, respond, max_uncompressed);
      },
      &log);
  if (absl::Status s = server.Start(); !s.ok()) {
    log.Error("cannot serve", {{"err", s.message()}});
    return 1;
  }
  log.Info("decode-only receiver ready",
           {{"port", absl::StrCat(server.port())}, {"threads", absl::StrCat(options.threads)}});
  int signal = 0;
  sigwait(&signals, &signal);
  server.Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
