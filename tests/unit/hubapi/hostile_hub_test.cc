// HubClient against a hostile or broken Hub: endless pagination, oversized answers, cross-origin
// next links, dot segments, and retries that last until the deadline (issue #11: 4-7, 10, 11).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "fake_http_server.h"
#include "read_span.h"
#include "hubapi/hub_client.h"
#include "hubapi/limits.h"
#include "hubapi/url.h"

using namespace hffs;
using namespace hffs::hubapi;
using hffs::testing::FakeHttpServer;
using hffs::testing::FakeRequest;
using hffs::testing::FakeResponse;
using hffs::testing::read_span;
using Ms = std::chrono::milliseconds;

namespace {

const std::string kSha = "0123456789abcdef0123456789abcdef01234567";
const RepoId kRepo{RepoType::kModel, "org/name"};
const std::string kTree = "/api/models/org/name/tree/" + kSha;

std::string entry(const std::string& path, int size = 1) {
  return R"({"type":"file","oid":")" + std::string(40, 'c') + R"(","size":)" + std::to_string(size) +
         R"(,"path":")" + path + R"("})";
}

// Page n: `per_page` entries named p<n>_<i> (none when per_page is 0), next link to page n+1.
FakeResponse page(const std::string& base, int n, int per_page) {
  std::string body = "[";
  for (int i = 0; i < per_page; ++i) body += (i ? "," : "") + entry("p" + std::to_string(n) + "_" + std::to_string(i));
  body += "]";
  FakeResponse r{200, {}, body};
  r.header("Link", "<" + base + kTree + "?cursor=" + std::to_string(n + 1) + ">; rel=\"next\"");
  return r;
}

int cursor_of(const FakeRequest& r) {
  auto q = r.target.find("cursor=");
  return q == std::string::npos ? 0 : std::atoi(r.target.c_str() + q + 7);
}

class HostileHubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hffs::testing::clear_proxy_env();
  }
  HubConfig config() {
    HubConfig c;
    c.endpoint = hub.base_url();
    c.connect_timeout = Ms(2000);
    c.stall_timeout = Ms(5000);
    c.op_deadline = Ms(10'000);
    c.backoff_base = Ms(5);
    c.backoff_cap = Ms(20);
    return c;
  }
  FakeHttpServer hub;
  FakeHttpServer other;
};

}  // namespace

TEST_F(HostileHubTest, EndlessEmptyPagesAreRefusedNamingTheHub) {
  hub.set_handler([&](const FakeRequest& r) { return page(hub.base_url(), cursor_of(r), 0); });
  HubClient c(config());
  auto t0 = std::chrono::steady_clock::now();
  auto tree = c.list_tree(kRepo, kSha);
  ASSERT_FALSE(tree.ok());
  EXPECT_EQ(tree.status().code(), Errc::kProtocol) << tree.status().to_string();
  EXPECT_NE(tree.status().message().find("empty pages"), std::string::npos) << tree.status().to_string();
  EXPECT_NE(tree.status().message().find(hub.base_url()), std::string::npos) << tree.status().to_string();
  EXPECT_EQ(hub.request_count(), static_cast<size_t>(kMaxEmptyTreePages));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST_F(HostileHubTest, EndlessPagesOfNewEntriesStopAtThePageBound) {
  hub.set_handler([&](const FakeRequest& r) { return page(hub.base_url(), cursor_of(r), 1); });
  HubConfig cfg = config();
  cfg.max_tree_pages = 40;
  HubClient c(cfg);
  auto tree = c.list_tree(kRepo, kSha);
  ASSERT_FALSE(tree.ok());
  EXPECT_NE(tree.status().message().find("more than 40 pages"), std::string::npos) << tree.status().to_string();
  EXPECT_EQ(hub.request_count(), 40u);
}

TEST_F(HostileHubTest, TreeEntriesBeyondTheBoundAreRefused) {
  hub.set_handler([&](const FakeRequest& r) { return page(hub.base_url(), cursor_of(r), 60); });
  HubConfig cfg = config();
  cfg.max_tree_entries = 100;
  HubClient c(cfg);
  auto tree = c.list_tree(kRepo, kSha);
  ASSERT_FALSE(tree.ok());
  EXPECT_NE(tree.status().message().find("more than 100 tree entries"), std::string::npos)
      << tree.status().to_string();
  EXPECT_EQ(hub.request_count(), 2u);
}

TEST_F(HostileHubTest, SlowEndlessListingEndsAtTheListingDeadline) {
  hub.set_handler([&](const FakeRequest& r) {
    std::this_thread::sleep_for(Ms(100));
    return page(hub.base_url(), cursor_of(r), 1);
  });
  HubConfig cfg = config();
  cfg.listing_deadline = Ms(1500);
  HubClient c(cfg);
  auto t0 = std::chrono::steady_clock::now();
  auto tree = c.list_tree(kRepo, kSha);
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(tree.ok());
  EXPECT_NE(tree.status().message().find("did not finish the listing"), std::string::npos)
      << tree.status().to_string();
  EXPECT_LT(took, std::chrono::milliseconds(3000));
  EXPECT_GE(took, std::chrono::milliseconds(1400));
}

TEST_F(HostileHubTest, OversizedApiAnswerIsRefusedBeforeParsing) {
  // A valid page padded far past what the Hub sends (9 MiB of whitespace).
  std::string body = "[" + entry("a.bin") + std::string(size_t{9} << 20, ' ') + "]";
  hub.set_handler([&](const FakeRequest&) { return FakeResponse{200, {}, body}; });
  HubClient c(config());
  auto tree = c.list_tree(kRepo, kSha);
  ASSERT_FALSE(tree.ok());
  EXPECT_EQ(tree.status().code(), Errc::kProtocol);
  EXPECT_NE(tree.status().message().find("more than 8 MiB"), std::string::npos) << tree.status().to_string();
  EXPECT_NE(tree.status().message().find(hub.base_url()), std::string::npos);
  EXPECT_EQ(hub.request_count(), 1u);  // not retried
}

TEST_F(HostileHubTest, NextPageLinkToAnotherOriginIsRefused) {
  hub.set_handler([&](const FakeRequest&) {
    FakeResponse r{200, {}, "[" + entry("a.bin") + "]"};
    r.header("Link", "<" + other.base_url() + kTree + "?cursor=2>; rel=\"next\"");
    return r;
  });
  other.set_handler([&](const FakeRequest&) { return FakeResponse{404, {}, ""}; });
  HubClient c(config());
  auto tree = c.list_tree(kRepo, kSha);
  ASSERT_FALSE(tree.ok());
  EXPECT_EQ(tree.status().code(), Errc::kProtocol) << tree.status().to_string();
  EXPECT_NE(tree.status().message().find("another origin"), std::string::npos) << tree.status().to_string();
  EXPECT_EQ(other.request_count(), 0u);
}

TEST_F(HostileHubTest, ApiRedirectToAnotherHostIsRefused) {
  hub.set_handler([&](const FakeRequest&) {
    FakeResponse r{302, {}, ""};
    r.header("Location", "http://localhost:" + std::to_string(other.port()) + kTree);
    return r;
  });
  other.set_handler([&](const FakeRequest&) { return FakeResponse{200, {}, "[" + entry("evil.bin") + "]"}; });
  HubClient c(config());
  auto tree = c.list_tree(kRepo, kSha);
  ASSERT_FALSE(tree.ok());
  EXPECT_NE(tree.status().message().find("to another host"), std::string::npos) << tree.status().to_string();
  EXPECT_EQ(other.request_count(), 0u);
}

TEST_F(HostileHubTest, DotSegmentsNeverReachTheNetwork) {
  hub.set_handler([&](const FakeRequest&) {
    return FakeResponse{200, {}, R"({"id":"org/name","sha":")" + kSha + R"("})"};
  });
  HubClient c(config());
  for (std::string rev : {"..", ".", "refs/..", "../main", "refs/./pr/1", "a\nb"}) {
    auto info = c.repo_info(kRepo, rev);
    ASSERT_FALSE(info.ok()) << rev;
    EXPECT_EQ(info.status().code(), Errc::kInvalidInput) << rev;
    EXPECT_NE(info.status().message().find("invalid revision"), std::string::npos) << info.status().to_string();
    auto tree = c.list_tree(kRepo, rev);
    EXPECT_EQ(tree.status().code(), Errc::kInvalidInput) << rev;
  }
  char buf[4];
  for (std::string path : {"../x", "a/./b", "a/..", "/abs"}) {
    Status s = read_span(c, kRepo, kSha, path, 10, 0, std::span<char>(buf, 4));
    EXPECT_EQ(s.code(), Errc::kInvalidInput) << path << ": " << s.to_string();
  }
  Status s = read_span(c, kRepo, "..", "a.bin", 10, 0, std::span<char>(buf, 4));
  EXPECT_EQ(s.code(), Errc::kInvalidInput) << s.to_string();
  EXPECT_EQ(hub.request_count(), 0u);
  // Dots inside a name are fine.
  EXPECT_TRUE(c.repo_info(kRepo, "v1..2").ok());
  EXPECT_TRUE(c.repo_info(kRepo, "...").ok());
}

TEST_F(HostileHubTest, RetriesGoOnUntilTheDeadlineNotAFixedCount) {
  // 12 failures in a row, then the Hub answers: more than any fixed attempt count used to allow.
  std::atomic<int> n{0};
  hub.set_handler([&](const FakeRequest&) {
    int i = ++n;
    if (i <= 12) return FakeResponse{i % 2 ? 503 : 429, {}, ""};
    return FakeResponse{200, {}, R"({"id":"org/name","sha":")" + kSha + R"("})"};
  });
  HubConfig cfg = HubConfig{};
  cfg.endpoint = hub.base_url();
  cfg.op_deadline = Ms(20'000);
  cfg.backoff_base = Ms(5);
  cfg.backoff_cap = Ms(40);
  HubClient c(cfg);
  auto info = c.repo_info(kRepo, "main");
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(n.load(), 13);
  EXPECT_EQ(c.stats().retries, 12u);
}

TEST_F(HostileHubTest, RetryingStopsAtTheDeadlineWithATimeout) {
  hub.set_handler([&](const FakeRequest&) { return FakeResponse{503, {}, ""}; });
  HubConfig cfg = HubConfig{};
  cfg.endpoint = hub.base_url();
  cfg.op_deadline = Ms(1500);
  cfg.backoff_base = Ms(5);
  cfg.backoff_cap = Ms(100);
  HubClient c(cfg);
  auto t0 = std::chrono::steady_clock::now();
  auto info = c.repo_info(kRepo, "main");
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), Errc::kTimeout) << info.status().to_string();
  EXPECT_GE(took, Ms(1200));
  EXPECT_LT(took, Ms(2500));
  EXPECT_GT(hub.request_count(), 6u);
}

TEST_F(HostileHubTest, NonRetryableAnswersFailAtOnce) {
  hub.set_handler([&](const FakeRequest&) {
    return FakeResponse{404, {{"X-Error-Code", "RepoNotFound"}}, ""};
  });
  HubConfig cfg = HubConfig{};
  cfg.endpoint = hub.base_url();
  HubClient c(cfg);
  auto info = c.repo_info(kRepo, "main");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), Errc::kRepoNotFound) << info.status().to_string();
  EXPECT_EQ(hub.request_count(), 1u);
}

TEST(DowngradeCheck, HttpsToHttpIsADowngrade) {
  auto https = parse_url("https://hub.example/api");
  auto http = parse_url("http://cdn.example/x");
  auto https2 = parse_url("https://cdn.example/x");
  ASSERT_TRUE(https && http && https2);
  EXPECT_TRUE(is_downgrade(*https, *http));
  EXPECT_FALSE(is_downgrade(*https, *https2));
  EXPECT_FALSE(is_downgrade(*http, *http));
  EXPECT_FALSE(is_downgrade(*http, *https2));
}
