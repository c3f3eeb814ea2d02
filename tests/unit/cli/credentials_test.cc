// Where the token comes from and whether it rotates (cli/hub_setup.h), and the checks made for a
// mount by a normal user (cli/mountpoint.h check_allow_other).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cli/env.h"
#include "cli/hub_setup.h"
#include "cli/mountpoint.h"
#include "hubapi/token_source.h"

namespace hffs::cli {
namespace {

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/creds-clitest-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string file(const std::string& name, const std::string& text) {
    std::string p = dir + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  std::string dir;
};

using Credentials = TempDir;

TEST_F(Credentials, TokenFileRotatesAndIsNamedAbsolute) {
  std::string p = file("token", "hf_one\n");
  HubArgs o;
  o.endpoint = {"https://hub.example"};
  std::string cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir);
  o.token_file = "token";  // relative: made absolute (the daemon runs in "/")
  auto hub = make_hub_config(o, HfEnv{});
  std::filesystem::current_path(cwd);
  ASSERT_TRUE(hub.ok()) << hub.status().to_string();
  ASSERT_TRUE(hub->config.token_source);
  EXPECT_TRUE(hub->config.token_source->rotates());
  EXPECT_EQ(hub->config.token_source->path(), p);
  EXPECT_EQ(hub->config.token, "hf_one");
  EXPECT_EQ(hub->token_source, p + " (re-read when it changes)");
  EXPECT_TRUE(has_token(hub->config));
  // A 401 would read it again: the new token is what is sent, and both are scrubbed from output.
  auto used = hub->config.token_source->current();
  std::ofstream(p, std::ios::trunc) << "hf_two_rotated\n";
  EXPECT_TRUE(hub->config.token_source->rejected(used));
  EXPECT_EQ(*hub->config.token_source->current(), "hf_two_rotated");
  EXPECT_EQ(known_tokens(hub->config), (std::vector<std::string>{"hf_one", "hf_two_rotated"}));
}

TEST_F(Credentials, CommandLineAndEnvironmentTokensAreFixed) {
  HubArgs o;
  o.endpoint = {"https://hub.example"};
  o.token = "hf_cli";
  auto hub = make_hub_config(o, HfEnv{});
  ASSERT_TRUE(hub.ok());
  EXPECT_FALSE(hub->config.token_source->rotates());
  EXPECT_EQ(hub->token_source, "--token");

  HfEnv env;
  env.token = "hf_env";
  env.token_source = "HF_TOKEN";
  o.token.reset();
  hub = make_hub_config(o, env);
  ASSERT_TRUE(hub.ok());
  EXPECT_FALSE(hub->config.token_source->rotates());
  EXPECT_EQ(*hub->config.token_source->current(), "hf_env");
  EXPECT_EQ(hub->token_source, "HF_TOKEN");
}

TEST_F(Credentials, TheSavedTokenFileRotatesButTheEnvironmentVariableWins) {
  std::string p = file("token", "hf_saved\n");
  ::setenv("HF_TOKEN_PATH", p.c_str(), 1);
  ::unsetenv("HF_TOKEN");
  ::unsetenv("HUGGING_FACE_HUB_TOKEN");
  HfEnv env = read_hf_env();
  EXPECT_EQ(env.token, "hf_saved");
  ASSERT_TRUE(env.token_file);
  EXPECT_EQ(env.token_file->string(), p);
  HubArgs o;
  o.endpoint = {"https://hub.example"};
  auto hub = make_hub_config(o, env);
  ASSERT_TRUE(hub.ok());
  EXPECT_TRUE(hub->config.token_source->rotates());
  EXPECT_EQ(hub->config.token_source->path(), p);

  ::setenv("HF_TOKEN", "hf_from_env", 1);
  env = read_hf_env();
  ::unsetenv("HF_TOKEN");
  ::unsetenv("HF_TOKEN_PATH");
  EXPECT_EQ(env.token, "hf_from_env");
  EXPECT_FALSE(env.token_file);
}

TEST_F(Credentials, UnreadableTokenFileIsAUsageError) {
  HubArgs o;
  o.endpoint = {"https://hub.example"};
  o.token_file = dir + "/missing";
  auto hub = make_hub_config(o, HfEnv{});
  ASSERT_FALSE(hub.ok());
  EXPECT_NE(hub.status().message().find("cannot read token file"), std::string::npos);
}

TEST_F(Credentials, HomeFromThePasswordDatabaseWithoutHOME) {
  const char* old = std::getenv("HOME");
  std::string saved = old ? old : "";
  ::unsetenv("HOME");
  ::unsetenv("HF_HOME");
  ::unsetenv("XDG_CACHE_HOME");
  HfEnv env = read_hf_env();
  if (old) ::setenv("HOME", saved.c_str(), 1);
  EXPECT_FALSE(env.hf_home.empty());
  EXPECT_EQ(env.hf_home.filename(), "huggingface");
  EXPECT_EQ(env.default_cache_dir().filename(), "hffs");
}

using AllowOther = TempDir;

TEST_F(AllowOther, ANormalUserNeedsUserAllowOther) {
  std::string off = file("off.conf", "# user_allow_other\n#mount_max = 1000\n");
  std::string on = file("on.conf", "# comment\n  user_allow_other  \n");
  EXPECT_TRUE(check_allow_other({"allow_other"}, 0, off).is_ok());         // root may
  EXPECT_TRUE(check_allow_other({"noatime"}, 1000, off).is_ok());         // not asked for
  EXPECT_TRUE(check_allow_other({"allow_other"}, 1000, on).is_ok());
  for (const char* opt : {"allow_other", "allow_root"}) {
    auto s = check_allow_other({"noatime", std::string(opt)}, 1000, off);
    ASSERT_FALSE(s.is_ok()) << opt;
    EXPECT_NE(s.message().find("user_allow_other"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(off), std::string::npos) << s.message();
  }
  EXPECT_FALSE(check_allow_other({"allow_other"}, 1000, dir + "/no-such.conf").is_ok());
}

TEST_F(AllowOther, ANormalUserNeedsTheFuseDeviceOpenToThem) {
  EXPECT_TRUE(check_fuse_device(0, dir + "/none").is_ok());  // root: libfuse opens it whatever its mode
  if (::geteuid() == 0) GTEST_SKIP() << "access() answers for the real user; test_nonroot covers a normal user";
  auto s = check_fuse_device(::geteuid(), dir + "/none");
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("modprobe fuse"), std::string::npos) << s.message();
  std::string dev = file("fuse", "");
  ::chmod(dev.c_str(), 0600);
  EXPECT_TRUE(check_fuse_device(::geteuid(), dev).is_ok());  // the owner may
}

}  // namespace
}  // namespace hffs::cli
