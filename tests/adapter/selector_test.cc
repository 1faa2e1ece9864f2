#include "adapter/selector.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kad::adapter {
namespace {

using ::testing::HasSubstr;

// The matchers of a parsed selector, as PromQL text, in order.
std::vector<std::string> MatcherStrings(std::string_view promql) {
  absl::StatusOr<Selector> s = ParseSelector(promql);
  EXPECT_TRUE(s.ok()) << promql << ": " << s.status();
  if (!s.ok()) return {};
  std::vector<std::string> out;
  for (const LabelMatcher& m : s->matchers) out.push_back(m.ToString());
  return out;
}

using V = std::vector<std::string>;

TEST(ParseSelector, MetricNameOnlyBecomesNameMatcher) {
  EXPECT_EQ(MatcherStrings("up"), V({"__name__=\"up\""}));
  EXPECT_EQ(MatcherStrings("node:cpu:rate5m"), V({"__name__=\"node:cpu:rate5m\""}));
  EXPECT_EQ(MatcherStrings("  up  "), V({"__name__=\"up\""}));
  EXPECT_EQ(MatcherStrings("up{}"), V({"__name__=\"up\""}));
}

TEST(ParseSelector, NameWithMatchersOfEveryOperator) {
  EXPECT_EQ(MatcherStrings("node_cpu_seconds_total{job=\"node\",mode!~\"idle|iowait\","
                           "cpu=~\"1.*\",instance!=\"a\"}"),
            V({"__name__=\"node_cpu_seconds_total\"", "job=\"node\"", "mode!~\"idle|iowait\"",
               "cpu=~\"1.*\"", "instance!=\"a\""}));
}

TEST(ParseSelector, BracesOnly) {
  EXPECT_EQ(MatcherStrings("{job=\"node\"}"), V({"job=\"node\""}));
  EXPECT_EQ(MatcherStrings("{__name__=~\"node_.*\"}"), V({"__name__=~\"node_.*\""}));
}

TEST(ParseSelector, AllQuoteKinds) {
  EXPECT_EQ(MatcherStrings("x{a=\"1\",b='2',c=`3`}"),
            V({"__name__=\"x\"", "a=\"1\"", "b=\"2\"", "c=\"3\""}));
  EXPECT_EQ(MatcherStrings("node_load1{job='node'}"),
            V({"__name__=\"node_load1\"", "job=\"node\""}));
}

TEST(ParseSelector, EscapesInDoubleAndSingleQuotes) {
  absl::StatusOr<Selector> s = ParseSelector(
      R"(x{a="q\"d", b='s\'q', c="b\\s", d="n\nt\t", e="\u00e9", f='\x41', g="\101"})");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->matchers.size(), 8u);
  EXPECT_EQ(s->matchers[1].value(), "q\"d");
  EXPECT_EQ(s->matchers[2].value(), "s'q");
  EXPECT_EQ(s->matchers[3].value(), "b\\s");
  EXPECT_EQ(s->matchers[4].value(), "n\nt\t");
  EXPECT_EQ(s->matchers[5].value(), "\xc3\xa9");
  EXPECT_EQ(s->matchers[6].value(), "A");
  EXPECT_EQ(s->matchers[7].value(), "A");
}

TEST(ParseSelector, BackticksAreRaw) {
  absl::StatusOr<Selector> s = ParseSelector(R"(x{path=~`\d+\.html`})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->matchers[1].value(), R"(\d+\.html)");
  EXPECT_TRUE(s->Matches({{"__name__", "x"}, {"path", "12.html"}}));
  EXPECT_FALSE(s->Matches({{"__name__", "x"}, {"path", "12xhtml"}}));
}

TEST(ParseSelector, WhitespaceAndTrailingComma) {
  EXPECT_EQ(MatcherStrings(" x { a = \"1\" ,\n\tb !~ 'c' , } "),
            V({"__name__=\"x\"", "a=\"1\"", "b!~\"c\""}));
  EXPECT_EQ(MatcherStrings("{a=\"1\",}"), V({"a=\"1\""}));
}

TEST(ParseSelector, KeepsTextAndHasNoFunctionByDefault) {
  absl::StatusOr<Selector> s = ParseSelector("up{job='x'}");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->text, "up{job='x'}");
  EXPECT_EQ(s->function, RangeFunction::kNone);
  EXPECT_EQ(s->range_ms, 0);
}

TEST(ParseSelector, RateAndIrateWithRange) {
  absl::StatusOr<Selector> rate = ParseSelector("rate(http_requests_total{code=~'5..'}[5m])");
  ASSERT_TRUE(rate.ok()) << rate.status();
  EXPECT_EQ(rate->function, RangeFunction::kRate);
  EXPECT_EQ(rate->range_ms, 300'000);
  EXPECT_TRUE(rate->Matches({{"__name__", "http_requests_total"}, {"code", "503"}}));
  EXPECT_FALSE(rate->Matches({{"__name__", "http_requests_total"}, {"code", "200"}}));

  absl::StatusOr<Selector> irate = ParseSelector(" irate ( x [ 1h30m ] ) ");
  ASSERT_TRUE(irate.ok()) << irate.status();
  EXPECT_EQ(irate->function, RangeFunction::kIrate);
  EXPECT_EQ(irate->range_ms, 5'400'000);
  EXPECT_EQ(irate->matchers.size(), 1u);
}

TEST(ParseSelector, MatchesSeriesLikePrometheus) {
  absl::StatusOr<Selector> s = ParseSelector("node_load1{job='node',instance=''}");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->Matches({{"__name__", "node_load1"}, {"job", "node"}}));
  EXPECT_FALSE(s->Matches({{"__name__", "node_load1"}, {"instance", "a"}, {"job", "node"}}));
  EXPECT_FALSE(s->Matches({{"__name__", "node_load5"}, {"job", "node"}}));
}

// Every unsupported construct is rejected with a message that quotes the
// query and says what is supported.
TEST(ParseSelector, RejectsUnsupportedPromqlSayingWhatIsSupported) {
  for (const char* q :
       {"sum(x)", "sum by (job) (x)", "x + y", "x offset 5m", "x @ 1000", "x[5m]", "{}",
        "{job=~\".*\"}", "{job=\"\"}", "absent(x)", "rate(x[5m]) * 2", "rate(x)",
        "rate(x[5m] offset 1m)", "1", "(x)", "-x", "histogram_quantile(0.9, x)"}) {
    absl::StatusOr<Selector> s = ParseSelector(q);
    ASSERT_FALSE(s.ok()) << q;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << q;
    EXPECT_THAT(std::string(s.status().message()),
                HasSubstr(absl::StrCat("unsupported PromQL \"", q, "\"")));
    EXPECT_THAT(std::string(s.status().message()),
                HasSubstr("metric_query must be a series selector"));
    EXPECT_THAT(std::string(s.status().message()), HasSubstr("rate(...[5m])"));
  }
}

TEST(ParseSelector, RejectsSyntaxErrorsQuotingTheQuery) {
  struct Case {
    const char* query;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {"x{job=\"node}", "unterminated string"},
           {"x{job='node}", "unterminated string"},
           {"x{job=`node}", "unterminated string"},
           {"x{job=\"a\nb\"}", "unterminated string"},
           {"x{job=~\"a(b\"}", "a(b"},
           {"rate(x[5q])", "bad range"},
           {"rate(x[])", "bad range"},
           {"rate(x[5m)", "unterminated range"},
           {"x{job}", "expected =, !=, =~ or !~"},
           {"x{job=node}", "quoted"},
           {"x{job=\"a\" mode=\"b\"}", "expected ',' or '}'"},
           {"x{,}", "label name"},
           {"x{a=\"\\q\"}", "unknown escape"},
           {"x{a=\"\\u12\"}", "hex digits"},
           {"x{__name__=\"y\"}", "twice"},
           {"", "empty"},
       }) {
    absl::StatusOr<Selector> s = ParseSelector(c.query);
    ASSERT_FALSE(s.ok()) << c.query;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.status().message()), HasSubstr(c.says)) << c.query;
    EXPECT_THAT(std::string(s.status().message()), HasSubstr(absl::StrCat("\"", c.query, "\"")));
  }
}

TEST(ParseSelector, AcceptsSelectorsWithOneSelectiveMatcher) {
  // {job=~".*"} alone matches everything, but with job!="" it does not.
  EXPECT_TRUE(ParseSelector("{job=~\".*\",mode!=\"\"}").ok());
  EXPECT_TRUE(ParseSelector("{job=~\".+\"}").ok());
}

}  // namespace
}  // namespace kad::adapter
