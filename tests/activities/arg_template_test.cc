#include "activities/arg_template.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/activities/script_dir.h"

namespace kad::activities {
namespace {

using ::kad::activities::testing::Context;
using ::testing::HasSubstr;

TEST(ArgTemplate, ExpandsEveryPlaceholder) {
  const AnomalyContext c = Context();
  EXPECT_EQ(ExpandArgTemplate("{{ labels.pod }}", c), "web-1");
  EXPECT_EQ(ExpandArgTemplate("{{labels.instance}}", c), "node-1:9100");
  EXPECT_EQ(ExpandArgTemplate("{{ metric }}", c), "node_load1");
  EXPECT_EQ(ExpandArgTemplate("{{ value }}", c), "2.5");
  EXPECT_EQ(ExpandArgTemplate("{{ yhat }}", c), "1.25");
  EXPECT_EQ(ExpandArgTemplate("{{ yhat_lower }}", c), "0.5");
  EXPECT_EQ(ExpandArgTemplate("{{ yhat_upper }}", c), "2");
  EXPECT_EQ(ExpandArgTemplate("{{ anomaly_score }}", c), "1.5");
  EXPECT_EQ(ExpandArgTemplate("{{ timestamp }}", c), "1700000000.123");
}

TEST(ArgTemplate, KeepsLiteralTextAroundPlaceholders) {
  const AnomalyContext c = Context();
  EXPECT_EQ(ExpandArgTemplate("staging", c), "staging");
  EXPECT_EQ(ExpandArgTemplate("pod={{ labels.pod }} v={{value}}!", c), "pod=web-1 v=2.5!");
  EXPECT_EQ(ExpandArgTemplate("{single} } {", c), "{single} } {");
  EXPECT_EQ(ExpandArgTemplate("", c), "");
}

TEST(ArgTemplate, MissingLabelExpandsToEmpty) {
  EXPECT_EQ(ExpandArgTemplate("[{{ labels.namespace }}]", Context()), "[]");
}

TEST(ArgTemplate, PrintsNumbersWithFullPrecision) {
  AnomalyContext c;
  c.value = 0.1;
  c.timestamp_ms = 5;
  EXPECT_EQ(ExpandArgTemplate("{{ value }}", c), "0.10000000000000001");
  EXPECT_EQ(ExpandArgTemplate("{{ timestamp }}", c), "0.005");
}

TEST(ArgTemplate, LabelValuesAreCopiedVerbatim) {
  AnomalyContext c;
  const std::string evil =
      "$(touch /tmp/pwned); rm -rf / `id` \"quoted\" 'single'\nline2 {{ value }}";
  c.labels = {{"pod", evil}};
  // Inserted text is not expanded again, and nothing in it is special.
  EXPECT_EQ(ExpandArgTemplate("{{ labels.pod }}", c), evil);
}

TEST(ArgTemplate, AcceptsEveryKnownName) {
  for (const char* text :
       {"{{ labels.pod }}", "{{labels._x9}}", "{{ metric }}", "{{ value }}", "{{ yhat }}",
        "{{ yhat_lower }}", "{{ yhat_upper }}", "{{ anomaly_score }}", "{{ timestamp }}", "plain",
        "a {{value}} b {{ yhat }} c"}) {
    EXPECT_TRUE(ValidateArgTemplate(text).ok()) << text;
  }
}

TEST(ArgTemplate, RejectsUnknownPlaceholderNamingIt) {
  const absl::Status status = ValidateArgTemplate("x {{ pod }} y");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("{{ pod }}"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("labels.<name>"));
}

TEST(ArgTemplate, RejectsMalformedLabelPlaceholders) {
  for (const char* text :
       {"{{ labels. }}", "{{ labels.9pod }}", "{{ labels.a-b }}", "{{}}", "{{ Value }}"}) {
    EXPECT_EQ(ValidateArgTemplate(text).code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(ArgTemplate, RejectsUnterminatedPlaceholderNamingIt) {
  const absl::Status status = ValidateArgTemplate("ok {{ value }} then {{ yhat");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("unterminated"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("{{ yhat"));
}

TEST(ArgTemplate, BadPlaceholderIsKeptAsTextWhenExpanded) {
  EXPECT_EQ(ExpandArgTemplate("{{ value }} {{ nope }} {{ value }}", Context()),
            "2.5 {{ nope }} {{ value }}");
}

}  // namespace
}  // namespace kad::activities
