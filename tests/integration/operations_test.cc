// Operating the real adapter binary (path in $KAD_BINARY): --version and
// --help, and SIGHUP re-reading the config files -- a bad file keeps the
// running config and says so in kad_config_last_reload_successful, a good
// one starts modelling its new entry -- and the web config file (new
// credentials take effect, the old ones stop working), and malloc's huge
// pages (asked for unless the operator's GLIBC_TUNABLES says otherwise), and
// the names of its threads, and a checkpoint that fails on a full disk (the
// log says why, and when checkpoints work again).
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/remote_client.h"
#include "tests/support/small_disk.h"

namespace kad::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::Not;
using ::testing::StartsWith;

constexpr int64_t kT0 = 1767225600000;  // 2026-01-01T00:00:00Z
constexpr int64_t kStep = 15'000;

constexpr char kConfig[] = R"(version: "v1alpha"
prometheus_metric_list:
  - metric_query: "ops_load{job='node'}"
    predicted_metric_name: first_forecast
)";

const char* Binary() {
  const char* binary = getenv("KAD_BINARY");
  EXPECT_NE(binary, nullptr) << "set KAD_BINARY to the k8s-anomaly-detector binary (ctest does)";
  return binary;
}

// stdout and exit status of the binary run with `flag`.
std::pair<std::string, int> RunWith(const std::string& flag) {
  const std::string command = absl::StrCat(Binary(), " ", flag);
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {"", -1};
  std::string out;
  std::array<char, 4096> buffer;
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) out.append(buffer.data(), n);
  const int status = pclose(pipe);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

TEST(Operations, VersionSaysNameAndVersion) {
  const auto [out, code] = RunWith("--version");
  EXPECT_EQ(code, 0);
  EXPECT_THAT(out, StartsWith("k8s-anomaly-detector, version 0.1.0\n"));
  EXPECT_THAT(out, HasSubstr("platform:"));
}

TEST(Operations, HelpListsTheFlagsAndReload) {
  const auto [out, code] = RunWith("--help");
  EXPECT_EQ(code, 0);
  EXPECT_THAT(out, HasSubstr("--log.level"));
  EXPECT_THAT(out, HasSubstr("--storage.retention"));
  EXPECT_THAT(out, HasSubstr("SIGHUP"));
}

// The heap glibc reserves for a thread, in KiB.
constexpr int64_t kHeapKib = 64 * 1024;

// What the running adapter, started with `tunables` as GLIBC_TUNABLES (none
// when null), looks like from /proc: its name, which of malloc's heaps are
// advised to use huge pages (the "hg" flag of their mappings), and its
// threads.
struct RunningAdapter {
  std::string name;
  // None under AddressSanitizer, whose allocator replaces glibc's.
  bool has_main_heap = false;
  bool main_heap_huge = false;
  // Threads' heaps: anonymous, writable, the whole kHeapKib each.
  int thread_heaps_huge = 0;
  // Its threads' names (/proc/<pid>/task/<tid>/comm), sorted.
  std::vector<std::string> threads;
};

// The names of process pid's threads, sorted.
std::vector<std::string> ThreadNames(pid_t pid) {
  std::vector<std::string> names;
  for (const auto& task :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"))) {
    std::string name;
    std::getline(std::ifstream(task.path() / "comm"), name);
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// A fresh folder under /tmp with kConfig in it as environment.yaml; empty
// (and a test failure) if none could be made.
std::string FolderWithConfig() {
  char dir_template[] = "/tmp/kad_operations_test_XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    ADD_FAILURE() << "cannot make a folder under /tmp";
    return "";
  }
  const std::string root = dir_template;
  std::ofstream(root + "/environment.yaml") << kConfig;
  return root;
}

RunningAdapter InspectRunningAdapter(const char* tunables) {
  const std::string root = FolderWithConfig();
  if (root.empty()) return {};
  absl::StatusOr<uint16_t> port = PickFreePort();
  EXPECT_TRUE(port.ok()) << port.status();
  // The child inherits this process' environment; ours is put back after.
  auto set_tunables = [](const char* value) {
    if (value == nullptr) {
      unsetenv("GLIBC_TUNABLES");
    } else {
      setenv("GLIBC_TUNABLES", value, 1);
    }
  };
  const char* before = getenv("GLIBC_TUNABLES");
  const std::string saved = before == nullptr ? "" : before;
  set_tunables(tunables);
  AdapterProcess adapter(Binary(),
                         {absl::StrCat("--config.file=", root, "/environment.yaml"),
                          absl::StrCat("--web.listen-address=127.0.0.1:", port.value_or(0)),
                          absl::StrCat("--storage.path=", root, "/data")},
                         root + "/adapter.log");
  const absl::Status started = adapter.Start();
  set_tunables(before == nullptr ? nullptr : saved.c_str());
  EXPECT_TRUE(started.ok()) << started;
  const absl::Status ready = adapter.WaitReady(port.value_or(0));
  EXPECT_TRUE(ready.ok()) << ready;
  // Series for both shards, so that their threads have taken heaps of
  // their own (a thread gets one at its first allocation).
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  WriteRequestBuilder write;
  for (int i = 0; i < 20; ++i) {
    write.Add({{"__name__", "ops_load"}, {"instance", absl::StrCat("n", i)}, {"job", "node"}},
              now_ms, i);
  }
  const absl::StatusOr<HttpResult> written = RemoteWrite(port.value_or(0), write.request());
  EXPECT_EQ(written.ok() ? written->status : 0, 204)
      << (written.ok() ? written->body : written.status().ToString());
  // Each mapping is a line "start-end perms offset device inode [name]",
  // then its fields ("Name: value"), VmFlags last.
  std::ifstream smaps(absl::StrCat("/proc/", adapter.pid(), "/smaps"));
  RunningAdapter seen;
  std::getline(std::ifstream(absl::StrCat("/proc/", adapter.pid(), "/comm")), seen.name);
  // Threads name themselves as they start, maybe after /-/ready
  // answered: waits (at most 2 s) for the last shard.
  for (int i = 0; i < 100; ++i) {
    seen.threads = ThreadNames(adapter.pid());
    if (absl::c_linear_search(seen.threads, "kad-shard-1")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::string perms, name;
  int64_t size_kib = 0;
  for (std::string line; std::getline(smaps, line);) {
    std::istringstream fields(line);
    std::string key;
    fields >> key;
    if (key == "Size:") {
      fields >> size_kib;
    } else if (key == "VmFlags:") {
      bool huge = false;
      for (std::string flag; fields >> flag;) huge = huge || flag == "hg";
      if (name == "[heap]") {
        seen.has_main_heap = true;
        seen.main_heap_huge = huge;
      } else if (name.empty() && perms == "rw-p" && size_kib % kHeapKib == 0 && huge) {
        // Heaps side by side in memory show as one mapping.
        seen.thread_heaps_huge += static_cast<int>(size_kib / kHeapKib);
      }
    } else if (!key.empty() && key.back() != ':') {
      std::string offset, device, inode;
      fields >> perms >> offset >> device >> inode;
      name.clear();
      fields >> name;
    }
  }
  EXPECT_TRUE(adapter.Terminate().ok()) << adapter.LogTail();
  std::filesystem::remove_all(root);
  return seen;
}

TEST(Operations, MallocAsksForHugePagesUnlessTheOperatorSaidOtherwise) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "AddressSanitizer's allocator replaces glibc's malloc";
#endif
  // glibc advises huge pages only in the kernel's `madvise` mode (Debian's
  // default): in `always` every heap has them, in `never` none does.
  std::ifstream mode_file("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string mode;
  std::getline(mode_file, mode);
  if (mode.find("[madvise]") == std::string::npos) {
    GTEST_SKIP() << "transparent huge pages are not in madvise mode here: " << mode;
  }
  const RunningAdapter unset = InspectRunningAdapter(nullptr);
  ASSERT_TRUE(unset.has_main_heap) << "no [heap] mapping in /proc/<pid>/smaps";
  EXPECT_TRUE(unset.main_heap_huge);
  // The shard threads' heaps at least.
  EXPECT_GE(unset.thread_heaps_huge, 2);
  const RunningAdapter other = InspectRunningAdapter("glibc.malloc.tcache_count=4");
  EXPECT_TRUE(other.main_heap_huge);
  EXPECT_GE(other.thread_heaps_huge, 2);
  const RunningAdapter off = InspectRunningAdapter("glibc.malloc.hugetlb=0");
  ASSERT_TRUE(off.has_main_heap);
  EXPECT_FALSE(off.main_heap_huge);
  EXPECT_EQ(off.thread_heaps_huge, 0);
}

TEST(Operations, ThreadsAreNamedForWhatTheyDo) {
  // Defaults: one network thread, two shards, two workers (reads, metrics),
  // four activity workers; RocksDB names its own, but for its timer. The
  // main thread keeps the process' name, and it alone.
  const RunningAdapter running = InspectRunningAdapter(nullptr);
  const std::vector<std::string> expected = {"kad-http-0",     "kad-shard-0",  "kad-shard-1",
                                             "kad-worker-0",   "kad-worker-1", "kad-activity-0",
                                             "kad-activity-3", "rocksdb:low",  "rocksdb:timer"};
  EXPECT_THAT(running.threads, IsSupersetOf(expected)) << absl::StrJoin(running.threads, ", ");
  EXPECT_EQ(absl::c_count(running.threads, running.name), 1)
      << absl::StrJoin(running.threads, ", ");
  // Each of the adapter's names is one thread's.
  EXPECT_EQ(std::adjacent_find(running.threads.begin(), running.threads.end(),
                               [](const std::string& a, const std::string& b) {
                                 return a == b && a.starts_with("kad-");
                               }),
            running.threads.end())
      << absl::StrJoin(running.threads, ", ");
}

TEST(Operations, RunningItselfAgainKeepsTheProcessName) {
  // The kernel names a process after the file it runs, cut to 15 bytes.
  const std::string expected = std::filesystem::path(Binary()).filename().string().substr(0, 15);
  // Run again for the huge-page tunable, and not.
  EXPECT_EQ(InspectRunningAdapter(nullptr).name, expected);
  EXPECT_EQ(InspectRunningAdapter("glibc.malloc.hugetlb=0").name, expected);
}

class SighupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = FolderWithConfig();
    ASSERT_FALSE(root_.empty());
    absl::StatusOr<uint16_t> port = PickFreePort();
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
    adapter_ = std::make_unique<AdapterProcess>(
        Binary(),
        std::vector<std::string>{absl::StrCat("--config.file=", root_, "/environment.yaml"),
                                 absl::StrCat("--web.listen-address=127.0.0.1:", port_),
                                 absl::StrCat("--storage.path=", root_, "/data"),
                                 "--storage.retention=10y"},
        root_ + "/adapter.log");
    ASSERT_TRUE(adapter_->Start().ok());
    const absl::Status ready = adapter_->WaitReady(port_);
    ASSERT_TRUE(ready.ok()) << ready;
  }

  void TearDown() override {
    adapter_.reset();  // SIGKILLs it if still running
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }

  double Scrape(std::string_view series) {
    absl::StatusOr<double> v = ScrapeMetric(port_, series);
    return v.value_or(-1);
  }

  // Sends SIGHUP and polls /metrics (bounded) until `series` reads `want`.
  void HangUpAndWaitFor(std::string_view series, double want) {
    ASSERT_EQ(kill(adapter_->pid(), SIGHUP), 0);
    for (int i = 0; i < 200 && Scrape(series) != want; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_EQ(Scrape(series), want) << adapter_->LogTail();
  }

  // One sample of ops_load at step i; expects 204.
  void Write(int i) {
    WriteRequestBuilder b;
    b.Add({{"__name__", "ops_load"}, {"instance", "n0"}, {"job", "node"}}, kT0 + i * kStep, i % 7);
    absl::StatusOr<HttpResult> r = RemoteWrite(port_, b.request());
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 204) << r->body;
  }

  std::string root_;
  uint16_t port_ = 0;
  std::unique_ptr<AdapterProcess> adapter_;
};

TEST_F(SighupTest, RereadsTheConfigAndKeepsTheOldOneOnErrors) {
  Write(0);
  EXPECT_EQ(Scrape("kad_samples_modelled_total"), 1);
  EXPECT_EQ(Scrape("kad_config_last_reload_successful"), 1);

  std::ofstream(root_ + "/environment.yaml") << "prometheus_metric_list: [\n";
  HangUpAndWaitFor("kad_config_last_reload_successful", 0);
  EXPECT_THAT(adapter_->LogTail(), HasSubstr("level=error msg=\"failed to reload config\""));
  Write(1);
  EXPECT_EQ(Scrape("kad_samples_modelled_total"), 2);  // the old config still models

  std::ofstream(root_ + "/environment.yaml") << kConfig << R"(  - metric_query: "ops_load"
    predicted_metric_name: second_forecast
)";
  HangUpAndWaitFor("kad_config_last_reload_successful", 1);
  EXPECT_THAT(adapter_->LogTail(), HasSubstr("msg=\"reloaded the configuration\""));
  Write(2);
  EXPECT_EQ(Scrape("kad_samples_modelled_total"), 4);  // one sample, two forecasts
  EXPECT_EQ(Scrape("kad_active_series"), 2);
  EXPECT_TRUE(adapter_->Terminate().ok()) << adapter_->LogTail();
}

TEST_F(SighupTest, RequestsWithInvalidUtf8AreRefusedWithoutFloodingTheLog) {
  prometheus::ReadRequest request;
  *request.add_queries() = MakeQuery(
      kT0, kT0 + kStep, {Matcher(prometheus::LabelMatcher::EQ, "__name__", "ops\xff\xfe")});
  for (int i = 0; i < 50; ++i) {
    absl::StatusOr<HttpResult> r = PostRead(port_, request);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 400) << r->body;
  }
  EXPECT_EQ(adapter_->LogTail(100'000).find("libprotobuf"), std::string::npos)
      << adapter_->LogTail();
}

// GET /-/ready with a bearer token: its status (0 when unreachable).
int ReadyWith(uint16_t port, const std::string& token) {
  absl::StatusOr<HttpResult> r =
      HttpCall(port, "GET", "/-/ready", "", {{"Authorization", "Bearer " + token}});
  return r.ok() ? r->status : 0;
}

// Polls `done` (at most 200 times, 50 ms apart) until it holds.
bool Eventually(const std::function<bool()>& done) {
  for (int i = 0; i < 200; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

TEST(SighupWebConfig, NewTokensTakeEffectAndOldOnesStopWorking) {
  const std::string root = FolderWithConfig();
  ASSERT_FALSE(root.empty());
  std::ofstream(root + "/web.yml") << "bearer_tokens_file: tokens\n";
  std::ofstream(root + "/tokens") << "first-token\n";
  absl::StatusOr<uint16_t> port = PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  AdapterProcess adapter(Binary(),
                         {absl::StrCat("--config.file=", root, "/environment.yaml"),
                          absl::StrCat("--web.config.file=", root, "/web.yml"),
                          absl::StrCat("--web.listen-address=127.0.0.1:", *port),
                          absl::StrCat("--storage.path=", root, "/data")},
                         root + "/adapter.log");
  ASSERT_TRUE(adapter.Start().ok());
  ASSERT_TRUE(Eventually([&] { return ReadyWith(*port, "first-token") == 200; }))
      << adapter.LogTail();
  EXPECT_EQ(ReadyWith(*port, "second-token"), 401);

  std::ofstream(root + "/tokens") << "second-token\n";
  ASSERT_EQ(kill(adapter.pid(), SIGHUP), 0);
  EXPECT_TRUE(Eventually([&] { return ReadyWith(*port, "second-token") == 200; }))
      << adapter.LogTail();
  EXPECT_EQ(ReadyWith(*port, "first-token"), 401);

  // A broken web config keeps the running one, and says so.
  std::ofstream(root + "/web.yml") << "bearer_tokens_file: [\n";
  ASSERT_EQ(kill(adapter.pid(), SIGHUP), 0);
  EXPECT_TRUE(Eventually([&] {
    return adapter.LogTail().find("failed to reload the web config") != std::string::npos;
  })) << adapter.LogTail();
  EXPECT_EQ(ReadyWith(*port, "second-token"), 200);
  EXPECT_TRUE(adapter.Terminate().ok()) << adapter.LogTail();
  std::filesystem::remove_all(root);
}

// One request of ops_load at `step` from 1,000 instances: enough bytes that
// a full disk refuses writes within a few hundred (RocksDB's WAL has room
// set aside). Its status (0 when unreachable).
int WriteThousand(uint16_t port, int step) {
  WriteRequestBuilder b;
  for (int k = 0; k < 1000; ++k) {
    b.Add({{"__name__", "ops_load"}, {"instance", absl::StrCat("n", k)}, {"job", "node"}},
          kT0 + step * kStep, k + step % 7);
  }
  absl::StatusOr<HttpResult> r = RemoteWrite(port, b.request());
  return r.ok() ? r->status : 0;
}

TEST(Checkpoints, AFailureIsLoggedWithItsReasonAndSoIsTheRecovery) {
  SmallDisk disk(256 << 20);
  ASSERT_TRUE(disk.ok()) << disk.error();
  // The config and the log are not on the small disk, only the data.
  const std::string root = FolderWithConfig();
  ASSERT_FALSE(root.empty());
  absl::StatusOr<uint16_t> port = PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  AdapterProcess adapter(Binary(),
                         {absl::StrCat("--config.file=", root, "/environment.yaml"),
                          absl::StrCat("--web.listen-address=127.0.0.1:", *port),
                          absl::StrCat("--storage.path=", disk.path(), "/data"),
                          "--storage.retention=10y", "--storage.checkpoint-interval=1s"},
                         root + "/adapter.log");
  ASSERT_TRUE(adapter.Start().ok());
  ASSERT_TRUE(adapter.WaitReady(*port).ok()) << adapter.LogTail();
  int step = 0;
  for (; step < 5; ++step) ASSERT_EQ(WriteThousand(*port, step), 204) << adapter.LogTail();

  disk.Fill();
  int refused = -1;
  for (; step < 4000 && refused < 0; ++step) {
    const int status = WriteThousand(*port, step);
    if (status == 204) continue;
    ASSERT_EQ(status, 503) << adapter.LogTail();
    refused = step;
  }
  ASSERT_GE(refused, 0) << "the disk never filled up";
  // The refused write's series are rewound, so changed: the next checkpoint
  // has them to save, and cannot.
  const std::string failed =
      "level=error msg=\"checkpoint failed; trying again at the next interval\" shard=kad-shard-";
  EXPECT_TRUE(Eventually([&] { return adapter.LogTail().find(failed) != std::string::npos; }))
      << adapter.LogTail();
  EXPECT_THAT(adapter.LogTail(), HasSubstr("err=\"cannot write to " + disk.path() + "/data"));
  EXPECT_THAT(adapter.LogTail(), Not(HasSubstr("checkpoints complete again")));

  // Room again: RocksDB recovers by itself (within seconds), the retried
  // write is taken, and the next checkpoint saves it all.
  disk.Free();
  int status = 0;
  for (int i = 0; i < 300 && (status = WriteThousand(*port, refused)) != 204; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(status, 204) << adapter.LogTail();
  EXPECT_TRUE(Eventually([&] {
    return adapter.LogTail().find(
               "level=info msg=\"checkpoints complete again\" shard=kad-shard-") !=
           std::string::npos;
  })) << adapter.LogTail();
  EXPECT_GT(ScrapeMetric(*port, "kad_checkpoint_last_complete_timestamp_seconds").value_or(0), 0);
  EXPECT_TRUE(adapter.Terminate().ok()) << adapter.LogTail();
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace kad::testing
