// The only place that reads the wall clock. Models take time from sample
// timestamps; retention and future points take "now" from a Clock, so tests
// can pass a fixed time.
#pragma once

#include <chrono>
#include <cstdint>

namespace kad::adapter {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMs() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace kad::adapter
