// Zero-copy decoder for io.prometheus.write.v2.Request (remote write 2.0).
//
// A 2.0 body interns every string in a symbols table and refers to it by
// index. The decoder resolves those refs into the same WriteRequestView the
// 1.0 decoder fills -- labels as string_views into the body, samples in flat
// arrays -- so both versions reach the engine by one path. What only 2.0
// carries (metadata per series, created timestamps) lands in
// `series_metadata`. The generated parser in prometheus/write_v2.pb.h is the
// test oracle and the benchmark baseline.
//
//   WriteRequestView req;                       // reused across requests
//   absl::Status s = DecodeWriteRequestV2(body, &req);
//   for (size_t i = 0; i < req.series.size(); ++i) {
//     req.LabelsOf(req.series[i]);              // resolved name/value views
//     req.series_metadata[i].type;              // e.g. MetricType::kCounter
//   }
//
// Not thread-safe; the views die with `body` and with the next decode.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "proto/write_request.h"

namespace kad::proto {

// Clears `out` and decodes `body` into it. Packed and unpacked refs and
// unknown fields are accepted, as protobuf does; symbols may come before or
// after the series that use them. Native histograms and exemplars are
// checked and counted, not decoded. Errors, with nothing left in `out`:
//  - InvalidArgument: not a valid Request (the message says what and at
//    which byte offset), a label or metadata ref outside the symbols table,
//    or an odd number of label refs;
//  - Unimplemented: the body carries remote-write 1.0 top-level fields
//    (1 to 3, reserved in 2.0), which a 2.0 decoder would read as empty.
absl::Status DecodeWriteRequestV2(std::string_view body, WriteRequestView* out);

}  // namespace kad::proto
