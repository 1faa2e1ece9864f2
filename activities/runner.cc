#include "activities/runner.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "activities/arg_template.h"
#include "activities/json.h"

namespace kad::activities {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kOutputTail = 4096;
constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";
constexpr const char* kShell = "/bin/sh";
// Without a pidfd (old kernel, seccomp) poll() cannot wake when the child
// exits, so the loop checks waitid() this often instead.
constexpr int kNoPidfdPollMs = 20;
// After the child exits, a background process it left may keep writing to
// the pipe; read at most this much more so it cannot hold the runner.
constexpr size_t kMaxDrainBytes = 1 << 20;

std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

std::string CleanPath() {
  const char* path = std::getenv("PATH");
  return path != nullptr && *path != '\0' ? path : kDefaultPath;
}

// Like execvp's search, but in the PATH the script will see. "" if absent.
std::string FindInPath(const std::string& name, const std::string& path) {
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    if (dir.empty()) continue;  // an empty entry means the cwd: never trusted here
    std::string candidate = absl::StrCat(dir, "/", name);
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return std::string();
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

bool MakePipe(Fd* read_end, Fd* write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  read_end->Reset(fds[0]);
  write_end->Reset(fds[1]);
  return true;
}

struct Credentials {
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;
};

// Looked up before vfork(): the passwd and group databases are not
// async-signal-safe, so the child only makes the set*id system calls.
absl::StatusOr<Credentials> LookUpUser(const std::string& user) {
  std::vector<char> buffer(16384);
  struct passwd pwd;
  struct passwd* found = nullptr;
  int err;
  while ((err = ::getpwnam_r(user.c_str(), &pwd, buffer.data(), buffer.size(), &found)) == ERANGE) {
    buffer.resize(buffer.size() * 2);
  }
  if (found == nullptr) {
    return absl::NotFoundError(absl::StrCat("run_as_user \"", user, "\" is not a user on this host",
                                            err != 0 ? absl::StrCat(" (", ErrnoText(err), ")") : "",
                                            "; create the user or change run_as_user"));
  }
  Credentials creds{pwd.pw_uid, pwd.pw_gid, std::vector<gid_t>(16)};
  int count = static_cast<int>(creds.groups.size());
  while (::getgrouplist(user.c_str(), pwd.pw_gid, creds.groups.data(), &count) < 0) {
    creds.groups.resize(std::max<size_t>(count, creds.groups.size() * 2));
    count = static_cast<int>(creds.groups.size());
  }
  creds.groups.resize(count);
  return creds;
}

// What the child reports through the CLOEXEC pipe when it fails before
// execve; EOF on that pipe means execve succeeded.
enum ChildStage : int { kSetpgid, kStdin, kDup, kChdir, kSetgroups, kSetgid, kSetuid, kExec };
constexpr const char* kStageNames[] = {"setpgid",   "open /dev/null", "dup2",   "chdir",
                                       "setgroups", "setgid",         "setuid", "execve"};
struct ChildError {
  int stage;
  int err;
};

struct ChildPlan {
  const char* exec_path;
  char* const* argv;
  char* const* envp;
  const char* dir;
  const Credentials* creds;  // null: keep the adapter's user
  int max_fd;                // for closing fds where close_range is missing
};

void CloseFdsExcept(int keep, int max_fd) {
  const bool closed =
      (keep <= 3 || ::close_range(3, keep - 1, 0) == 0) && ::close_range(keep + 1, ~0U, 0) == 0;
  if (closed) return;
  for (int fd = 3; fd < max_fd; ++fd) {
    if (fd != keep) ::close(fd);
  }
}

// Runs in the vfork()ed child of a multi-threaded parent, on the parent's
// memory until execve: only raw system calls, no allocation, no return.
// vfork, not fork: copying the page tables of a large adapter on every run
// halved ingest during an anomaly storm (activity_storm_bench). The set-id
// calls are raw syscalls because glibc's wrappers signal every thread of the
// process -- here, the adapter's.
[[noreturn]] void ExecChild(const ChildPlan& plan, int out_w, int err_w) {
  auto fail = [err_w](ChildStage stage) {
    const ChildError report{stage, errno};
    [[maybe_unused]] ssize_t n = ::write(err_w, &report, sizeof(report));
    ::_exit(127);
  };
  // Own process group, so the timeout reaches everything the script starts.
  if (::setpgid(0, 0) != 0) fail(kSetpgid);
  // Ignored signals and the blocked mask survive execve; the adapter's
  // (e.g. SIGPIPE ignored) must not leak into scripts.
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  const int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull < 0) fail(kStdin);
  if (::dup2(devnull, STDIN_FILENO) < 0 || ::dup2(out_w, STDOUT_FILENO) < 0 ||
      ::dup2(out_w, STDERR_FILENO) < 0) {
    fail(kDup);
  }
  CloseFdsExcept(err_w, plan.max_fd);
  if (::chdir(plan.dir) != 0) fail(kChdir);
  if (plan.creds != nullptr) {
    if (::syscall(SYS_setgroups, plan.creds->groups.size(), plan.creds->groups.data()) != 0) {
      fail(kSetgroups);
    }
    if (::syscall(SYS_setresgid, plan.creds->gid, plan.creds->gid, plan.creds->gid) != 0) {
      fail(kSetgid);
    }
    if (::syscall(SYS_setresuid, plan.creds->uid, plan.creds->uid, plan.creds->uid) != 0) {
      fail(kSetuid);
    }
  }
  ::execve(plan.exec_path, plan.argv, plan.envp);
  fail(kExec);
  ::_exit(127);  // not reached: fail() exits
}

// The child's report, or nullopt at EOF (its execve succeeded).
std::optional<ChildError> ReadChildError(int fd) {
  ChildError report;
  ssize_t n;
  do {
    n = ::read(fd, &report, sizeof(report));
  } while (n < 0 && errno == EINTR);
  if (n != sizeof(report)) return std::nullopt;
  return report;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Reads what is available (up to `limit` bytes) into the tail, keeping at
// most about 2 * kOutputTail bytes. False at EOF or on a hard error.
bool ReadAvailable(int fd, std::string* tail, size_t limit) {
  char buffer[4096];
  size_t total = 0;
  while (total < limit) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n <= 0) return false;
    total += n;
    tail->append(buffer, n);
    if (tail->size() > 2 * kOutputTail) tail->erase(0, tail->size() - kOutputTail);
  }
  return true;
}

int64_t MillisSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

int PollTimeoutMs(Clock::time_point now, Clock::time_point next) {
  if (next == Clock::time_point::max()) return -1;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 60'000));
}

}  // namespace

const char* RunOutcomeName(RunOutcome outcome) {
  switch (outcome) {
    case RunOutcome::kSuccess:
      return "success";
    case RunOutcome::kFailure:
      return "failure";
    case RunOutcome::kTimeout:
      return "timeout";
  }
  return "failure";
}

std::vector<std::string> BuildArgv(const ActivitySpec& spec, const AnomalyContext& context) {
  std::vector<std::string> argv;
  if (spec.interpreter.empty()) {
    argv.push_back(kShell);
  } else if (spec.interpreter.find('/') != std::string::npos) {
    argv.push_back(spec.interpreter);
  } else {
    // Unresolved stays the bare name; RunActivity refuses to run it.
    std::string found = FindInPath(spec.interpreter, CleanPath());
    argv.push_back(found.empty() ? spec.interpreter : std::move(found));
  }
  argv.push_back(spec.script_path);
  for (const std::string& arg : spec.args) argv.push_back(ExpandArgTemplate(arg, context));
  return argv;
}

std::vector<std::string> BuildEnvironment(const ActivitySpec& spec, const AnomalyContext& context) {
  std::string labels;
  AppendJsonObject(&labels, context.labels);
  // Numbers read exactly as the argument templates print them.
  auto field = [&context](const char* placeholder) {
    return ExpandArgTemplate(placeholder, context);
  };
  std::vector<std::pair<std::string, std::string>> vars = {
      {"PATH", CleanPath()},
      {"KAD_ACTIVITY", spec.name},
      {"KAD_METRIC", context.metric},
      {"KAD_LABELS", labels},
      {"KAD_VALUE", field("{{value}}")},
      {"KAD_YHAT", field("{{yhat}}")},
      {"KAD_YHAT_LOWER", field("{{yhat_lower}}")},
      {"KAD_YHAT_UPPER", field("{{yhat_upper}}")},
      {"KAD_ANOMALY_SCORE", field("{{anomaly_score}}")},
      {"KAD_TIMESTAMP", field("{{timestamp}}")},
  };
  // The config's env: wins over ours, without duplicate entries.
  for (const auto& [name, value] : spec.env) {
    auto it = std::find_if(vars.begin(), vars.end(),
                           [&name = name](const auto& var) { return var.first == name; });
    if (it != vars.end()) {
      it->second = value;
    } else {
      vars.emplace_back(name, value);
    }
  }
  std::vector<std::string> env;
  env.reserve(vars.size());
  for (const auto& [name, value] : vars) env.push_back(absl::StrCat(name, "=", value));
  return env;
}

RunResult RunActivity(const ActivitySpec& spec, const AnomalyContext& context) {
  const Clock::time_point start = Clock::now();
  RunResult result;
  auto not_started = [&](std::string error) {
    result.error = std::move(error);
    result.duration_ms = MillisSince(start);
    return result;
  };

  std::vector<std::string> argv = BuildArgv(spec, context);
  std::vector<std::string> env = BuildEnvironment(spec, context);
  if (argv[0].find('/') == std::string::npos) {
    return not_started(absl::StrCat("interpreter \"", argv[0], "\" is not in PATH=", CleanPath(),
                                    "; install it or configure it as an absolute path"));
  }
  std::optional<Credentials> creds;
  if (!spec.run_as_user.empty()) {
    absl::StatusOr<Credentials> looked_up = LookUpUser(spec.run_as_user);
    if (!looked_up.ok()) return not_started(std::string(looked_up.status().message()));
    creds = *std::move(looked_up);
  }
  const size_t slash = spec.script_path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : spec.script_path.substr(0, std::max<size_t>(slash, 1));
  std::vector<char*> argv_c = CStrings(argv);
  std::vector<char*> env_c = CStrings(env);
  const ChildPlan plan{argv[0].c_str(),
                       argv_c.data(),
                       env_c.data(),
                       dir.c_str(),
                       creds ? &*creds : nullptr,
                       static_cast<int>(std::clamp<long>(::sysconf(_SC_OPEN_MAX), 1024, 65536))};

  Fd out_r, out_w, err_r, err_w;
  if (!MakePipe(&out_r, &out_w) || !MakePipe(&err_r, &err_w)) {
    return not_started(absl::StrCat("pipe: ", ErrnoText(errno)));
  }
  const int child_out = out_w.get();
  const int child_err = err_w.get();
  const pid_t pid = ::vfork();
  if (pid == 0) ExecChild(plan, child_out, child_err);
  if (pid < 0) return not_started(absl::StrCat("vfork: ", ErrnoText(errno)));
  // Also set here: a timeout before the child's own setpgid must still
  // find the group. EACCES once the child has exec'd is expected.
  ::setpgid(pid, pid);
  out_w.Reset();
  err_w.Reset();
  ::fcntl(out_r.get(), F_SETFL, ::fcntl(out_r.get(), F_GETFL) | O_NONBLOCK);
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));

  std::string tail;
  std::optional<ChildError> start_error;
  const Clock::time_point term_at = start + std::chrono::milliseconds(spec.timeout_ms);
  Clock::time_point kill_at = Clock::time_point::max();
  bool timed_out = false;
  while (true) {
    // WNOWAIT keeps the child a zombie, so its pid (= the group id) cannot
    // be reused before the group is signalled below.
    siginfo_t info = {};
    if (::waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) {
      break;
    }
    const Clock::time_point now = Clock::now();
    if (!timed_out && now >= term_at) {
      timed_out = true;
      ::kill(-pid, SIGTERM);
      kill_at = now + std::chrono::milliseconds(spec.kill_grace_ms);
    } else if (timed_out && now >= kill_at) {
      ::kill(-pid, SIGKILL);
      kill_at = Clock::time_point::max();
    }
    int wait_ms = PollTimeoutMs(now, timed_out ? kill_at : term_at);
    if (!pidfd.open()) wait_ms = wait_ms < 0 ? kNoPidfdPollMs : std::min(wait_ms, kNoPidfdPollMs);

    pollfd fds[3];
    nfds_t count = 0;
    auto watch = [&](const Fd& fd) {
      if (fd.open()) fds[count++] = pollfd{fd.get(), POLLIN, 0};
    };
    watch(out_r);
    watch(err_r);
    watch(pidfd);
    if (::poll(fds, count, wait_ms) <= 0) continue;  // timeout or EINTR: re-check above
    for (nfds_t i = 0; i < count; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == out_r.get()) {
        if (!ReadAvailable(out_r.get(), &tail, kMaxDrainBytes)) out_r.Reset();
      } else if (fds[i].fd == err_r.get()) {
        start_error = ReadChildError(err_r.get());
        err_r.Reset();
      }
    }
  }
  // The grace was for the script to clean up; once it is gone, whatever it
  // left in its group goes too.
  if (timed_out) ::kill(-pid, SIGKILL);
  if (out_r.open()) ReadAvailable(out_r.get(), &tail, kMaxDrainBytes);
  if (err_r.open()) start_error = ReadChildError(err_r.get());
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.duration_ms = MillisSince(start);
  if (tail.size() > kOutputTail) tail.erase(0, tail.size() - kOutputTail);
  result.output = std::move(tail);

  if (start_error) {
    result.error = absl::StrCat("could not start ", argv[0], " ", spec.script_path, ": ",
                                kStageNames[start_error->stage], ": ", ErrnoText(start_error->err));
    if (creds && start_error->stage >= kSetgroups && start_error->stage <= kSetuid) {
      absl::StrAppend(&result.error, " (run_as_user needs the adapter to run as root)");
    }
    return result;
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  if (timed_out) {
    result.outcome = RunOutcome::kTimeout;
  } else if (result.exit_code == 0) {
    result.outcome = RunOutcome::kSuccess;
  }
  return result;
}

}  // namespace kad::activities
