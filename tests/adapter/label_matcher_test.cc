#include "adapter/label_matcher.h"

#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kad::adapter {
namespace {

using ::testing::HasSubstr;

LabelMatcher Must(MatchType type, std::string name, std::string value) {
  absl::StatusOr<LabelMatcher> m = LabelMatcher::Make(type, std::move(name), std::move(value));
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

// Does the single matcher select a series with these labels?
bool Selects(const LabelMatcher& m, const Labels& labels) { return MatchesAll({m}, labels); }

const Labels kWithFoo = {{"foo", "bar"}, {"job", "node"}};
const Labels kWithoutFoo = {{"job", "node"}};

TEST(LabelMatcher, EqualAndNotEqualCompareExactly) {
  const LabelMatcher eq = Must(MatchType::kEqual, "job", "node");
  EXPECT_TRUE(eq.Matches("node"));
  EXPECT_FALSE(eq.Matches("node2"));
  EXPECT_FALSE(eq.Matches("nod"));
  EXPECT_FALSE(eq.Matches(""));
  const LabelMatcher ne = Must(MatchType::kNotEqual, "job", "node");
  EXPECT_FALSE(ne.Matches("node"));
  EXPECT_TRUE(ne.Matches("node2"));
  EXPECT_TRUE(ne.Matches(""));
}

TEST(LabelMatcher, EqualsEmptyMatchesSeriesWithoutTheLabel) {
  const LabelMatcher m = Must(MatchType::kEqual, "foo", "");
  EXPECT_TRUE(Selects(m, kWithoutFoo));
  EXPECT_FALSE(Selects(m, kWithFoo));
}

TEST(LabelMatcher, NotEqualsEmptyRequiresTheLabel) {
  const LabelMatcher m = Must(MatchType::kNotEqual, "foo", "");
  EXPECT_FALSE(Selects(m, kWithoutFoo));
  EXPECT_TRUE(Selects(m, kWithFoo));
}

TEST(LabelMatcher, DotStarMatchesMissingLabel) {
  const LabelMatcher m = Must(MatchType::kRegex, "foo", ".*");
  EXPECT_TRUE(Selects(m, kWithoutFoo));
  EXPECT_TRUE(Selects(m, kWithFoo));
}

TEST(LabelMatcher, DotPlusRequiresTheLabel) {
  const LabelMatcher m = Must(MatchType::kRegex, "foo", ".+");
  EXPECT_FALSE(Selects(m, kWithoutFoo));
  EXPECT_TRUE(Selects(m, kWithFoo));
  const LabelMatcher not_m = Must(MatchType::kNotRegex, "foo", ".+");
  EXPECT_TRUE(Selects(not_m, kWithoutFoo));
  EXPECT_FALSE(Selects(not_m, kWithFoo));
}

TEST(LabelMatcher, RegexIsAnchoredAtBothEnds) {
  const LabelMatcher no = Must(MatchType::kRegex, "job", "no");
  EXPECT_FALSE(no.Matches("node"));
  EXPECT_FALSE(no.Matches("xno"));
  EXPECT_TRUE(no.Matches("no"));
  const LabelMatcher prefix = Must(MatchType::kRegex, "job", "no.*");
  EXPECT_TRUE(prefix.Matches("node"));
  EXPECT_FALSE(prefix.Matches("xnode"));
  // The alternation is grouped before anchoring: not ^a|b$.
  const LabelMatcher alt = Must(MatchType::kRegex, "job", "a.|b.");
  EXPECT_TRUE(alt.Matches("ax"));
  EXPECT_FALSE(alt.Matches("axx"));
  EXPECT_FALSE(alt.Matches("xbx"));
}

TEST(LabelMatcher, LiteralAlternationMatchesExactlyTheListedValues) {
  const LabelMatcher m = Must(MatchType::kRegex, "mode", "idle|iowait");
  EXPECT_TRUE(m.Matches("idle"));
  EXPECT_TRUE(m.Matches("iowait"));
  EXPECT_FALSE(m.Matches("idle|iowait"));
  EXPECT_FALSE(m.Matches("idl"));
  EXPECT_FALSE(m.Matches("iowaits"));
  EXPECT_FALSE(m.Matches(""));
  const LabelMatcher with_empty = Must(MatchType::kRegex, "mode", "idle|");
  EXPECT_TRUE(with_empty.Matches(""));
  const LabelMatcher neg = Must(MatchType::kNotRegex, "mode", "idle|iowait");
  EXPECT_FALSE(neg.Matches("idle"));
  EXPECT_TRUE(neg.Matches("user"));
}

TEST(LabelMatcher, RegexUsesRe2Syntax) {
  const LabelMatcher m = Must(MatchType::kRegex, "code", "5\\d\\d");
  EXPECT_TRUE(m.Matches("503"));
  EXPECT_FALSE(m.Matches("404"));
  const LabelMatcher cls = Must(MatchType::kRegex, "code", "[45]..");
  EXPECT_TRUE(cls.Matches("418"));
  EXPECT_FALSE(cls.Matches("200"));
}

TEST(LabelMatcher, BadRegexNamesLabelAndRegex) {
  absl::StatusOr<LabelMatcher> m = LabelMatcher::Make(MatchType::kRegex, "job", "a(b");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("job"));
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("a(b"));
  // RE2 has no backreferences; Prometheus rejects them too.
  EXPECT_FALSE(LabelMatcher::Make(MatchType::kNotRegex, "x", "(a)\\1").ok());
}

TEST(LabelMatcher, EqualityValuesAreNotRegexes) {
  const LabelMatcher m = Must(MatchType::kEqual, "path", "a(b");
  EXPECT_TRUE(m.Matches("a(b"));
}

TEST(LabelMatcher, ToStringWritesPromql) {
  EXPECT_EQ(Must(MatchType::kRegex, "job", "a.*").ToString(), "job=~\"a.*\"");
  EXPECT_EQ(Must(MatchType::kEqual, "job", "x").ToString(), "job=\"x\"");
  EXPECT_EQ(Must(MatchType::kNotEqual, "job", "x").ToString(), "job!=\"x\"");
  EXPECT_EQ(Must(MatchType::kNotRegex, "job", "x").ToString(), "job!~\"x\"");
  EXPECT_EQ(Must(MatchType::kEqual, "p", "a\"b\\c").ToString(), "p=\"a\\\"b\\\\c\"");
}

TEST(LabelMatcher, AccessorsReturnWhatWasMade) {
  const LabelMatcher m = Must(MatchType::kNotRegex, "job", "n.*");
  EXPECT_EQ(m.type(), MatchType::kNotRegex);
  EXPECT_EQ(m.name(), "job");
  EXPECT_EQ(m.value(), "n.*");
}

TEST(LabelMatcher, CopiesShareTheCompiledRegex) {
  const LabelMatcher original = Must(MatchType::kRegex, "job", "n.d.");
  const LabelMatcher copy = original;
  EXPECT_TRUE(copy.Matches("node"));
  EXPECT_FALSE(copy.Matches("nodes"));
}

TEST(LabelMatcher, MatchesAllIsAnAnd) {
  const std::vector<LabelMatcher> matchers = {
      Must(MatchType::kEqual, "__name__", "node_cpu_seconds_total"),
      Must(MatchType::kNotRegex, "mode", "idle|iowait"), Must(MatchType::kRegex, "job", "node.*")};
  EXPECT_TRUE(MatchesAll(
      matchers, {{"__name__", "node_cpu_seconds_total"}, {"job", "node"}, {"mode", "user"}}));
  EXPECT_FALSE(MatchesAll(
      matchers, {{"__name__", "node_cpu_seconds_total"}, {"job", "node"}, {"mode", "idle"}}));
  EXPECT_FALSE(MatchesAll(matchers, {{"__name__", "node_cpu_seconds_total"}, {"mode", "user"}}));
  EXPECT_TRUE(MatchesAll({}, {{"job", "x"}}));
}

TEST(LabelMatcher, IsSafeToUseFromManyThreads) {
  const LabelMatcher m = Must(MatchType::kRegex, "job", "n[a-z]+e");
  std::vector<std::thread> threads;
  std::vector<int> hits(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) hits[t] += m.Matches("node") ? 1 : 0;
    });
  }
  for (std::thread& t : threads) t.join();
  for (int h : hits) EXPECT_EQ(h, 1000);
}

}  // namespace
}  // namespace kad::adapter
