// Test support for the activities tests: a temporary scripts directory
// holding real scripts, file helpers, a bounded polling wait, and a sample
// anomaly context.
// Not thread-safe; one per test.
#pragma once

#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "activities/activity.h"
#include "gtest/gtest.h"

namespace kad::activities::testing {

class ScriptDir {
 public:
  ScriptDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "kad-activities-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = std::filesystem::canonical(templ).string();
  }
  ~ScriptDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScriptDir(const ScriptDir&) = delete;
  ScriptDir& operator=(const ScriptDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Path(const std::string& relative) const { return path_ + "/" + relative; }

  // Writes `content` to `relative` (creating parent folders); returns the
  // absolute path.
  std::string Write(const std::string& relative, const std::string& content,
                    mode_t mode = 0755) const {
    const std::filesystem::path file = Path(relative);
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << content;
    ::chmod(file.c_str(), mode);
    return file.string();
  }

 private:
  std::string path_;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// "a\0b\0" -> {"a", "b"}: the format of /proc/PID/cmdline and environ.
inline std::vector<std::string> SplitNul(const std::string& text) {
  std::vector<std::string> parts;
  size_t begin = 0;
  for (size_t end; (end = text.find('\0', begin)) != std::string::npos; begin = end + 1) {
    parts.push_back(text.substr(begin, end - begin));
  }
  return parts;
}

// Checks `done` every 5 ms until it holds or `limit` passes; its last answer.
inline bool PollUntil(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// An anomaly of node_load1 on pod web-1 with round, distinct values.
inline AnomalyContext Context() {
  AnomalyContext c;
  c.metric = "node_load1";
  c.labels = {{"instance", "node-1:9100"}, {"pod", "web-1"}};
  c.value = 2.5;
  c.yhat = 1.25;
  c.yhat_lower = 0.5;
  c.yhat_upper = 2;
  c.anomaly_score = 1.5;
  c.timestamp_ms = 1'700'000'000'123;
  return c;
}

}  // namespace kad::activities::testing
