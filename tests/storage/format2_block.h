// A forecast block of format 2 (storage/block_v2.h) as the release before
// the six-column blocks wrote it, and the points it holds: 5 points 15 s
// apart (one 7 ms late), values that change, the last one anomalous.
#pragma once

#include <string>
#include <vector>

#include "storage/store.h"

namespace kad::storage {

inline const std::string kFormat2Block(
    "\x02\x05\x00\x00\x01\x8b\xcf\xe5\x68\x00\x40\x24\x00\x00\x00\x00\x00\x00\x40\x24\x00\x00"
    "\x00\x00\x00\x00\x40\x20\x00\x00\x00\x00\x00\x00\x40\x28\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x00\x70\x01\xd4\xc6\xf0\x3c\x00\xf0\x03\xc0\x0e\x22\x7f\xd3\x70\x3e"
    "\xf0\x7d\xe0\xfb\xc1\xe0\x0d\x07\x99\x99\xd8\x05\x72\xd8\x1f\xee\x0b\xee\x0b\xee\x0b\xeb"
    "\x03",
    89);

inline std::vector<ForecastPoint> Format2BlockPoints() {
  std::vector<ForecastPoint> points;
  for (int i = 0; i < 5; ++i) {
    const double yhat = 10 + i * 0.25;
    points.push_back({.timestamp_ms = 1700000000000 + i * 15000 + (i == 3 ? 7 : 0),
                      .value = 10 + i * 0.5,
                      .yhat = yhat,
                      .yhat_lower = yhat - 2,
                      .yhat_upper = yhat + 2,
                      .anomaly_score = i == 4 ? 1.5 : 0.25 * i,
                      .anomaly = i == 4});
  }
  return points;
}

}  // namespace kad::storage
