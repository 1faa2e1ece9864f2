// Request latencies as the load tools report them.
#pragma once

#include <chrono>
#include <vector>

namespace kad::bench {

// The p-quantile (0 < p <= 1) of `sorted` by the nearest-rank method; 0 when
// it is empty.
double Percentile(const std::vector<double>& sorted, double p);

inline double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace kad::bench
