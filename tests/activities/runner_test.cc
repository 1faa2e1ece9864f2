#include "activities/runner.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/activities/script_dir.h"

namespace kad::activities {
namespace {

using ::kad::activities::testing::Context;
using ::kad::activities::testing::Exists;
using ::kad::activities::testing::PollUntil;
using ::kad::activities::testing::ReadFile;
using ::kad::activities::testing::ScriptDir;
using ::kad::activities::testing::SplitNul;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;

// Records the exact argv and environment the kernel gave the shell, and
// its working directory, into $OUT.*.
constexpr const char* kRecordSh =
    "cat /proc/$$/cmdline > \"$OUT.argv\"\n"
    "cat /proc/$$/environ > \"$OUT.env\"\n"
    "pwd -P > \"$OUT.cwd\"\n";

ActivitySpec Spec(const std::string& script, const std::string& out) {
  ActivitySpec spec;
  spec.name = "predicted_node_load_holt_winters";
  spec.script_path = script;
  spec.env = {{"OUT", out}};
  spec.timeout_ms = 10'000;
  spec.kill_grace_ms = 200;
  return spec;
}

std::string ExpectedPath() {
  const char* path = std::getenv("PATH");
  return path != nullptr && *path != '\0' ? path : "/usr/local/bin:/usr/bin:/bin";
}

// True once `pid` is gone or a zombie (it was reparented; we cannot reap it).
bool ProcessEnded(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  return stat.empty() || (paren != std::string::npos && stat.substr(paren + 2, 1) == "Z");
}

pid_t ReadPid(const std::string& file) {
  PollUntil([&] { return !ReadFile(file).empty(); }, std::chrono::seconds(5));
  return static_cast<pid_t>(std::atol(ReadFile(file).c_str()));
}

TEST(RunActivity, ShellScriptGetsExactArgvEnvironmentAndDirectory) {
  ScriptDir dir;
  const std::string script = dir.Write("sub/record.sh", kRecordSh);
  const std::string out = dir.Path("rec");
  ActivitySpec spec = Spec(script, out);
  spec.args = {"{{ labels.pod }}", "v={{ value }}", "staging"};
  spec.env.emplace_back("TEAM", "infra");
  // Inherited variables other than PATH must not reach the script.
  ::setenv("KAD_TEST_SECRET", "must-not-leak", 1);

  const RunResult result = RunActivity(spec, Context());
  ::unsetenv("KAD_TEST_SECRET");

  EXPECT_EQ(result.outcome, RunOutcome::kSuccess) << result.output << result.error;
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.signal, 0);
  EXPECT_EQ(result.error, "");
  EXPECT_THAT(SplitNul(ReadFile(out + ".argv")),
              ElementsAre("/bin/sh", script, "web-1", "v=2.5", "staging"));
  EXPECT_THAT(SplitNul(ReadFile(out + ".env")),
              UnorderedElementsAreArray(std::vector<std::string>{
                  "PATH=" + ExpectedPath(),
                  "KAD_ACTIVITY=predicted_node_load_holt_winters",
                  "KAD_METRIC=node_load1",
                  R"(KAD_LABELS={"instance":"node-1:9100","pod":"web-1"})",
                  "KAD_VALUE=2.5",
                  "KAD_YHAT=1.25",
                  "KAD_YHAT_LOWER=0.5",
                  "KAD_YHAT_UPPER=2",
                  "KAD_ANOMALY_SCORE=1.5",
                  "KAD_TIMESTAMP=1700000000.123",
                  "OUT=" + out,
                  "TEAM=infra",
              }));
  EXPECT_EQ(ReadFile(out + ".cwd"), dir.Path("sub") + "\n");
}

TEST(RunActivity, ConfigEnvOverridesWithoutDuplicates) {
  ActivitySpec spec;
  spec.env = {{"PATH", "/opt/bin"}, {"KAD_METRIC", "mine"}};
  const std::vector<std::string> env = BuildEnvironment(spec, Context());
  EXPECT_EQ(std::count(env.begin(), env.end(), "PATH=/opt/bin"), 1);
  EXPECT_EQ(std::count(env.begin(), env.end(), "KAD_METRIC=mine"), 1);
  EXPECT_EQ(std::count_if(env.begin(), env.end(),
                          [](const std::string& e) { return e.rfind("PATH=", 0) == 0; }),
            1);
}

TEST(RunActivity, HostileLabelValueArrivesAsOneLiteralArgument) {
  ScriptDir dir;
  const std::string script = dir.Write("record.sh", kRecordSh);
  const std::string out = dir.Path("rec");
  const std::string pwned =
      "/tmp/pwned-" + std::to_string(::getpid()) + "-" +
      std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  const std::string evil = "$(touch " + pwned + "); rm -rf /";
  const std::string messy = "a b \"c\" 'd'\\\nline2\x01";
  AnomalyContext context = Context();
  context.labels = {{"evil", evil}, {"messy", messy}};
  ActivitySpec spec = Spec(script, out);
  spec.args = {"{{ labels.evil }}", "{{ labels.messy }}", "x={{labels.evil}}"};

  const RunResult result = RunActivity(spec, context);

  EXPECT_EQ(result.outcome, RunOutcome::kSuccess) << result.output << result.error;
  EXPECT_THAT(SplitNul(ReadFile(out + ".argv")),
              ElementsAre("/bin/sh", script, evil, messy, "x=" + evil));
  EXPECT_FALSE(Exists(pwned)) << "a label value was executed by a shell";
  const std::vector<std::string> env = SplitNul(ReadFile(out + ".env"));
  const std::string labels = "KAD_LABELS={\"evil\":\"$(touch " + pwned +
                             "); rm -rf /\",\"messy\":\"a b \\\"c\\\" 'd'\\\\\\nline2\\u0001\"}";
  EXPECT_EQ(std::count(env.begin(), env.end(), labels), 1) << ReadFile(out + ".env");
}

TEST(RunActivity, NonzeroExitIsFailureWithOutput) {
  ScriptDir dir;
  const std::string script =
      dir.Write("fail.sh", "cat\necho to-stdout\necho to-stderr >&2\nexit 3\n");
  const RunResult result = RunActivity(Spec(script, dir.Path("rec")), Context());
  EXPECT_EQ(result.outcome, RunOutcome::kFailure);
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.signal, 0);
  EXPECT_EQ(result.error, "");
  // `cat` returned at once: stdin is /dev/null, not the adapter's.
  EXPECT_EQ(result.output, "to-stdout\nto-stderr\n");
  EXPECT_STREQ(RunOutcomeName(result.outcome), "failure");
}

TEST(RunActivity, KeepsLastFourKiBOfOutput) {
  ScriptDir dir;
  const std::string script = dir.Write(
      "loud.sh", "i=0\nwhile [ $i -lt 3000 ]; do printf '%05d\\n' $i; i=$((i+1)); done\n");
  const RunResult result = RunActivity(Spec(script, dir.Path("rec")), Context());
  std::string all;
  for (int i = 0; i < 3000; ++i) {
    char line[16];
    std::snprintf(line, sizeof(line), "%05d\n", i);
    all += line;
  }
  EXPECT_EQ(result.outcome, RunOutcome::kSuccess);
  EXPECT_EQ(result.output.size(), 4096u);
  EXPECT_EQ(result.output, all.substr(all.size() - 4096));
}

TEST(RunActivity, DeathBySignalIsFailure) {
  ScriptDir dir;
  const std::string script = dir.Write("die.sh", "kill -KILL $$\n");
  const RunResult result = RunActivity(Spec(script, dir.Path("rec")), Context());
  EXPECT_EQ(result.outcome, RunOutcome::kFailure);
  EXPECT_EQ(result.exit_code, -1);
  EXPECT_EQ(result.signal, SIGKILL);
}

TEST(RunActivity, IgnoredSignalsInTheAdapterAreResetForTheScript) {
  ScriptDir dir;
  // If SIGTERM stayed ignored, this script would survive its own kill.
  const std::string script = dir.Write("term.sh", "kill -TERM $$\necho survived\n");
  struct sigaction ignore = {}, old = {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGTERM, &ignore, &old);
  const RunResult result = RunActivity(Spec(script, dir.Path("rec")), Context());
  ::sigaction(SIGTERM, &old, nullptr);
  EXPECT_EQ(result.signal, SIGTERM) << result.output;
  EXPECT_EQ(result.output, "");
}

TEST(RunActivity, AdapterFileDescriptorsAreNotInherited) {
  ScriptDir dir;
  const int devnull = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC, like a careless library
  const int leaky = ::dup2(devnull, 100);
  ::close(devnull);
  ASSERT_EQ(leaky, 100);
  const std::string script = dir.Write("fds.sh", "[ -e /proc/$$/fd/100 ] && echo leaked\nexit 0\n");
  const RunResult result = RunActivity(Spec(script, dir.Path("rec")), Context());
  ::close(leaky);
  EXPECT_EQ(result.outcome, RunOutcome::kSuccess);
  EXPECT_EQ(result.output, "");
}

TEST(RunActivity, TimeoutKillsScriptAndItsBackgroundChild) {
  ScriptDir dir;
  const std::string script =
      dir.Write("hang.sh", "sleep 1000 &\necho $! > \"$OUT.pid\"\nsleep 1000\n");
  ActivitySpec spec = Spec(script, dir.Path("rec"));
  spec.timeout_ms = 300;
  spec.kill_grace_ms = 200;
  const auto start = std::chrono::steady_clock::now();
  const RunResult result = RunActivity(spec, Context());
  const auto elapsed = std::chrono::steady_clock::now() - start;

  EXPECT_EQ(result.outcome, RunOutcome::kTimeout);
  EXPECT_EQ(result.signal, SIGTERM);
  EXPECT_STREQ(RunOutcomeName(result.outcome), "timeout");
  EXPECT_GE(result.duration_ms, 300);
  EXPECT_LT(elapsed, std::chrono::milliseconds(300 + 200 + 1000));
  const pid_t child = ReadPid(dir.Path("rec.pid"));
  ASSERT_GT(child, 0);
  EXPECT_TRUE(PollUntil([&] { return ProcessEnded(child); }, std::chrono::seconds(2)))
      << "background child " << child << " outlived the timeout";
}

TEST(RunActivity, ScriptIgnoringSigtermIsKilledAfterGrace) {
  ScriptDir dir;
  // The ignored TERM is inherited by the background child too.
  const std::string script =
      dir.Write("stubborn.sh", "trap '' TERM\nsleep 1000 &\necho $! > \"$OUT.pid\"\nwait\nwait\n");
  ActivitySpec spec = Spec(script, dir.Path("rec"));
  spec.timeout_ms = 300;
  spec.kill_grace_ms = 200;
  const auto start = std::chrono::steady_clock::now();
  const RunResult result = RunActivity(spec, Context());
  const auto elapsed = std::chrono::steady_clock::now() - start;

  EXPECT_EQ(result.outcome, RunOutcome::kTimeout);
  EXPECT_EQ(result.signal, SIGKILL);
  EXPECT_GE(result.duration_ms, 300 + 200);
  EXPECT_LT(elapsed, std::chrono::milliseconds(300 + 200 + 1000));
  const pid_t child = ReadPid(dir.Path("rec.pid"));
  ASSERT_GT(child, 0);
  EXPECT_TRUE(PollUntil([&] { return ProcessEnded(child); }, std::chrono::seconds(2)));
}

TEST(RunActivity, ExitingScriptDoesNotWaitForChildHoldingOutput) {
  ScriptDir dir;
  const std::string script =
      dir.Write("bg.sh", "sleep 1000 &\necho $! > \"$OUT.pid\"\necho done\n");
  ActivitySpec spec = Spec(script, dir.Path("rec"));
  spec.timeout_ms = 5'000;
  const RunResult result = RunActivity(spec, Context());
  const pid_t child = ReadPid(dir.Path("rec.pid"));
  if (child > 0) ::kill(child, SIGKILL);
  EXPECT_EQ(result.outcome, RunOutcome::kSuccess);
  EXPECT_EQ(result.output, "done\n");
  EXPECT_LT(result.duration_ms, 2'000);
}

TEST(RunActivity, PythonActivityRunsWithPython3) {
  ScriptDir dir;
  const std::string script =
      dir.Write("record.py",
                "import os, sys\n"
                "out = os.environ['OUT']\n"
                "open(out + '.argv', 'wb').write(open('/proc/self/cmdline', 'rb').read())\n"
                "open(out + '.version', 'w').write(str(sys.version_info.major))\n"
                "print('labels', os.environ['KAD_LABELS'])\n");
  ActivitySpec spec = Spec(script, dir.Path("rec"));
  spec.interpreter = "python3";
  spec.args = {"{{ labels.pod }}"};

  const RunResult result = RunActivity(spec, Context());

  EXPECT_EQ(result.outcome, RunOutcome::kSuccess) << result.output << result.error;
  const std::vector<std::string> argv = SplitNul(ReadFile(dir.Path("rec.argv")));
  ASSERT_EQ(argv.size(), 3u);
  // The interpreter is resolved in PATH before exec (it may itself be a
  // wrapper such as a pyenv shim that execs the real python3).
  EXPECT_THAT(BuildArgv(spec, Context())[0], EndsWith("/python3"));
  EXPECT_THAT(argv[0], EndsWith("/python3"));
  EXPECT_EQ(argv[1], script);
  EXPECT_EQ(argv[2], "web-1");
  EXPECT_EQ(ReadFile(dir.Path("rec.version")), "3");
  EXPECT_EQ(result.output, "labels {\"instance\":\"node-1:9100\",\"pod\":\"web-1\"}\n");
}

TEST(RunActivity, MissingInterpreterIsReportedWithoutRunning) {
  ScriptDir dir;
  ActivitySpec spec = Spec(dir.Write("x.py", "print(1)\n"), dir.Path("rec"));
  spec.interpreter = "kad-no-such-interpreter";
  const RunResult result = RunActivity(spec, Context());
  EXPECT_EQ(result.outcome, RunOutcome::kFailure);
  EXPECT_EQ(result.exit_code, -1);
  EXPECT_THAT(result.error, HasSubstr("\"kad-no-such-interpreter\" is not in PATH="));
}

TEST(RunActivity, FailureToExecIsReportedAsNotStarted) {
  ScriptDir dir;
  ActivitySpec spec = Spec(dir.Write("x.sh", "exit 0\n"), dir.Path("rec"));
  spec.interpreter = dir.Path("x.sh.missing");
  const RunResult result = RunActivity(spec, Context());
  EXPECT_EQ(result.outcome, RunOutcome::kFailure);
  EXPECT_EQ(result.exit_code, -1);
  EXPECT_THAT(result.error, HasSubstr("execve: No such file or directory"));
}

TEST(RunActivity, UnknownRunAsUserIsReported) {
  ScriptDir dir;
  ActivitySpec spec = Spec(dir.Write("x.sh", "exit 0\n"), dir.Path("rec"));
  spec.run_as_user = "kad-no-such-user";
  const RunResult result = RunActivity(spec, Context());
  EXPECT_EQ(result.outcome, RunOutcome::kFailure);
  EXPECT_THAT(result.error, HasSubstr("run_as_user \"kad-no-such-user\" is not a user"));
}

TEST(RunActivity, RunsAsConfiguredUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "switching users needs root";
  const passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr) GTEST_SKIP() << "no user nobody";
  const uid_t nobody_uid = nobody->pw_uid;
  ScriptDir dir;
  ::chmod(dir.path().c_str(), 0755);
  ActivitySpec spec = Spec(dir.Write("id.sh", "id -u\n"), dir.Path("rec"));
  spec.run_as_user = "nobody";
  const RunResult result = RunActivity(spec, Context());
  EXPECT_EQ(result.outcome, RunOutcome::kSuccess) << result.output << result.error;
  EXPECT_EQ(result.output, std::to_string(nobody_uid) + "\n");
}

}  // namespace
}  // namespace kad::activities
