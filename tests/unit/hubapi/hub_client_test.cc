// HubClient against in-process loopback servers: a fake Hub and a fake CDN on another port.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fake_http_server.h"
#include "read_span.h"
#include "unit/support/pattern.h"
#include "hubapi/hub_client.h"

using namespace hffs;
using namespace hffs::hubapi;
using hffs::testing::FakeHttpServer;
using hffs::testing::FakeRequest;
using hffs::testing::FakeResponse;
using hffs::testing::read_span;
using Ms = std::chrono::milliseconds;

namespace {

const std::string kSha = "0123456789abcdef0123456789abcdef01234567";
const std::string kToken = "hf_SuperSecretToken42";
const RepoId kRepo{RepoType::kModel, "org/name"};

std::string content(size_t n) { return hffs::testing::gen_content(n, 7); }

// Serves `data` for a "Range: bytes=a-b" request as a correct 206.
FakeResponse range_response(const FakeRequest& r, const std::string& data) {
  auto range = r.header("range");
  if (!range || range->rfind("bytes=", 0) != 0) return FakeResponse{200, {}, data};
  size_t dash = range->find('-');
  uint64_t a = std::stoull(range->substr(6, dash - 6));
  uint64_t b = std::stoull(range->substr(dash + 1));
  FakeResponse resp{206, {}, data.substr(a, b - a + 1)};
  resp.header("Content-Range", "bytes " + std::to_string(a) + "-" + std::to_string(b) + "/" +
                                   std::to_string(data.size()));
  return resp;
}

int64_t epoch_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool has_auth(const FakeRequest& r) { return r.header("authorization").has_value(); }

class HubClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hffs::testing::clear_proxy_env();
  }

  HubConfig config(bool token = true) {
    HubConfig c;
    c.endpoint = hub.base_url() + "/";  // trailing '/' must be stripped
    if (token) c.token = kToken;
    c.connect_timeout = Ms(2000);
    c.stall_timeout = Ms(5000);
    c.op_deadline = Ms(10'000);
    c.max_attempts = 4;
    c.backoff_base = Ms(5);
    c.backoff_cap = Ms(20);
    return c;
  }

  // Hub HEAD /resolve answers 302 to the CDN (with `query`), CDN serves `data` via `cdn_handler`.
  void redirect_to_cdn(const std::string& query) {
    hub.set_handler([this, query](const FakeRequest& r) {
      if (r.method == "HEAD" && r.path() == "/org/name/resolve/" + kSha + "/model.bin") {
        FakeResponse resp{302, {}, "Found"};
        resp.header("Location", cdn.base_url() + "/xet-bridge/abc" + query);
        resp.header("X-Linked-Size", std::to_string(data.size()));
        return resp;
      }
      return FakeResponse{404, {{"X-Error-Code", "EntryNotFound"}}, ""};
    });
  }

  std::string read(HubClient& c, uint64_t off, size_t n, Status* st = nullptr) {
    std::string buf(n, 'Z');
    Status s = read_span(c, kRepo, kSha, "model.bin", data.size(), off, std::span<char>(buf.data(), n));
    if (st) *st = s;
    else EXPECT_TRUE(s.is_ok()) << s.to_string();
    return buf;
  }

  // The CDN serves ranges correctly, but closes the first response's connection after n bytes.
  void cdn_drops_first_response_after(size_t n) {
    cdn.set_handler([this, n, first = std::make_shared<std::atomic<bool>>(true)](const FakeRequest& r) {
      FakeResponse resp = range_response(r, data);
      if (first->exchange(false)) resp.close_after = n;
      return resp;
    });
  }

  size_t hub_heads() const {
    return hub.count_if([](const FakeRequest& r) { return r.method == "HEAD"; });
  }

  FakeHttpServer hub;
  FakeHttpServer cdn;
  std::string data = content(100'000);
};

}  // namespace

TEST_F(HubClientTest, PinAndPaginatedListing) {
  std::string entry_oid(40, 'c');
  auto page = [&](int i) {
    return R"([{"type":"file","oid":")" + entry_oid + R"(","size":)" + std::to_string(i) +
           R"(,"path":"dir)" + std::to_string(i) + R"(/f.bin"}])";
  };
  hub.set_handler([&](const FakeRequest& r) {
    // Only the fields hffs reads, never `siblings` (a file list that grows with the repo).
    if (r.target == "/api/models/org/name/revision/refs%2Fpr%2F1?expand=sha&expand=lastModified&expand=private&expand=gated")
      return FakeResponse{200, {{"X-Request-Id", "r1"}},
                          R"({"id":"org/name","sha":")" + kSha +
                              R"(","lastModified":"2024-02-19T11:06:12.000Z","private":true,"gated":"manual"})"};
    std::string tree = "/api/models/org/name/tree/" + kSha;
    if (r.target == tree + "?recursive=true&expand=false&limit=1000") {
      FakeResponse resp{200, {}, page(1)};
      resp.header("Link", "<" + hub.base_url() + tree + "?recursive=true&expand=false&limit=1000&cursor=p2>; rel=\"next\"");
      return resp;
    }
    if (r.target == tree + "?recursive=true&expand=false&limit=1000&cursor=p2") {
      FakeResponse resp{200, {}, page(2)};
      // Several links, parameters, quoting; relative target.
      resp.header("Link", R"(<https://elsewhere.example/first>; rel="first", <)" + tree +
                              R"(?cursor=p3&x=a,b>; title="x, y"; rel="next")");
      return resp;
    }
    if (r.target == tree + "?cursor=p3&x=a,b") return FakeResponse{200, {}, page(3)};
    return FakeResponse{404, {}, "unexpected " + r.target};
  });
  HubClient c(config());
  EXPECT_EQ(c.config().endpoint, hub.base_url());
  auto info = c.repo_info(kRepo, "refs/pr/1");
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(info->sha, kSha);
  EXPECT_EQ(info->id, "org/name");
  EXPECT_EQ(info->last_modified_epoch, 1708340772);
  EXPECT_TRUE(info->is_private);
  EXPECT_EQ(info->gated, "manual");

  auto tree = c.list_tree(kRepo, info->sha);
  ASSERT_TRUE(tree.ok()) << tree.status().to_string();
  ASSERT_EQ(tree->size(), 6u);  // 3 files + 3 implied dirs
  EXPECT_EQ((*tree)[0].path, "dir1");
  EXPECT_EQ((*tree)[0].type, TreeEntry::Type::kDirectory);
  EXPECT_EQ((*tree)[1].path, "dir1/f.bin");
  EXPECT_EQ((*tree)[5].path, "dir3/f.bin");
  EXPECT_EQ((*tree)[5].size, 3u);
  EXPECT_EQ(c.stats().api_requests, 4u);
  EXPECT_EQ(hub.request_count(), 4u);
  // Every request went to the Hub itself, with the token and identity encoding.
  for (const auto& r : hub.requests()) {
    EXPECT_EQ(r.header("authorization").value_or(""), "Bearer " + kToken);
    EXPECT_EQ(r.header("accept-encoding").value_or(""), "identity");
    EXPECT_NE(r.header("user-agent").value_or("").find("hffs/"), std::string::npos);
  }
}

TEST_F(HubClientTest, RepoInfoFollowsRelativeRedirectKeepingAuth) {
  hub.set_handler([&](const FakeRequest& r) {
    if (r.path() == "/api/models/Org/Name/revision/main")
      return FakeResponse{307, {{"Location", "/api/models/org/name/revision/main"}}, "Temporary Redirect"};
    if (r.path() == "/api/models/org/name/revision/main")
      return FakeResponse{200, {}, R"({"id":"org/name","sha":")" + kSha + R"(","gated":false})"};
    return FakeResponse{404, {}, ""};
  });
  HubClient c(config());
  auto info = c.repo_info(RepoId{RepoType::kModel, "Org/Name"}, "main");
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(info->id, "org/name");
  EXPECT_EQ(info->gated, "");
  ASSERT_EQ(hub.request_count(), 2u);
  EXPECT_TRUE(has_auth(hub.requests()[1]));
  EXPECT_EQ(c.stats().retries, 0u);
}

TEST_F(HubClientTest, RepoInfoRejectsBadSha) {
  hub.set_handler([&](const FakeRequest&) {
    return FakeResponse{200, {}, R"({"id":"org/name","sha":")" + std::string(40, 'A') + R"("})"};
  });
  HubClient c(config());
  auto info = c.repo_info(kRepo, "main");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), Errc::kProtocol);
}

TEST_F(HubClientTest, RepoInfoRedirectLoopFails) {
  hub.set_handler([&](const FakeRequest&) {
    return FakeResponse{307, {{"Location", "/api/models/org/name/revision/main"}}, ""};
  });
  HubClient c(config());
  auto info = c.repo_info(kRepo, "main");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), Errc::kProtocol);
  EXPECT_EQ(hub.request_count(), 6u);  // first + 5 hops
}

TEST_F(HubClientTest, MaliciousTreeIsRejected) {
  hub.set_handler([&](const FakeRequest&) {
    return FakeResponse{200, {}, R"([{"type":"file","oid":")" + std::string(40, 'a') + R"(","size":1,"path":"../../etc/passwd"}])"};
  });
  HubClient c(config());
  auto tree = c.list_tree(kRepo, kSha);
  ASSERT_FALSE(tree.ok());
  EXPECT_EQ(tree.status().code(), Errc::kInvalidInput);
  EXPECT_NE(tree.status().message().find("../../etc/passwd"), std::string::npos);
}

TEST_F(HubClientTest, RelativeRedirectThen200ServesFromHub) {
  std::string small = content(5000);
  std::string target = "/api/resolve-cache/models/org/name/" + kSha + "/config.json";
  hub.set_handler([&](const FakeRequest& r) {
    if (r.method == "HEAD" && r.path() == "/org/name/resolve/" + kSha + "/config.json")
      return FakeResponse{307, {{"Location", target + "?%2Forg%2Fname=&etag=%22abc%22"}}, ""};
    if (r.path() == target) {
      // The query-carrying form is refused: the client must fall back to dropping the query.
      if (r.target != target) return FakeResponse{404, {}, ""};
      if (r.method == "HEAD") return FakeResponse{200, {{"ETag", "\"abc\""}}, small};
      return range_response(r, small);
    }
    return FakeResponse{404, {}, ""};
  });
  HubClient c(config());
  std::string buf(1000, 'Z');
  Status s = read_span(c, kRepo, kSha, "config.json", small.size(), 100, std::span<char>(buf));
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(buf, small.substr(100, 1000));
  auto reqs = hub.requests();
  ASSERT_EQ(reqs.size(), 4u);  // HEAD resolve, HEAD with query (404), HEAD without, GET
  EXPECT_EQ(reqs[3].method, "GET");
  EXPECT_EQ(reqs[3].target, target);
  EXPECT_EQ(reqs[3].header("range").value_or(""), "bytes=100-1099");
  for (const auto& r : reqs) EXPECT_TRUE(has_auth(r)) << r.target;  // same host: token kept
  EXPECT_EQ(c.stats().resolve_requests, 3u);
  EXPECT_EQ(c.stats().data_requests, 1u);
  EXPECT_EQ(c.stats().bytes_received, 1000u);
}

// A whole small file: one ranged GET on its resolve URL, no HEAD first.
TEST_F(HubClientTest, AWholeFileTheHubServesIsOneRequest) {
  std::string small = content(3000);
  hub.set_handler([&](const FakeRequest& r) {
    if (r.method == "GET" && r.path() == "/org/name/resolve/" + kSha + "/config.json") return range_response(r, small);
    return FakeResponse{404, {{"X-Error-Code", "EntryNotFound"}}, ""};
  });
  HubClient c(config());
  std::string buf(small.size(), 'Z');
  ASSERT_TRUE(read_span(c, kRepo, kSha, "config.json", small.size(), 0, std::span<char>(buf)).is_ok());
  EXPECT_EQ(buf, small);
  ASSERT_EQ(hub.request_count(), 1u);
  EXPECT_EQ(hub.requests()[0].header("range").value_or(""), "bytes=0-2999");
  EXPECT_TRUE(has_auth(hub.requests()[0]));
  EXPECT_EQ(c.stats().resolve_requests, 0u);
  EXPECT_EQ(c.stats().data_requests, 1u);
}

// A whole small LFS file: the GET's redirect is followed to the CDN without the token and becomes
// the file's location (a later read goes straight to the CDN).
TEST_F(HubClientTest, AWholeFileBehindTheCdnFollowsTheGetsRedirect) {
  hub.set_handler([&](const FakeRequest& r) {
    if (r.method == "GET" && r.path() == "/org/name/resolve/" + kSha + "/model.bin")
      return FakeResponse{302, {{"Location", cdn.base_url() + "/xet-bridge/abc?Expires=" +
                                                 std::to_string(epoch_now() + 3600) + "&Signature=s"}}, ""};
    return FakeResponse{404, {{"X-Error-Code", "EntryNotFound"}}, ""};
  });
  cdn.set_handler([&](const FakeRequest& r) { return range_response(r, data); });
  HubClient c(config());
  EXPECT_EQ(read(c, 0, data.size()), data);
  EXPECT_EQ(read(c, 0, data.size()), data);
  EXPECT_EQ(hub.request_count(), 1u);
  ASSERT_EQ(cdn.request_count(), 2u);
  for (const auto& r : cdn.requests()) EXPECT_FALSE(has_auth(r));
  EXPECT_EQ(c.stats().bytes_received, 2 * data.size());
}

// A Hub (or mirror) that does not serve the file on a ranged GET of its resolve URL: the read falls
// back to HEAD + GET, as for any other read, and gets the right bytes.
TEST_F(HubClientTest, AWholeFileFallsBackToHeadWhenTheGetIsNotServed) {
  redirect_to_cdn("?Expires=" + std::to_string(epoch_now() + 3600) + "&Signature=sig");  // HEAD only
  cdn.set_handler([&](const FakeRequest& r) { return range_response(r, data); });
  HubClient c(config());
  EXPECT_EQ(read(c, 0, data.size()), data);
  ASSERT_EQ(hub.request_count(), 2u);
  EXPECT_EQ(hub.requests()[0].method, "GET");
  EXPECT_EQ(hub.requests()[1].method, "HEAD");
  EXPECT_EQ(cdn.request_count(), 1u);
  EXPECT_EQ(c.stats().errors, 0u);
}

// Refusals are reported as the HEAD path reports them (a second request, on the error path only).
TEST_F(HubClientTest, AWholeGatedFileIsStillGated) {
  hub.set_handler([&](const FakeRequest&) {
    return FakeResponse{401, {{"X-Error-Code", "GatedRepo"}, {"X-Error-Message", "restricted"}}, ""};
  });
  HubClient c(config());
  Status st;
  read(c, 0, data.size(), &st);
  EXPECT_EQ(st.code(), Errc::kGated) << st.to_string();
  EXPECT_EQ(hub.request_count(), 2u);
  EXPECT_EQ(c.stats().retries, 0u);
}

TEST_F(HubClientTest, CdnRedirectNeverGetsTheToken) {
  redirect_to_cdn("?Expires=" + std::to_string(epoch_now() + 3600) + "&Signature=sig");
  cdn.set_handler([&](const FakeRequest& r) { return range_response(r, data); });
  HubClient c(config());
  EXPECT_EQ(read(c, 0, 4096), data.substr(0, 4096));
  EXPECT_EQ(read(c, 50'000, 50'000), data.substr(50'000));
  // The Hub got the token; the CDN never did.
  ASSERT_EQ(hub.request_count(), 1u);  // one resolve for both reads (location cached)
  EXPECT_EQ(hub.requests()[0].header("authorization").value_or(""), "Bearer " + kToken);
  ASSERT_EQ(cdn.request_count(), 2u);
  for (const auto& r : cdn.requests()) {
    EXPECT_FALSE(has_auth(r));
    EXPECT_EQ(r.header("accept-encoding").value_or(""), "identity");
    EXPECT_EQ(r.path(), "/xet-bridge/abc");
  }
  EXPECT_EQ(cdn.requests()[1].header("range").value_or(""), "bytes=50000-99999");
  EXPECT_EQ(cdn.connections_accepted(), 1u);  // the connection was reused
  auto st = c.stats();
  EXPECT_EQ(st.resolve_requests, 1u);
  EXPECT_EQ(st.data_requests, 2u);
  EXPECT_EQ(st.bytes_received, 54'096u);
}

TEST_F(HubClientTest, SiteCacheLabelsCountTheBytesTheyCameWith) {
  redirect_to_cdn("?Expires=" + std::to_string(epoch_now() + 3600) + "&Signature=sig");
  std::vector<std::string> labels = {"MISS", "HIT", "", "UPDATING", "HIT"};
  size_t n = 0;
  cdn.set_handler([&](const FakeRequest& r) {
    FakeResponse resp = range_response(r, data);
    const std::string label = labels[n++ % labels.size()];
    if (!label.empty()) resp.header("X-Site-Cache", label);
    return resp;
  });
  HubClient c(config());
  EXPECT_EQ(read(c, 0, 1000), data.substr(0, 1000));       // MISS
  EXPECT_EQ(read(c, 1000, 2000), data.substr(1000, 2000));  // HIT
  EXPECT_EQ(read(c, 3000, 4000), data.substr(3000, 4000));  // no label: not a site cache
  EXPECT_EQ(read(c, 7000, 8000), data.substr(7000, 8000));  // UPDATING: served from its cache
  auto st = c.stats();
  EXPECT_EQ(st.bytes_received, 15'000u);
  EXPECT_EQ(st.site_cache_miss_bytes, 1000u);
  EXPECT_EQ(st.site_cache_hit_bytes, 10'000u);
  ASSERT_EQ(st.endpoints.size(), 1u);
  EXPECT_EQ(st.endpoints[0].bytes, 15'000u);
  EXPECT_EQ(st.endpoints[0].site_cache_hit_bytes, 10'000u);
  EXPECT_EQ(st.endpoints[0].site_cache_miss_bytes, 1000u);
}

TEST_F(HubClientTest, NoTokenMeansNoAuthorizationAnywhere) {
  redirect_to_cdn("");
  cdn.set_handler([&](const FakeRequest& r) { return range_response(r, data); });
  HubClient c(config(/*token=*/false));
  EXPECT_EQ(read(c, 10, 10), data.substr(10, 10));
  EXPECT_EQ(hub.count_if(has_auth), 0u);
  EXPECT_EQ(cdn.count_if(has_auth), 0u);
}

TEST_F(HubClientTest, ExpiredLocationIsReResolved) {
  redirect_to_cdn("?Expires=" + std::to_string(epoch_now() - 10));
  cdn.set_handler([&](const FakeRequest& r) { return range_response(r, data); });
  HubClient c(config());
  EXPECT_EQ(read(c, 0, 100), data.substr(0, 100));
  EXPECT_EQ(read(c, 100, 100), data.substr(100, 100));
  EXPECT_EQ(hub_heads(), 2u);
  EXPECT_EQ(c.stats().resolve_requests, 2u);
}

TEST_F(HubClientTest, LocationReResolvedWithinRefreshMarginOfExpiry) {
  // S3-style signature: X-Amz-Date 2025-10-08T22:15:43Z + 3600 s -> expires at 1759965343.
  const int64_t expires = 1759965343;
  redirect_to_cdn("?X-Amz-Date=20251008T221543Z&X-Amz-Expires=3600&X-Amz-Signature=s");
  cdn.set_handler([&](const FakeRequest& r) { return range_response(r, data); });
  std::atomic<int64_t> now{expires - 3600};
  HubClient c(config());  // refresh margin 300 s
  c.set_wall_clock_for_testing([&] { return now.load(); });
  read(c, 0, 10);
  EXPECT_EQ(c.stats().resolve_requests, 1u);
  now = expires - 301;  // still outside the margin: cached
  read(c, 0, 10);
  EXPECT_EQ(c.stats().resolve_requests, 1u);
  now = expires - 299;  // inside the margin: re-resolved before it can fail
  read(c, 0, 10);
  EXPECT_EQ(c.stats().resolve_requests, 2u);
  EXPECT_EQ(hub_heads(), 2u);
  EXPECT_EQ(cdn.request_count(), 3u);
}

TEST_F(HubClientTest, ShortLivedLocationIsUsedForHalfItsLifetime) {
  // A URL valid for only 100 s (less than the 300 s margin) is still reused for ~50 s rather
  // than re-resolved on every read (which would burn the Hub's resolver rate limit).
  const int64_t t0 = 1'800'000'000;
  redirect_to_cdn("?Expires=" + std::to_string(t0 + 100));
  cdn.set_handler([&](const FakeRequest& r) { return range_response(r, data); });
  std::atomic<int64_t> now{t0};
  HubClient c(config());
  c.set_wall_clock_for_testing([&] { return now.load(); });
  read(c, 0, 10);
  now = t0 + 40;
  read(c, 0, 10);
  EXPECT_EQ(c.stats().resolve_requests, 1u);
  now = t0 + 60;
  read(c, 0, 10);
  EXPECT_EQ(c.stats().resolve_requests, 2u);
}

TEST_F(HubClientTest, LocationWithoutExpiryDefaultsToOneHour) {
  redirect_to_cdn("");
  cdn.set_handler([&](const FakeRequest& r) { return range_response(r, data); });
  const int64_t t0 = 1'800'000'000;
  std::atomic<int64_t> now{t0};
  HubClient c(config());
  c.set_wall_clock_for_testing([&] { return now.load(); });
  read(c, 0, 10);
  now = t0 + 3600 - 301;
  read(c, 0, 10);
  EXPECT_EQ(c.stats().resolve_requests, 1u);
  now = t0 + 3600 - 299;
  read(c, 0, 10);
  EXPECT_EQ(c.stats().resolve_requests, 2u);
}

TEST_F(HubClientTest, CdnForbiddenTriggersReResolveThenSuccess) {
  redirect_to_cdn("?Expires=" + std::to_string(epoch_now() + 3600));
  std::atomic<int> n{0};
  cdn.set_handler([&](const FakeRequest& r) {
    if (n++ == 0) return FakeResponse{403, {}, "<Error><Code>AccessDenied</Code></Error>"};
    return range_response(r, data);
  });
  HubClient c(config());
  EXPECT_EQ(read(c, 1000, 2000), data.substr(1000, 2000));
  EXPECT_EQ(hub_heads(), 2u);
  EXPECT_EQ(cdn.request_count(), 2u);
  EXPECT_EQ(c.stats().resolve_requests, 2u);
  EXPECT_EQ(c.stats().retries, 1u);
}

TEST_F(HubClientTest, DataHostRedirectIsFollowedWithoutToken) {
  redirect_to_cdn("");
  cdn.set_handler([&](const FakeRequest& r) {
    if (r.path() == "/xet-bridge/abc") return FakeResponse{302, {{"Location", "/moved/abc?Expires=9999999999"}}, ""};
    if (r.path() == "/moved/abc") return range_response(r, data);
    return FakeResponse{404, {}, ""};
  });
  HubClient c(config());
  EXPECT_EQ(read(c, 5, 50), data.substr(5, 50));
  EXPECT_EQ(read(c, 500, 50), data.substr(500, 50));  // the moved location is cached
  auto reqs = cdn.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[1].path(), "/moved/abc");
  EXPECT_EQ(reqs[2].path(), "/moved/abc");
  EXPECT_EQ(cdn.count_if(has_auth), 0u);
  EXPECT_EQ(hub_heads(), 1u);
  EXPECT_EQ(c.stats().retries, 0u);
}

TEST_F(HubClientTest, RateLimitedHonoursRetryAfter) {
  redirect_to_cdn("");
  std::atomic<int> n{0};
  cdn.set_handler([&](const FakeRequest& r) {
    if (n++ == 0) return FakeResponse{429, {{"Retry-After", "1"}}, "slow down"};
    return range_response(r, data);
  });
  HubClient c(config());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(read(c, 0, 100), data.substr(0, 100));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, Ms(990));
  EXPECT_EQ(cdn.request_count(), 2u);
  EXPECT_EQ(hub_heads(), 1u);  // a 429 is not a reason to re-resolve
  EXPECT_EQ(c.stats().retries, 1u);
}

TEST_F(HubClientTest, RetryAfterPastDeadlineIsATimeoutAtOnce) {
  redirect_to_cdn("");
  cdn.set_handler([&](const FakeRequest&) { return FakeResponse{429, {{"Retry-After", "30"}}, ""}; });
  auto cfg = config();
  cfg.op_deadline = Ms(800);
  HubClient c(cfg);
  auto t0 = std::chrono::steady_clock::now();
  Status s;
  read(c, 0, 100, &s);
  EXPECT_EQ(s.code(), Errc::kTimeout) << s.to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, Ms(700));  // did not sleep into the deadline
  EXPECT_NE(s.message().find("model.bin"), std::string::npos);
  EXPECT_NE(s.message().find("429"), std::string::npos) << s.message();
}

TEST_F(HubClientTest, ServiceUnavailableTwiceThenSuccess) {
  redirect_to_cdn("");
  std::atomic<int> n{0};
  cdn.set_handler([&](const FakeRequest& r) {
    if (n++ < 2) return FakeResponse{503, {}, "busy"};
    return range_response(r, data);
  });
  HubClient c(config());
  EXPECT_EQ(read(c, 7, 77), data.substr(7, 77));
  EXPECT_EQ(cdn.request_count(), 3u);
  EXPECT_EQ(c.stats().retries, 2u);
  EXPECT_EQ(c.stats().errors, 0u);
}

TEST_F(HubClientTest, ServerErrorsExhaustAttempts) {
  redirect_to_cdn("");
  cdn.set_handler([&](const FakeRequest&) { return FakeResponse{500, {{"X-Request-Id", "req-500"}}, ""}; });
  HubClient c(config());
  Status s;
  read(c, 0, 10, &s);
  EXPECT_EQ(s.code(), Errc::kServer) << s.to_string();
  EXPECT_NE(s.message().find("req-500"), std::string::npos);
  EXPECT_EQ(cdn.request_count(), 4u);  // max_attempts
  EXPECT_EQ(c.stats().errors, 1u);
}

TEST_F(HubClientTest, MidBodyCloseResumesFromReceivedOffset) {
  redirect_to_cdn("");
  cdn_drops_first_response_after(30'000);
  HubClient c(config());
  EXPECT_EQ(read(c, 1000, 80'000), data.substr(1000, 80'000));
  auto reqs = cdn.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].header("range").value_or(""), "bytes=1000-80999");
  EXPECT_EQ(reqs[1].header("range").value_or(""), "bytes=31000-80999");
  EXPECT_EQ(c.stats().bytes_received, 80'000u);
  EXPECT_EQ(hub_heads(), 1u);
}

// Records every piece a streaming read hands over; can refuse from a given byte on.
struct RecordingSink : ByteSink {
  std::string got;
  std::vector<std::pair<uint64_t, size_t>> pieces;
  uint64_t refuse_from = UINT64_MAX;
  bool put(uint64_t at, std::span<const char> d) override {
    pieces.emplace_back(at, d.size());
    if (at + d.size() > refuse_from) return false;
    if (got.size() < at + d.size()) got.resize(at + d.size(), 'Z');
    got.replace(at, d.size(), d.data(), d.size());
    return true;
  }
};

TEST_F(HubClientTest, StreamingReadResumesIntoTheSinkAtTheReceivedOffset) {
  redirect_to_cdn("");
  cdn_drops_first_response_after(30'000);
  HubClient c(config());
  RecordingSink sink;
  Status s = c.read_range_to(kRepo, kSha, "model.bin", data.size(), 1000, 80'000, sink);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(sink.got, data.substr(1000, 80'000));
  // In order, no gaps, no overlaps: each piece starts where the previous ended, across the resume.
  uint64_t next = 0;
  for (auto [at, len] : sink.pieces) {
    EXPECT_EQ(at, next);
    next = at + len;
  }
  EXPECT_EQ(next, 80'000u);
  ASSERT_EQ(cdn.request_count(), 2u);
  EXPECT_EQ(cdn.requests()[1].header("range").value_or(""), "bytes=31000-80999");
}

TEST_F(HubClientTest, SinkThatRefusesEndsTheReadWithoutRetrying) {
  redirect_to_cdn("");
  cdn.set_handler([&](const FakeRequest& r) { return range_response(r, data); });
  HubClient c(config());
  RecordingSink sink;
  sink.refuse_from = 10'000;
  Status s = c.read_range_to(kRepo, kSha, "model.bin", data.size(), 0, 80'000, sink);
  EXPECT_EQ(s.code(), Errc::kIo) << s.to_string();
  EXPECT_EQ(cdn.request_count(), 1u);  // a local failure is not the network's: no second request
}

TEST_F(HubClientTest, FullBodyInsteadOfPartialIsAnErrorNotData) {
  redirect_to_cdn("");
  cdn.set_handler([&](const FakeRequest&) { return FakeResponse{200, {}, data}; });
  HubClient c(config());
  Status s;
  std::string buf = read(c, 0, 100, &s);
  EXPECT_EQ(s.code(), Errc::kProtocol) << s.to_string();
  EXPECT_EQ(buf, std::string(100, 'Z'));  // nothing written
  EXPECT_EQ(cdn.request_count(), 3u);     // retried twice (fresh locations), then failed
  EXPECT_EQ(c.stats().bytes_received, 0u);
}

TEST_F(HubClientTest, WrongContentRangeIsAnError) {
  redirect_to_cdn("");
  cdn.set_handler([&](const FakeRequest& r) {
    FakeResponse resp = range_response(r, data);
    resp.headers.clear();
    resp.header("Content-Range", "bytes 1-100/" + std::to_string(data.size()));  // off by one
    return resp;
  });
  HubClient c(config());
  Status s;
  std::string buf = read(c, 0, 100, &s);
  EXPECT_EQ(s.code(), Errc::kProtocol) << s.to_string();
  EXPECT_EQ(buf, std::string(100, 'Z'));
  EXPECT_NE(s.message().find("bytes 1-100"), std::string::npos);

  // Right range, wrong total (the file changed size under us).
  cdn.set_handler([&](const FakeRequest& r) {
    FakeResponse resp = range_response(r, data);
    resp.headers.clear();
    resp.header("Content-Range", "bytes 0-99/5000");
    return resp;
  });
  buf = read(c, 0, 100, &s);
  EXPECT_EQ(s.code(), Errc::kProtocol);
  EXPECT_EQ(buf, std::string(100, 'Z'));
}

TEST_F(HubClientTest, MoreBytesThanAskedIsAnError) {
  redirect_to_cdn("");
  cdn.set_handler([&](const FakeRequest& r) {
    FakeResponse resp = range_response(r, data);
    resp.body += "EXTRA";
    return resp;
  });
  HubClient c(config());
  Status s;
  read(c, 0, 100, &s);
  EXPECT_EQ(s.code(), Errc::kProtocol) << s.to_string();
  EXPECT_EQ(cdn.request_count(), 1u);
}

TEST_F(HubClientTest, StalledServerTimesOutWithinDeadline) {
  redirect_to_cdn("");
  cdn.set_handler([&](const FakeRequest& r) {
    FakeResponse resp = range_response(r, data);
    resp.stall = true;
    resp.stall_after = 10;
    return resp;
  });
  auto cfg = config();
  cfg.op_deadline = Ms(800);
  cfg.stall_timeout = Ms(300);
  HubClient c(cfg);
  auto t0 = std::chrono::steady_clock::now();
  Status s;
  read(c, 0, 1000, &s);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(s.code(), Errc::kTimeout) << s.to_string();
  EXPECT_LT(took, Ms(1500));
  EXPECT_GE(took, Ms(700));
  EXPECT_NE(s.message().find("model.bin"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("ms"), std::string::npos);
}

TEST_F(HubClientTest, StalledHubApiTimesOut) {
  hub.set_handler([&](const FakeRequest&) {
    FakeResponse resp{200, {}, "[]"};
    resp.stall = true;
    return resp;
  });
  auto cfg = config();
  cfg.op_deadline = Ms(600);
  HubClient c(cfg);
  auto t0 = std::chrono::steady_clock::now();
  auto tree = c.list_tree(kRepo, kSha);
  ASSERT_FALSE(tree.ok());
  EXPECT_EQ(tree.status().code(), Errc::kTimeout) << tree.status().to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, Ms(1500));
}

TEST_F(HubClientTest, GatedNotFoundAndInvalidTokenMessages) {
  hub.set_handler([&](const FakeRequest& r) {
    if (r.path().find("/gated/") != std::string::npos)
      return FakeResponse{401,
                          {{"X-Error-Code", "GatedRepo"},
                           {"X-Error-Message", "Access to model org/gated is restricted."},
                           {"X-Request-Id", "Root=1-gated"}},
                          ""};
    if (r.path().find("/missing/") != std::string::npos)
      return FakeResponse{404, {{"X-Error-Code", "RepoNotFound"}}, R"({"error":"Repository not found"})"};
    if (r.path().find("/badtoken/") != std::string::npos)
      // A hostile server echoes the token back: it must not reach the message.
      return FakeResponse{401, {{"X-Error-Message", "Invalid credentials in Authorization header " + kToken}}, ""};
    if (r.path().find("/rev/") != std::string::npos)
      return FakeResponse{404, {{"X-Error-Code", "RevisionNotFound"}, {"X-Error-Message", "Invalid rev id: nope"}}, ""};
    return FakeResponse{404, {{"X-Error-Code", "EntryNotFound"}, {"X-Repo-Commit", kSha}}, ""};
  });
  HubClient c(config());
  std::string buf(10, 'Z');
  Status s = read_span(c, RepoId{RepoType::kDataset, "org/gated"}, kSha, "x.bin", 100, 0, std::span<char>(buf));
  EXPECT_EQ(s.code(), Errc::kGated);
  EXPECT_NE(s.message().find(hub.base_url() + "/datasets/org/gated"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("token"), std::string::npos);
  EXPECT_NE(s.message().find("Root=1-gated"), std::string::npos);

  auto info = c.repo_info(RepoId{RepoType::kModel, "org/missing"}, "main");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), Errc::kRepoNotFound);
  EXPECT_NE(info.status().message().find("org/missing"), std::string::npos);

  info = c.repo_info(RepoId{RepoType::kModel, "org/badtoken"}, "main");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), Errc::kUnauthorized);
  EXPECT_EQ(info.status().message().find(kToken), std::string::npos) << info.status().message();

  info = c.repo_info(RepoId{RepoType::kModel, "org/rev"}, "nope");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), Errc::kRevisionNotFound);
  EXPECT_NE(info.status().message().find("nope"), std::string::npos);

  s = read_span(c, kRepo, kSha, "missing.txt", 100, 0, std::span<char>(buf));
  EXPECT_EQ(s.code(), Errc::kEntryNotFound);
  EXPECT_NE(s.message().find("missing.txt"), std::string::npos);
  // Nothing above is retryable.
  EXPECT_EQ(c.stats().retries, 0u);
  EXPECT_EQ(hub.request_count(), 5u);
}

TEST_F(HubClientTest, ConnectionRefusedIsNetworkErrorNamingTheEndpoint) {
  auto cfg = config();
  int dead_port;
  {
    FakeHttpServer gone;
    dead_port = gone.port();
  }
  cfg.endpoint = "http://127.0.0.1:" + std::to_string(dead_port);
  cfg.max_attempts = 2;
  HubClient c(cfg);
  auto info = c.repo_info(kRepo, "main");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), Errc::kNetwork) << info.status().to_string();
  EXPECT_NE(info.status().message().find("127.0.0.1:" + std::to_string(dead_port)), std::string::npos)
      << info.status().message();
  EXPECT_NE(info.status().message().find("curl"), std::string::npos);
  EXPECT_EQ(c.stats().retries, 1u);
}

TEST_F(HubClientTest, TokenIsCleanedAndNeverSentWhenMalformed) {
  hub.set_handler([&](const FakeRequest&) {
    return FakeResponse{200, {}, R"({"id":"org/name","sha":")" + kSha + R"("})"};
  });
  auto cfg = config();
  cfg.token = "  " + kToken + "\r\n";
  {
    HubClient c(cfg);
    ASSERT_TRUE(c.repo_info(kRepo, "main").ok());
    EXPECT_EQ(hub.requests().back().header("authorization").value_or(""), "Bearer " + kToken);
  }
  cfg.token = "hf_abc\x01X-Injected: 1";
  HubClient c(cfg);
  ASSERT_TRUE(c.repo_info(kRepo, "main").ok());
  EXPECT_FALSE(has_auth(hub.requests().back()));
  EXPECT_FALSE(hub.requests().back().header("x-injected"));
}

TEST_F(HubClientTest, ReadPastEndIsRejectedWithoutNetwork) {
  HubClient c(config());
  std::string buf(10, 'Z');
  Status s = read_span(c, kRepo, kSha, "model.bin", 100, 95, std::span<char>(buf));
  EXPECT_EQ(s.code(), Errc::kInvalidInput);
  EXPECT_TRUE(read_span(c, kRepo, kSha, "model.bin", 100, 100, std::span<char>(buf.data(), 0)).is_ok());
  EXPECT_EQ(hub.request_count(), 0u);
}

TEST_F(HubClientTest, ConcurrentReadsShareOneLocation) {
  redirect_to_cdn("?Expires=" + std::to_string(epoch_now() + 3600));
  cdn.set_handler([&](const FakeRequest& r) { return range_response(r, data); });
  HubClient c(config());
  std::vector<std::thread> ts;
  std::atomic<int> bad{0};
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        uint64_t off = static_cast<uint64_t>((t * 10 + i) * 1000);
        std::string buf(1000, 'Z');
        Status s = read_span(c, kRepo, kSha, "model.bin", data.size(), off, std::span<char>(buf));
        if (!s.is_ok() || buf != data.substr(off, 1000)) ++bad;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(hub_heads(), 1u);  // single-flight resolve, even for the first concurrent reads
  EXPECT_EQ(cdn.request_count(), 80u);
  EXPECT_LE(cdn.connections_accepted(), 9u);  // connections are pooled, not one per request
}
