#include "adapter/flags.h"

#include <vector>

#include "gtest/gtest.h"

namespace kad::adapter {
namespace {

absl::StatusOr<Flags> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "k8s-anomaly-detector");
  return ParseFlags(static_cast<int>(args.size()), args.data());
}

TEST(Flags, DefaultsMatchTheDocumentedOnes) {
  absl::StatusOr<Flags> f = Parse({});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->listen_address, ":9201");
  EXPECT_EQ(f->storage_path, "data");
  EXPECT_EQ(f->retention_ms, int64_t{15} * 24 * 3600 * 1000);
  EXPECT_FALSE(f->sync_writes);
}

TEST(Flags, AcceptsEqualsAndSpaceForms) {
  absl::StatusOr<Flags> f =
      Parse({"--config.file=env.yaml", "--storage.path", "/var/lib/kad", "--storage.retention=2d",
             "--storage.sync-writes", "--storage.remote.read-sample-limit=5e7"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->config_file, "env.yaml");
  EXPECT_EQ(f->storage_path, "/var/lib/kad");
  EXPECT_EQ(f->retention_ms, int64_t{2} * 24 * 3600 * 1000);
  EXPECT_TRUE(f->sync_writes);
  EXPECT_EQ(f->read_sample_limit, 50'000'000);
}

TEST(Flags, ErrorsNameTheFlag) {
  absl::StatusOr<Flags> unknown = Parse({"--no.such=1"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("--no.such"), absl::string_view::npos);

  absl::StatusOr<Flags> bad = Parse({"--storage.retention=soon"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--storage.retention"), absl::string_view::npos);

  EXPECT_FALSE(Parse({"--shards=0"}).ok());
  EXPECT_FALSE(Parse({"--storage.path"}).ok());
  EXPECT_FALSE(Parse({"positional"}).ok());
}

TEST(Flags, HelpListsEveryFlag) {
  const std::string help = FlagsHelp();
  for (const char* name : {"--config.file", "--activities.file", "--web.listen-address",
                           "--storage.path", "--storage.retention", "--log.level"}) {
    EXPECT_NE(help.find(name), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace kad::adapter
