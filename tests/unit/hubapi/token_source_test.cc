// TokenSource (a token fixed or read from a file that rotates) and HubClient sending the token of
// a rotated file again after a 401.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fake_http_server.h"
#include "hubapi/hub_client.h"
#include "hubapi/token_source.h"

using namespace hffs;
using namespace hffs::hubapi;
using hffs::testing::FakeHttpServer;
using hffs::testing::FakeRequest;
using hffs::testing::FakeResponse;
using std::chrono::milliseconds;

namespace {

const std::string kSha = "0123456789abcdef0123456789abcdef01234567";
const RepoId kRepo{RepoType::kModel, "org/name"};

class TokenFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/creds-tokentest-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir = tmpl;
    path = dir + "/token";
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  // Writes in place (same inode), as `echo tok > file` does.
  void write(const std::string& text) { std::ofstream(path, std::ios::trunc) << text; }
  // A new file renamed over the old one (a new inode), as secret managers do.
  void replace(const std::string& text) {
    std::ofstream(path + ".new", std::ios::trunc) << text;
    std::filesystem::rename(path + ".new", path);
  }
  struct timespec mtime() const {
    struct stat st {};
    ::stat(path.c_str(), &st);
    return st.st_mtim;
  }
  void set_mtime(struct timespec t) const {
    struct timespec both[2] = {t, t};
    ::utimensat(AT_FDCWD, path.c_str(), both, 0);
  }

  std::string dir, path;
};

std::string str(const TokenSource::Token& t) { return t ? *t : std::string("<none>"); }

}  // namespace

TEST(TokenSourceTest, FixedTokenIsCleanedAndNeverRotates) {
  auto s = TokenSource::fixed(std::string("  hf_abc\r\n"));
  EXPECT_EQ(str(s->current()), "hf_abc");
  EXPECT_FALSE(s->rotates());
  EXPECT_FALSE(s->rejected(s->current()));
  EXPECT_EQ(s->known(), std::vector<std::string>{"hf_abc"});
  EXPECT_EQ(TokenSource::fixed(std::string("hf_a\x01X-Injected: 1"))->current(), nullptr);
  EXPECT_EQ(TokenSource::fixed(std::nullopt)->current(), nullptr);
}

TEST_F(TokenFile, ChangedFileIsReadAgainOnceTheLookIsDue) {
  write("hf_first\n");
  auto s = TokenSource::file(path, milliseconds(0));  // every current() looks
  EXPECT_TRUE(s->rotates());
  EXPECT_EQ(str(s->current()), "hf_first");
  write("hf_second_longer\n");  // in place
  EXPECT_EQ(str(s->current()), "hf_second_longer");
  replace("hf_third\n");  // renamed over: a new inode
  EXPECT_EQ(str(s->current()), "hf_third");
  EXPECT_EQ(s->changes(), 2u);
  EXPECT_EQ(s->known(), (std::vector<std::string>{"hf_first", "hf_second_longer", "hf_third"}));
}

TEST_F(TokenFile, NoLookBeforeTheInterval) {
  write("hf_first\n");
  auto s = TokenSource::file(path, std::chrono::hours(1));
  auto first = s->current();
  replace("hf_second\n");
  EXPECT_EQ(str(s->current()), "hf_first");  // not due: not even a stat
  // A 401 to a request sent with the old token reads the file now.
  EXPECT_TRUE(s->rejected(first));
  EXPECT_EQ(str(s->current()), "hf_second");
  // Another 401 to the same old token (a request in flight meanwhile): the token differs, resend.
  EXPECT_TRUE(s->rejected(first));
  // A 401 to the new token with the file unchanged: nothing better to send.
  EXPECT_FALSE(s->rejected(s->current()));
}

TEST_F(TokenFile, RewriteThatKeepsSizeAndMtimeIsFoundOnlyByA401) {
  write("hf_aaaa\n");
  auto s = TokenSource::file(path, milliseconds(0));
  auto used = s->current();
  auto t = mtime();
  write("hf_bbbb\n");  // same size, same inode
  set_mtime(t);
  EXPECT_EQ(str(s->current()), "hf_aaaa");  // the signature did not change
  EXPECT_TRUE(s->rejected(used));
  EXPECT_EQ(str(s->current()), "hf_bbbb");
}

TEST_F(TokenFile, GoneUnreadableOrEmptyKeepsTheLastToken) {
  write("hf_kept\n");
  auto s = TokenSource::file(path, milliseconds(0));
  std::filesystem::remove(path);
  EXPECT_EQ(str(s->current()), "hf_kept");
  EXPECT_FALSE(s->rejected(s->current()));
  write("   \n");  // empty: not a token
  EXPECT_EQ(str(s->current()), "hf_kept");
  write("hf_bad\x01token\n");  // control characters: never sent
  EXPECT_EQ(str(s->current()), "hf_kept");
  std::filesystem::remove(path);
  std::filesystem::create_directory(path);  // not a regular file
  EXPECT_EQ(str(s->current()), "hf_kept");
  std::filesystem::remove(path);
  write("hf_back\n");
  EXPECT_EQ(str(s->current()), "hf_back");
  EXPECT_EQ(s->changes(), 1u);
}

TEST_F(TokenFile, EmptyAtStartThenATokenAppears) {
  write("");
  auto s = TokenSource::file(path, milliseconds(0));
  EXPECT_EQ(s->current(), nullptr);
  write("hf_late\n");
  EXPECT_EQ(str(s->current()), "hf_late");
}

TEST_F(TokenFile, ReadersSeeOneWholeTokenWhileItRotates) {
  write("hf_token_0\n");
  auto s = TokenSource::file(path, milliseconds(0));
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i)
    readers.emplace_back([&] {
      while (!stop) {
        std::string t = str(s->current());
        if (t.rfind("hf_token_", 0) != 0 || t.size() != 10) ++bad;
      }
    });
  for (int i = 1; i < 200; ++i) replace("hf_token_" + std::to_string(i % 10) + "\n");
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
}

// The Hub revokes the old token; the file already holds the new one but was not looked at yet:
// the 401 makes the client read it and send the request again, once.
TEST_F(TokenFile, HubClientResendsWithTheRotatedTokenAfter401) {
  hffs::testing::clear_proxy_env();
  write("hf_old\n");
  std::atomic<bool> old_valid{true};
  FakeHttpServer hub([&](const FakeRequest& r) {
    auto auth = r.header("authorization").value_or("");
    bool ok = auth == "Bearer hf_new" || (old_valid && auth == "Bearer hf_old");
    if (!ok) return FakeResponse{401, {}, R"({"error":"Invalid credentials in Authorization header"})"};
    return FakeResponse{200, {}, R"({"id":"org/name","sha":")" + kSha + R"(","private":true})"};
  });
  HubConfig c;
  c.endpoint = hub.base_url();
  c.op_deadline = milliseconds(10'000);
  c.backoff_base = milliseconds(5);
  c.token_source = TokenSource::file(path, std::chrono::hours(1));
  HubClient client(c);
  ASSERT_TRUE(client.repo_info(kRepo, "main").ok());
  replace("hf_new\n");
  old_valid = false;
  auto info = client.repo_info(kRepo, "main");
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  auto reqs = hub.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[1].header("authorization").value_or(""), "Bearer hf_old");
  EXPECT_EQ(reqs[2].header("authorization").value_or(""), "Bearer hf_new");

  // Revoked with nothing new in the file: the 401 stands, no request sent again.
  old_valid = false;
  hub.set_handler([](const FakeRequest&) {
    return FakeResponse{401, {}, R"({"error":"Invalid credentials in Authorization header"})"};
  });
  auto failed = client.repo_info(kRepo, "main");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), Errc::kUnauthorized);
  EXPECT_EQ(hub.requests().size(), 4u);
  EXPECT_EQ(failed.status().message().find("hf_new"), std::string::npos);
}

// A fixed token (the environment, --token) that the Hub revokes fails as it always did.
TEST(TokenSourceTest, FixedTokenRevokedFailsWithoutResending) {
  hffs::testing::clear_proxy_env();
  FakeHttpServer hub([](const FakeRequest&) {
    return FakeResponse{401, {}, R"({"error":"Invalid credentials in Authorization header"})"};
  });
  HubConfig c;
  c.endpoint = hub.base_url();
  c.token = "hf_env";
  HubClient client(c);
  auto r = client.repo_info(kRepo, "main");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Errc::kUnauthorized);
  EXPECT_EQ(hub.requests().size(), 1u);
}
