// HubClient over two endpoints, each a fake Hub with its own fake CDN on loopback: a read that
// fails over mid-body and resumes, the token kept from a no-token mirror and from every CDN,
// signed locations per endpoint, the prober bringing the preferred endpoint back, a lagging
// mirror, a long Retry-After.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "fake_http_server.h"
#include "hubapi/hub_client.h"
#include "read_span.h"
#include "unit/support/pattern.h"

using namespace hffs;
using namespace hffs::hubapi;
using hffs::testing::FakeHttpServer;
using hffs::testing::FakeRequest;
using hffs::testing::FakeResponse;
using hffs::testing::read_span;
using Ms = std::chrono::milliseconds;

namespace {

const std::string kSha = "0123456789abcdef0123456789abcdef01234567";
const std::string kToken = "hf_FailoverSecret77";
const RepoId kRepo{RepoType::kModel, "org/name"};
const std::string kData = hffs::testing::gen_content(200'000, 11);

FakeResponse range_of(const FakeRequest& r) {
  auto range = r.header("range").value_or("bytes=0-0");
  size_t dash = range.find('-');
  uint64_t a = std::stoull(range.substr(6, dash - 6));
  uint64_t b = std::stoull(range.substr(dash + 1));
  FakeResponse resp{206, {}, kData.substr(a, b - a + 1)};
  resp.header("Content-Range", "bytes " + std::to_string(a) + "-" + std::to_string(b) + "/" + std::to_string(kData.size()));
  return resp;
}

// One endpoint: a Hub answering repo info and /resolve (302 to its own CDN), and that CDN.
struct Endpoint {
  enum Mode { kOk, kUnavailable, kLagging, kRefusesGated, kRetryAfter };
  std::atomic<int> mode{kOk};
  std::atomic<int> cdn_drop_after{-1};  // >= 0: the next CDN response stops after this many bytes,
  std::atomic<bool> cdn_dead{false};    // and the CDN answers 503 from then on
  FakeHttpServer hub;
  FakeHttpServer cdn;

  Endpoint() {
    hub.set_handler([this](const FakeRequest& r) { return on_hub(r); });
    cdn.set_handler([this](const FakeRequest& r) {
      if (cdn_dead) return FakeResponse{503, {}, "<Error>SlowDown</Error>"};
      FakeResponse resp = range_of(r);
      int n = cdn_drop_after.exchange(-1);
      if (n >= 0) {
        resp.close_after = static_cast<size_t>(n);
        cdn_dead = true;
      }
      return resp;
    });
  }

  FakeResponse on_hub(const FakeRequest& r) {
    switch (mode.load()) {
      case kUnavailable:
        return FakeResponse{503, {}, "{\"error\":\"down for maintenance\"}"};
      case kRetryAfter:
        return FakeResponse{429, {{"Retry-After", "30"}}, "{\"error\":\"slow down\"}"};
      case kLagging:
        return FakeResponse{404, {{"X-Error-Code", "RevisionNotFound"}}, "{\"error\":\"Invalid rev id\"}"};
      case kRefusesGated:
        return FakeResponse{401, {{"X-Error-Code", "GatedRepo"}}, "{\"error\":\"Access restricted\"}"};
      default:
        break;
    }
    if (r.path() == "/api/models/org/name/revision/" + kSha)
      return FakeResponse{200, {}, R"({"id":"org/name","sha":")" + kSha + R"("})"};
    if (r.method == "HEAD" && r.path() == "/org/name/resolve/" + kSha + "/model.bin") {
      FakeResponse resp{302, {}, ""};
      resp.header("Location", cdn.base_url() + "/xet-bridge/obj?Expires=9999999999&Signature=" + std::to_string(hub.port()));
      return resp;
    }
    return FakeResponse{404, {{"X-Error-Code", "EntryNotFound"}}, ""};
  }

  size_t auth_seen() const {
    auto has = [](const FakeRequest& r) { return r.header("authorization").has_value(); };
    return hub.count_if(has) + cdn.count_if(has);
  }
  size_t cdn_auth_seen() const {
    return cdn.count_if([](const FakeRequest& r) { return r.header("authorization").has_value(); });
  }
};

class HubFailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hffs::testing::clear_proxy_env();
  }

  HubConfig config(bool mirror_gets_token = true) {
    HubConfig c;
    c.set_endpoints({{a.hub.base_url(), mirror_gets_token}, {b.hub.base_url(), true}});
    c.token = kToken;
    c.connect_timeout = Ms(2000);
    c.stall_timeout = Ms(2000);
    c.op_deadline = Ms(10'000);
    c.backoff_base = Ms(5);
    c.backoff_cap = Ms(20);
    c.endpoint_backoff = Ms(50);
    c.endpoint_backoff_max = Ms(200);
    return c;
  }

  Status read(HubClient& c, uint64_t off, size_t n, std::string& out) {
    out.assign(n, 'Z');
    return read_span(c, kRepo, kSha, "model.bin", kData.size(), off, std::span<char>(out.data(), n));
  }

  Endpoint a;  // preferred
  Endpoint b;
};

}  // namespace

TEST_F(HubFailoverTest, APreferredThatDiesMidBodyHandsTheRestToTheNextEndpoint) {
  HubClient c(config(/*mirror_gets_token=*/false));
  std::string got;
  ASSERT_TRUE(read(c, 0, 1000, got));  // the location of A's CDN is cached now
  a.mode = Endpoint::kUnavailable;  // its Hub answers 503 from now on,
  a.cdn_drop_after = 70'000;        // and its CDN cuts the next body and then fails too
  ASSERT_TRUE(read(c, 0, kData.size(), got));
  EXPECT_EQ(got, kData);
  // B's CDN was asked only for what A had not sent.
  auto ranges = b.cdn.requests();
  ASSERT_FALSE(ranges.empty());
  EXPECT_EQ(ranges.front().header("range").value_or(""), "bytes=70000-199999");
  // B's signed URL came from B: A's was never sent to B's CDN.
  for (const auto& r : ranges) EXPECT_EQ(r.target.find("Signature=" + std::to_string(a.hub.port())), std::string::npos);

  HubStats s = c.stats();
  ASSERT_EQ(s.endpoints.size(), 2u);
  EXPECT_FALSE(s.endpoints[0].up);
  EXPECT_TRUE(s.endpoints[1].serving);
  ASSERT_EQ(s.failovers.size(), 1u);
  EXPECT_EQ(s.failovers[0].to, b.hub.base_url());
  EXPECT_NE(c.file_url(kRepo, kSha, "model.bin").find(b.hub.base_url()), std::string::npos)
      << "user.hffs.source names the endpoint serving now";
  // The no-token mirror and every CDN never saw the token; B's Hub did.
  EXPECT_EQ(a.auth_seen(), 0u);
  EXPECT_EQ(b.cdn_auth_seen(), 0u);
  EXPECT_GT(b.hub.count_if([](const FakeRequest& r) {
    return r.header("authorization").value_or("") == "Bearer " + kToken;
  }), 0u);
}

TEST_F(HubFailoverTest, TheProberBringsThePreferredBackAndNewReadsGoToIt) {
  HubClient c(config());
  a.mode = Endpoint::kUnavailable;
  std::string got;
  ASSERT_TRUE(read(c, 0, 5000, got));
  EXPECT_EQ(got, kData.substr(0, 5000));
  EXPECT_FALSE(c.stats().endpoints[0].up);
  a.mode = Endpoint::kOk;
  // The prober asks A for the repo's info every back-off period; wait (bounded) until it is back.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!c.stats().endpoints[0].up && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(Ms(10));  // polling what the client reports, with a deadline
  ASSERT_TRUE(c.stats().endpoints[0].up);
  EXPECT_TRUE(c.stats().endpoints[0].serving);
  EXPECT_GT(a.hub.count_if([](const FakeRequest& r) { return r.path().find("/revision/") != std::string::npos; }), 0u);
  size_t b_cdn_before = b.cdn.request_count();
  ASSERT_TRUE(read(c, 5000, 5000, got));
  EXPECT_EQ(got, kData.substr(5000, 5000));
  EXPECT_EQ(b.cdn.request_count(), b_cdn_before) << "the switch back: the new read went to A";
  EXPECT_EQ(c.stats().failovers.size(), 2u);  // A -> B, then B -> A
}

TEST_F(HubFailoverTest, ALaggingMirrorIsSkippedForTheCommitAndNotAskedAgain) {
  HubClient c(config());
  a.mode = Endpoint::kLagging;
  std::string got;
  for (int k = 0; k < 3; ++k) {
    ASSERT_TRUE(read(c, k * 1000, 1000, got));
    EXPECT_EQ(got, kData.substr(k * 1000, 1000));
  }
  EXPECT_EQ(a.hub.request_count(), 1u);
  EXPECT_TRUE(c.stats().endpoints[0].up) << "lacking a commit is not a host failure";
  EXPECT_TRUE(c.stats().failovers.empty());
}

TEST_F(HubFailoverTest, AGatedRepoAMirrorRefusesIsServedByTheNextEndpoint) {
  HubClient c(config());
  a.mode = Endpoint::kRefusesGated;
  auto info = c.repo_info(kRepo, kSha);
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  std::string got;
  ASSERT_TRUE(read(c, 0, 1000, got));
  EXPECT_EQ(got, kData.substr(0, 1000));
  EXPECT_EQ(a.hub.request_count(), 1u);
}

TEST_F(HubFailoverTest, ALongRetryAfterMovesTheRequestOnInsteadOfWaiting) {
  HubClient c(config());
  a.mode = Endpoint::kRetryAfter;  // asks for 30 s
  auto t0 = std::chrono::steady_clock::now();
  auto info = c.repo_info(kRepo, kSha);
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(a.hub.request_count(), 1u);
}

TEST_F(HubFailoverTest, EveryEndpointDownNamesEachOne) {
  HubConfig cfg = config();
  cfg.op_deadline = Ms(1500);
  a.hub.stop();
  b.mode = Endpoint::kUnavailable;
  HubClient c(cfg);
  auto info = c.repo_info(kRepo, kSha);
  ASSERT_FALSE(info.ok());
  const std::string& m = info.status().message();
  EXPECT_NE(m.find(a.hub.base_url() + ": "), std::string::npos) << m;
  EXPECT_NE(m.find(b.hub.base_url() + ": "), std::string::npos) << m;
  EXPECT_TRUE(info.status().code() == Errc::kNetwork || info.status().code() == Errc::kServer ||
              info.status().code() == Errc::kTimeout)
      << info.status().to_string();
  EXPECT_EQ(m.find(kToken), std::string::npos);
}
