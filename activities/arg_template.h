// Argument templates: "{{ labels.pod }}", "{{ value }}", "{{ yhat }}",
// "{{ yhat_lower }}", "{{ yhat_upper }}", "{{ anomaly_score }}",
// "{{ timestamp }}" (Unix seconds, may be fractional), mixed with literal
// text. A template always expands to exactly one argv element: nothing in
// a label value is ever split or interpreted by a shell.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "activities/activity.h"

namespace kad::activities {

// InvalidArgument naming the placeholder for an unknown or unterminated one.
absl::Status ValidateArgTemplate(std::string_view text);

// The template with every placeholder replaced; a missing label is "".
// Numbers are printed with %.17g (timestamp: seconds with 3 decimals).
std::string ExpandArgTemplate(std::string_view text, const AnomalyContext& context);

}  // namespace kad::activities
