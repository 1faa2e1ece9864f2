#include "proto/label_fields.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "prometheus/types.pb.h"
#include "proto/write_request.h"
#include "proto/write_request_v2.h"
#include "tests/proto/wire_writer.h"
#include "tests/support/remote_client.h"

namespace kad::proto {
namespace {

using kad::testing::LabelPairs;

std::string FieldsOf(const LabelPairs& labels) {
  std::string out;
  for (const auto& [name, value] : labels) AppendLabelField(name, value, &out);
  return out;
}

// A name and a value longer than 127 bytes: two-byte lengths.
const LabelPairs kLabels = {{"__name__", "up"},
                            {"empty", ""},
                            {"long", std::string(200, 'v')},
                            {std::string(130, 'n'), "x"}};

TEST(LabelFields, AreWhatProtobufWritesForTheLabels) {
  prometheus::TimeSeries series;  // labels only: its bytes are the label fields
  for (const auto& [name, value] : kLabels) {
    prometheus::Label* l = series.add_labels();
    l->set_name(name);
    l->set_value(value);
  }
  prometheus::Label* nameless = series.add_labels();
  nameless->set_value("only a value");
  LabelPairs with_nameless = kLabels;
  with_nameless.emplace_back("", "only a value");
  const std::string fields = FieldsOf(with_nameless);
  EXPECT_EQ(fields, series.SerializeAsString());
  size_t size = 0;
  for (const auto& [name, value] : with_nameless) size += LabelFieldSize(name, value);
  EXPECT_EQ(size, fields.size());
}

TEST(LabelFields, ReadBackInOrderAndMalformedBytesAreRefused) {
  std::string_view fields;
  const std::string bytes = FieldsOf(kLabels);
  fields = bytes;
  std::string_view name;
  std::string_view value;
  for (const auto& [want_name, want_value] : kLabels) {
    ASSERT_TRUE(NextLabelField(&fields, &name, &value));
    EXPECT_EQ(name, want_name);
    EXPECT_EQ(value, want_value);
  }
  EXPECT_TRUE(fields.empty());
  EXPECT_FALSE(NextLabelField(&fields, &name, &value));

  // Cut anywhere but between two labels, the bytes do not read.
  std::vector<size_t> ends;
  for (size_t n = 1; n <= kLabels.size(); ++n) {
    ends.push_back(FieldsOf(LabelPairs(kLabels.begin(), kLabels.begin() + n)).size());
  }
  for (size_t cut = 1; cut < bytes.size(); ++cut) {
    std::string_view truncated = std::string_view(bytes).substr(0, cut);
    bool ok = true;
    while (ok && !truncated.empty()) ok = NextLabelField(&truncated, &name, &value);
    EXPECT_EQ(ok, std::find(ends.begin(), ends.end(), cut) != ends.end()) << "cut at " << cut;
  }
  std::string junk;  // a Label message with an unknown field
  testing::AppendLengthDelimited(1, "job", &junk);
  testing::AppendTag(7, 0, &junk);
  testing::AppendVarint(1, &junk);
  std::string field;
  testing::AppendLengthDelimited(1, junk, &field);
  fields = field;
  EXPECT_FALSE(NextLabelField(&fields, &name, &value));
  fields = "\x12\x00";  // not field 1
  EXPECT_FALSE(NextLabelField(&fields, &name, &value));
}

const char* Begin(std::string_view s) { return s.data(); }
const char* End(std::string_view s) { return s.data() + s.size(); }

TEST(LabelFields, ThoseOfAPrometheusBodyAreTheBodysOwnBytes) {
  testing::WriteRequestBuilder b;
  b.Add({{"__name__", "up"}, {"job", "node"}}, 1000, 1);
  b.Add({{"__name__", "up"}, {"job", std::string(300, 'j')}}, 1000, 1);
  const std::string body = b.request().SerializeAsString();
  WriteRequestView view;
  ASSERT_TRUE(DecodeWriteRequest(body, &view).ok());
  ASSERT_EQ(view.series.size(), 2u);
  EXPECT_EQ(view.series[0].label_fields, FieldsOf({{"__name__", "up"}, {"job", "node"}}));
  EXPECT_EQ(view.series[1].label_fields,
            FieldsOf({{"__name__", "up"}, {"job", std::string(300, 'j')}}));
  for (const SeriesView& s : view.series) {
    EXPECT_GE(Begin(s.label_fields), Begin(body));
    EXPECT_LE(End(s.label_fields), End(body));
    EXPECT_EQ(s.label_hash, HashLabelFields(s.label_fields));
  }
  EXPECT_TRUE(view.label_field_bytes.empty());
}

TEST(LabelFields, OtherEncodingsAndRemoteWrite2GiveTheSameFieldsAndHash) {
  const LabelPairs labels = {{"__name__", "up"}, {"job", "node"}, {"pod", "p-1"}};
  const std::string want = FieldsOf(labels);
  const uint64_t want_hash = HashLabelFields(want);
  auto check = [&](const WriteRequestView& view, const char* what) {
    ASSERT_EQ(view.series.size(), 1u) << what;
    EXPECT_EQ(view.series[0].label_fields, want) << what;
    EXPECT_EQ(view.series[0].label_hash, want_hash) << what;
  };
  std::string value_first;  // the job label with its value before its name
  testing::AppendLengthDelimited(2, "node", &value_first);
  testing::AppendLengthDelimited(1, "job", &value_first);
  std::string sample;
  testing::AppendTag(1, 1, &sample);
  sample.append(8, '\0');
  const std::string name_label = FieldsOf({labels[0]});
  const std::string pod_label = FieldsOf({labels[2]});
  // Field by field: one odd label; labels split by a sample; a long form
  // length (0x83 0x00 is 3).
  std::string odd_label = name_label;
  testing::AppendLengthDelimited(1, value_first, &odd_label);
  odd_label += pod_label;
  std::string split = name_label + FieldsOf({labels[1]});
  testing::AppendLengthDelimited(2, sample, &split);
  split += pod_label;
  std::string long_length = name_label + FieldsOf({labels[1]});
  constexpr char kLongLength[] = "\x0a\x0b\x0a\x83\x00pod\x12\x03p-1";
  long_length.append(kLongLength, sizeof kLongLength - 1);
  for (const auto& [what, series] :
       {std::pair{"odd label", odd_label}, {"split", split}, {"long length", long_length}}) {
    std::string body;
    testing::AppendLengthDelimited(1, series, &body);
    WriteRequestView view;
    ASSERT_TRUE(DecodeWriteRequest(body, &view).ok()) << what;
    check(view, what);
  }
  testing::WriteRequestV2Builder v2;
  v2.Add(labels, 1000, 1);
  WriteRequestView view;
  ASSERT_TRUE(DecodeWriteRequestV2(v2.request().SerializeAsString(), &view).ok());
  check(view, "remote write 2.0");
}

}  // namespace
}  // namespace kad::proto
