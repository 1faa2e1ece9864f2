#include "tests/support/process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/support/http_client.h"

namespace kad::testing {
namespace {

constexpr int kReadyPolls = 200;
constexpr std::chrono::milliseconds kPollInterval{50};
constexpr int kTerminatePolls = 400;  // 20 s

std::string Errno(const char* what) { return absl::StrCat(what, ": ", std::strerror(errno)); }

}  // namespace

AdapterProcess::AdapterProcess(std::string binary, std::vector<std::string> args,
                               std::string log_path)
    : binary_(std::move(binary)), args_(std::move(args)), log_path_(std::move(log_path)) {}

AdapterProcess::~AdapterProcess() {
  if (pid_.load() > 0) (void)Kill();
}

absl::Status AdapterProcess::Start() {
  if (pid_.load() > 0) return absl::FailedPreconditionError("already running");
  // Everything the child needs is prepared before fork: only async-signal-
  // safe calls may run between fork and exec in a threaded parent.
  std::vector<std::string> argv_storage = {binary_};
  argv_storage.insert(argv_storage.end(), args_.begin(), args_.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int log_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return absl::InternalError(Errno("cannot open the log"));

  const pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return absl::InternalError(Errno("fork"));
  }
  if (pid == 0) {
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log_fd);
  pid_.store(pid);
  return absl::OkStatus();
}

bool AdapterProcess::Reap(int polls, int* wait_status) {
  const pid_t pid = pid_.load();
  for (int i = 0; i < polls; ++i) {
    const pid_t r = waitpid(pid, wait_status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) {
      pid_.store(0);
      return true;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  return false;
}

absl::Status AdapterProcess::WaitReady(uint16_t port) {
  for (int i = 0; i < kReadyPolls; ++i) {
    int wait_status = 0;
    if (pid_.load() <= 0 || Reap(1, &wait_status)) {
      return absl::FailedPreconditionError(
          absl::StrCat("the adapter exited before it was ready (wait status ", wait_status,
                       "); log:\n", LogTail()));
    }
    absl::StatusOr<HttpResult> r = HttpCall(port, "GET", "/-/ready");
    if (r.ok() && r->status == 200) return absl::OkStatus();
  }
  return absl::DeadlineExceededError(absl::StrCat("the adapter was not ready on port ", port,
                                                  " after ", kReadyPolls * kPollInterval.count(),
                                                  " ms; log:\n", LogTail()));
}

absl::StatusOr<int> AdapterProcess::Kill() {
  const pid_t pid = pid_.load();
  if (pid <= 0) return absl::FailedPreconditionError("not running");
  kill(pid, SIGKILL);
  int wait_status = 0;
  if (waitpid(pid, &wait_status, 0) != pid) {
    return absl::InternalError(Errno("waitpid"));
  }
  pid_.store(0);
  return wait_status;
}

absl::Status AdapterProcess::Terminate() {
  const pid_t pid = pid_.load();
  if (pid <= 0) return absl::FailedPreconditionError("not running");
  kill(pid, SIGTERM);
  int wait_status = 0;
  if (!Reap(kTerminatePolls, &wait_status)) {
    (void)Kill();
    return absl::DeadlineExceededError(
        absl::StrCat("the adapter did not stop within 20 s of SIGTERM; log:\n", LogTail()));
  }
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    return absl::InternalError(
        absl::StrCat("the adapter stopped with wait status ", wait_status, "; log:\n", LogTail()));
  }
  return absl::OkStatus();
}

std::string AdapterProcess::LogTail(size_t bytes) const {
  std::ifstream in(log_path_, std::ios::binary);
  std::stringstream all;
  all << in.rdbuf();
  const std::string text = all.str();
  return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}

absl::StatusOr<uint16_t> PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(Errno("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string error = Errno("bind");
    close(fd);
    return absl::InternalError(error);
  }
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace kad::testing
