// `hffs mount` with a bad endpoint list stops before it forks or touches the mountpoint: exit 2 and
// one line on stderr, whether the list came from the command line, fstab or the environment.
// (The mountpoint does not exist: a list wrongly accepted ends in exit 7, never in a mount.)
#include <gtest/gtest.h>

#include <cstdlib>

#include "cli/commands.h"
#include "cli/fstab.h"

namespace hffs::cli {
namespace {

constexpr const char* kNoDir = "/nonexistent/hffs-unit-mount-usage";

struct Outcome {
  int code;
  std::string err;
};

Outcome mount(const MountArgs& a) {
  testing::internal::CaptureStderr();
  int code = cmd_mount(a);
  return {code, testing::internal::GetCapturedStderr()};
}

MountArgs args(std::vector<std::string> endpoints, std::vector<std::string> no_token = {}) {
  MountArgs a;
  a.repo = "org/name";
  a.mountpoint = kNoDir;
  a.endpoint = std::move(endpoints);
  a.no_token_endpoint = std::move(no_token);
  return a;
}

// Exit 2 and exactly one line, "hffs: <what>...".
void expect_usage(const Outcome& o, const std::string& what) {
  EXPECT_EQ(o.code, kExitUsage) << o.err;
  ASSERT_FALSE(o.err.empty());
  EXPECT_EQ(o.err.find('\n'), o.err.size() - 1) << "one line: " << o.err;
  EXPECT_EQ(o.err.rfind("hffs: " + what, 0), 0u) << o.err;
}

class MountUsage : public testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv("HF_ENDPOINT");
    ::unsetenv("HFFS_NO_TOKEN_ENDPOINTS");
  }
  void TearDown() override { SetUp(); }
};

TEST_F(MountUsage, ABadListOnTheCommandLineIsExit2AndOneLine) {
  expect_usage(mount(args({"https://a.example", "https://A.example/"})), "--endpoint: ");
  expect_usage(mount(args({"https://a.example", "ftp://b.example"})), "--endpoint: ");
  expect_usage(mount(args({"https://user:pw@a.example"})), "--endpoint: ");
  expect_usage(mount(args({"https://a.example"}, {"https://b.example"})), "--no-token-endpoint: ");
  auto backoff = args({"https://a.example"});
  backoff.endpoint_backoff_s = 0;
  expect_usage(mount(backoff), "--endpoint-backoff must be a number of seconds from 0.001 to 120");
}

TEST_F(MountUsage, ABadListInTheEnvironmentNamesTheVariable) {
  ::setenv("HF_ENDPOINT", "https://a.example,,https://b.example", 1);
  expect_usage(mount(args({})), "HF_ENDPOINT: ");
  ::setenv("HF_ENDPOINT", "https://a.example, https://b.example", 1);
  ::setenv("HFFS_NO_TOKEN_ENDPOINTS", "https://c.example", 1);
  expect_usage(mount(args({})), "HFFS_NO_TOKEN_ENDPOINTS: ");
}

TEST_F(MountUsage, AnFstabListIsCheckedTheSameWay) {
  bool fake = false;
  auto m = parse_mount_helper_args(
      {"org/name", kNoDir, "-o", "ro,endpoint=https://a.example,endpoint=https://a.example:443"}, &fake);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  expect_usage(mount(*m), "--endpoint: ");
}

TEST_F(MountUsage, AGoodListGoesOnToTheMountpoint) {
  ::setenv("HF_ENDPOINT", "https://a.example, https://b.example", 1);
  ::setenv("HFFS_NO_TOKEN_ENDPOINTS", "https://b.example/", 1);
  auto o = mount(args({}));
  EXPECT_EQ(o.code, kExitMountpoint) << o.err;
  o = mount(args({"https://c.example", "http://127.0.0.1:9"}, {"http://127.0.0.1:9"}));
  EXPECT_EQ(o.code, kExitUsage) << "HFFS_NO_TOKEN_ENDPOINTS still names b, not in the --endpoint list: " << o.err;
  ::unsetenv("HFFS_NO_TOKEN_ENDPOINTS");
  o = mount(args({"https://c.example", "http://127.0.0.1:9"}, {"http://127.0.0.1:9"}));
  EXPECT_EQ(o.code, kExitMountpoint) << o.err;
}

}  // namespace
}  // namespace hffs::cli
