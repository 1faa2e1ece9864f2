#include "adapter/labels.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kad::adapter {
namespace {

using ::testing::HasSubstr;

TEST(Labels, GetLabelFindsValueAndReadsMissingAsEmpty) {
  const Labels labels = {{"__name__", "up"}, {"instance", "a:9100"}, {"job", "node"}};
  EXPECT_EQ(GetLabel(labels, "job"), "node");
  EXPECT_EQ(GetLabel(labels, "__name__"), "up");
  EXPECT_EQ(GetLabel(labels, "instance"), "a:9100");
  EXPECT_EQ(GetLabel(labels, "missing"), "");
  EXPECT_EQ(GetLabel(labels, "a"), "");
  EXPECT_EQ(GetLabel(labels, "zzz"), "");
  EXPECT_EQ(GetLabel(Labels{}, "job"), "");
}

TEST(Labels, LabelFieldsReadBackAndGetLabelFieldReadsThemAsGetLabelReadsLabels) {
  const Labels labels = {{"__name__", "up"}, {"instance", "a:9100"}, {"job", "node"}};
  const std::string fields = LabelFields(labels);
  absl::StatusOr<Labels> back = LabelsOfFields(fields);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, labels);
  for (const char* name : {"__name__", "instance", "job", "missing", "a", "zzz"}) {
    EXPECT_EQ(GetLabelField(fields, name), GetLabel(labels, name)) << name;
  }
  EXPECT_EQ(GetLabelField("", "job"), "");
  EXPECT_EQ(GetLabelField(fields.substr(0, fields.size() - 1), "job"), "");  // truncated
  EXPECT_THAT(LabelsOfFields(fields.substr(0, fields.size() - 1)).status().message(),
              HasSubstr("after 2 labels"));
}

TEST(Labels, SortLabelsOrdersByName) {
  Labels labels = {{"job", "node"}, {"__name__", "up"}, {"instance", "x"}};
  SortLabels(&labels);
  const Labels want = {{"__name__", "up"}, {"instance", "x"}, {"job", "node"}};
  EXPECT_EQ(labels, want);
}

TEST(Labels, EncodeDecodeRoundTripKeepsOrderAndBytes) {
  const Labels labels = {{"__name__", "up"},
                         {"empty", ""},
                         {"long", std::string(300, 'x')},  // 2-byte varint
                         {"utf8", "h\xc3\xa9llo"},
                         {"zero", std::string("a\0b", 3)}};
  const std::string bytes = EncodeLabels(labels);
  absl::StatusOr<Labels> decoded = DecodeLabels(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, labels);
}

TEST(Labels, EncodingIsCompact) {
  // One length byte per short string, nothing else.
  EXPECT_EQ(EncodeLabels({{"job", "node"}}), std::string("\x03job\x04node"));
  EXPECT_EQ(EncodeLabels({}), "");
}

TEST(Labels, DecodeOfEmptyBytesIsNoLabels) {
  absl::StatusOr<Labels> decoded = DecodeLabels("");
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->empty());
}

TEST(Labels, DecodeRejectsGarbage) {
  const std::string good = EncodeLabels({{"job", "node"}, {"a", "b"}});
  // Every strict prefix that cuts a label in half is truncated.
  for (size_t n = 1; n < good.size(); ++n) {
    if (n == 9) continue;  // exactly after the first label: a valid encoding
    absl::StatusOr<Labels> d = DecodeLabels(good.substr(0, n));
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << "prefix " << n;
  }
  EXPECT_FALSE(DecodeLabels("\x7f").ok());                          // length past the end
  EXPECT_FALSE(DecodeLabels("\x03job").ok());                       // name without value
  EXPECT_FALSE(DecodeLabels("\xff\xff\xff\xff\xff\xff\x01").ok());  // varint
  EXPECT_FALSE(DecodeLabels("\x80").ok());                          // unfinished varint
}

TEST(Labels, ViewReadsEncodedLabelsInPlace) {
  const Labels labels = {{"__name__", "up"}, {"instance", std::string(300, 'i')}, {"job", "node"}};
  const std::string bytes = EncodeLabels(labels);
  ASSERT_TRUE(LabelsView::Valid(bytes));
  const LabelsView view(bytes);
  EXPECT_EQ(view.ToLabels(), labels);
  size_t n = 0;
  for (const LabelView l : view) {
    ASSERT_LT(n, labels.size());
    EXPECT_EQ(l.name, labels[n].name);
    EXPECT_EQ(l.value, labels[n].value);
    // In place: the views point into the encoded bytes.
    EXPECT_GE(l.value.data(), bytes.data());
    EXPECT_LE(l.value.data() + l.value.size(), bytes.data() + bytes.size());
    ++n;
  }
  EXPECT_EQ(n, labels.size());
  EXPECT_EQ(view.Get("instance"), labels[1].value);
  EXPECT_EQ(view.Get("job"), "node");
  EXPECT_EQ(view.Get("missing"), "");
  EXPECT_TRUE(LabelsView(EncodeLabels({})).begin() == LabelsView(EncodeLabels({})).end());
  EXPECT_TRUE(LabelsView(EncodeLabels({})).ToLabels().empty());
}

TEST(Labels, ViewValidIsWhatDecodeAccepts) {
  const std::string good = EncodeLabels({{"job", "node"}, {"a", "b"}});
  for (size_t n = 0; n <= good.size(); ++n) {
    const std::string_view prefix = std::string_view(good).substr(0, n);
    EXPECT_EQ(LabelsView::Valid(prefix), DecodeLabels(prefix).ok()) << "prefix " << n;
  }
  EXPECT_FALSE(LabelsView::Valid("\x7f"));
  EXPECT_FALSE(LabelsView::Valid("\x03job"));
  EXPECT_FALSE(LabelsView::Valid("\x80"));
}

TEST(Labels, ValidateAcceptsWhatPrometheusAccepts) {
  EXPECT_TRUE(ValidateLabels({}).ok());
  EXPECT_TRUE(
      ValidateLabels(
          {{"__name__", "up"}, {"_x9", "v"}, {"job", "n\xc3\xa9"}, {"z", "\xf0\x9f\x98\x80"}})
          .ok());
}

TEST(Labels, ValidateRejectsBadNamesValuesAndOrder) {
  EXPECT_THAT(std::string(ValidateLabels({{"9job", "x"}}).message()), HasSubstr("9job"));
  EXPECT_FALSE(ValidateLabels({{"", "x"}}).ok());
  EXPECT_FALSE(ValidateLabels({{"a-b", "x"}}).ok());
  EXPECT_FALSE(ValidateLabels({{"a:b", "x"}}).ok());
  EXPECT_THAT(std::string(ValidateLabels({{"job", ""}}).message()), HasSubstr("job"));
  EXPECT_FALSE(ValidateLabels({{"job", "\xff"}}).ok());
  EXPECT_FALSE(ValidateLabels({{"job", "\xc3"}}).ok());          // truncated
  EXPECT_FALSE(ValidateLabels({{"job", "\xc0\xaf"}}).ok());      // overlong
  EXPECT_FALSE(ValidateLabels({{"job", "\xed\xa0\x80"}}).ok());  // surrogate
  EXPECT_FALSE(ValidateLabels({{"b", "x"}, {"a", "y"}}).ok());   // unsorted
  EXPECT_FALSE(ValidateLabels({{"a", "x"}, {"a", "y"}}).ok());   // duplicate
  EXPECT_EQ(ValidateLabels({{"a", "x"}, {"a", "y"}}).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kad::adapter
