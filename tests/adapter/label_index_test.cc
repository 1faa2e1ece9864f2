#include "adapter/label_index.h"

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kad::adapter {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

LabelMatcher Must(MatchType type, std::string name, std::string value) {
  absl::StatusOr<LabelMatcher> m = LabelMatcher::Make(type, std::move(name), std::move(value));
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

std::unique_ptr<ForecastSeries> Series(Labels labels) {
  auto s = std::make_unique<ForecastSeries>();
  s->encoded_labels = EncodeLabels(labels);
  return s;
}

std::optional<std::vector<const ForecastSeries*>> CandidatesOf(
    const LabelIndex& index, const std::vector<LabelMatcher>& matchers) {
  std::vector<const LabelMatcher*> pointers;
  for (const LabelMatcher& m : matchers) pointers.push_back(&m);
  const auto c = index.Candidates(pointers);
  if (!c.has_value()) return std::nullopt;
  return std::vector<const ForecastSeries*>(c->begin(), c->end());
}

class LabelIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = Series({{"__name__", "P_0"}, {"namespace", "web"}, {"pod", "a"}});
    b_ = Series({{"__name__", "P_0"}, {"namespace", "web"}, {"pod", "b"}});
    c_ = Series({{"__name__", "P_0"}, {"namespace", "db"}, {"pod", "c"}});
    for (const auto* s : {a_.get(), b_.get(), c_.get()}) index_.Add(*s);
  }

  std::unique_ptr<ForecastSeries> a_, b_, c_;
  LabelIndex index_;
};

TEST_F(LabelIndexTest, TheShortestEqualityListIsTheCandidates) {
  EXPECT_THAT(*CandidatesOf(index_, {Must(MatchType::kEqual, "__name__", "P_0"),
                                     Must(MatchType::kEqual, "pod", "b")}),
              ElementsAre(b_.get()));
  EXPECT_THAT(*CandidatesOf(index_, {Must(MatchType::kEqual, "namespace", "web")}),
              ElementsAre(a_.get(), b_.get()));
  // Candidates only: the other matchers are the caller's to check.
  EXPECT_THAT(*CandidatesOf(index_, {Must(MatchType::kEqual, "namespace", "web"),
                                     Must(MatchType::kNotEqual, "pod", "a")}),
              ElementsAre(a_.get(), b_.get()));
}

TEST_F(LabelIndexTest, AnUnknownPairSelectsNothing) {
  EXPECT_THAT(*CandidatesOf(index_, {Must(MatchType::kEqual, "__name__", "P_0"),
                                     Must(MatchType::kEqual, "pod", "zzz")}),
              IsEmpty());
  EXPECT_THAT(*CandidatesOf(index_, {Must(MatchType::kEqual, "nolabel", "x")}), IsEmpty());
}

TEST_F(LabelIndexTest, WithoutAUsableEqualityMatcherEverySeriesMayMatch) {
  EXPECT_FALSE(CandidatesOf(index_, {}).has_value());
  // name="" selects the series without the label: no list names them.
  EXPECT_FALSE(CandidatesOf(index_, {Must(MatchType::kEqual, "job", "")}).has_value());
  EXPECT_FALSE(CandidatesOf(index_, {Must(MatchType::kNotEqual, "pod", "a"),
                                     Must(MatchType::kRegex, "namespace", "w.*")})
                   .has_value());
}

TEST_F(LabelIndexTest, ClearThenAddRebuildsWithoutTheRemovedSeries) {
  index_.Clear();
  index_.Add(*a_);
  index_.Add(*c_);
  EXPECT_THAT(*CandidatesOf(index_, {Must(MatchType::kEqual, "__name__", "P_0")}),
              ElementsAre(a_.get(), c_.get()));
  EXPECT_THAT(*CandidatesOf(index_, {Must(MatchType::kEqual, "pod", "b")}), IsEmpty());
}

}  // namespace
}  // namespace kad::adapter
