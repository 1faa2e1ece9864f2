// The one mapping from a model's Verdict to the [0, 1] anomaly score NAB
// scores. NAB picks its own threshold, so only the order of the scores
// matters; the mapping must be monotone in how anomalous the sample is.
//
//   double s = NabScore(model->Observe(t_ms, value));
#pragma once

#include <cmath>

#include "models/forecaster.h"

namespace kad::nab {

// anomaly_score / (1 + anomaly_score): 0 on the forecast, 0.5 on the band
// edge, towards 1 far outside it.
inline double NabScore(const kad::models::Verdict& v) {
  if (std::isinf(v.anomaly_score)) return 1;
  return v.anomaly_score / (1 + v.anomaly_score);
}

}  // namespace kad::nab
