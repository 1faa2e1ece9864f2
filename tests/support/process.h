// Runs the adapter binary as a child process for integration tests: start
// with arguments, output to a log file, wait until GET /-/ready answers 200,
// then stop it with SIGTERM (clean shutdown) or SIGKILL (a crash).
//
//   AdapterProcess p(binary, {"--config.file=c.yaml", ...}, "run.log");
//   ASSERT_TRUE(p.Start().ok());
//   ASSERT_TRUE(p.WaitReady(port).ok()) << p.LogTail();
//   p.Kill();
//
// Not thread-safe, except Kill() and pid(), which may be called from any
// thread while another uses the adapter over HTTP.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kad::testing {

class AdapterProcess {
 public:
  AdapterProcess(std::string binary, std::vector<std::string> args, std::string log_path);
  ~AdapterProcess();  // SIGKILLs a child still running

  AdapterProcess(const AdapterProcess&) = delete;
  AdapterProcess& operator=(const AdapterProcess&) = delete;

  // Forks and execs the binary; its stdout and stderr append to the log.
  absl::Status Start();
  // Polls GET /-/ready on `port` until 200 (at most 200 polls, 50 ms apart).
  // FailedPrecondition if the child exits first, DeadlineExceeded after the
  // last poll; the message carries the log tail.
  absl::Status WaitReady(uint16_t port);
  // SIGKILL, then reaps the child. Returns its wait status.
  absl::StatusOr<int> Kill();
  // SIGTERM, then reaps the child (bounded: SIGKILL after 20 s). OK only when
  // it exited with status 0.
  absl::Status Terminate();

  pid_t pid() const { return pid_.load(); }
  // The last `bytes` of the log, for failure messages.
  std::string LogTail(size_t bytes = 4000) const;

 private:
  // Waits for the child for at most `polls` * 50 ms; true once reaped.
  bool Reap(int polls, int* wait_status);

  const std::string binary_;
  const std::vector<std::string> args_;
  const std::string log_path_;
  std::atomic<pid_t> pid_{0};
};

// Reads a free TCP port by binding port 0 on 127.0.0.1 and closing it.
absl::StatusOr<uint16_t> PickFreePort();

}  // namespace kad::testing
