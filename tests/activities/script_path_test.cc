#include "activities/script_path.h"

#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/activities/script_dir.h"

namespace kad::activities {
namespace {

using ::kad::activities::testing::ScriptDir;
using ::testing::HasSubstr;

void ExpectRefused(const absl::StatusOr<std::string>& resolved, const std::string& why) {
  ASSERT_FALSE(resolved.ok()) << *resolved;
  EXPECT_EQ(resolved.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(resolved.status().message());
  EXPECT_THAT(message, HasSubstr(why));
  EXPECT_THAT(message, HasSubstr("--activities.scripts-dir="));
}

TEST(ResolveScript, AcceptsScriptInSubfolder) {
  ScriptDir dir;
  const std::string script = dir.Write("a/b.sh", "exit 0\n");
  const absl::StatusOr<std::string> resolved = ResolveScript(dir.path(), "a/b.sh");
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(*resolved, script);
}

TEST(ResolveScript, AcceptsNonCanonicalScriptsDir) {
  ScriptDir dir;
  const std::string script = dir.Write("run.sh", "exit 0\n");
  const absl::StatusOr<std::string> resolved = ResolveScript(dir.path() + "/./", "./run.sh");
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(*resolved, script);
}

TEST(ResolveScript, AcceptsSymlinkThatStaysInside) {
  ScriptDir dir;
  const std::string target = dir.Write("real/run.sh", "exit 0\n");
  ASSERT_EQ(::symlink("real/run.sh", dir.Path("link.sh").c_str()), 0);
  const absl::StatusOr<std::string> resolved = ResolveScript(dir.path(), "link.sh");
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(*resolved, target);
}

TEST(ResolveScript, RefusesAbsolutePath) {
  ScriptDir dir;
  const std::string script = dir.Write("run.sh", "exit 0\n");
  // Even one that lies inside the directory: the config must not depend on it.
  ExpectRefused(ResolveScript(dir.path(), script), "absolute");
}

TEST(ResolveScript, RefusesDotDotComponents) {
  ScriptDir dir;
  ScriptDir outside;
  dir.Write("a/run.sh", "exit 0\n");
  outside.Write("x", "exit 0\n");
  ExpectRefused(ResolveScript(dir.path(), "../x"), "\"..\"");
  ExpectRefused(ResolveScript(dir.path(), "a/../../x"), "\"..\"");
  ExpectRefused(ResolveScript(dir.path(), "a/../a/run.sh"), "\"..\"");
}

TEST(ResolveScript, RefusesSymlinkLeadingOutside) {
  ScriptDir dir;
  ScriptDir outside;
  const std::string target = outside.Write("evil.sh", "exit 0\n");
  ASSERT_EQ(::symlink(target.c_str(), dir.Path("evil.sh").c_str()), 0);
  ASSERT_EQ(::symlink(outside.path().c_str(), dir.Path("sub").c_str()), 0);
  ExpectRefused(ResolveScript(dir.path(), "evil.sh"), "outside");
  ExpectRefused(ResolveScript(dir.path(), "sub/evil.sh"), "outside");
}

TEST(ResolveScript, RefusesMissingFile) {
  ScriptDir dir;
  ExpectRefused(ResolveScript(dir.path(), "missing.sh"), "No such file");
}

TEST(ResolveScript, RefusesDirectoryAndEmptyName) {
  ScriptDir dir;
  dir.Write("folder/run.sh", "exit 0\n");
  ExpectRefused(ResolveScript(dir.path(), "folder"), "not a regular file");
  ExpectRefused(ResolveScript(dir.path(), ""), "empty");
}

TEST(ResolveScript, MissingScriptsDirSaysSo) {
  ScriptDir dir;
  const absl::StatusOr<std::string> resolved = ResolveScript(dir.Path("nope"), "run.sh");
  ASSERT_FALSE(resolved.ok());
  EXPECT_EQ(resolved.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(resolved.status().message()),
              HasSubstr("--activities.scripts-dir=" + dir.Path("nope")));
}

}  // namespace
}  // namespace kad::activities
