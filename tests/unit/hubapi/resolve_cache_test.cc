// Regular files read whole go straight to their /api/resolve-cache URL, once the endpoint has shown
// (by redirecting one there) that it serves them there: one round trip instead of two.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "fake_http_server.h"
#include "hubapi/hub_client.h"
#include "unit/support/pattern.h"

using namespace hffs;
using namespace hffs::hubapi;
using hffs::testing::FakeHttpServer;
using hffs::testing::FakeRequest;
using hffs::testing::FakeResponse;

namespace {

const std::string kSha = "0123456789abcdef0123456789abcdef01234567";
const RepoId kRepo{RepoType::kModel, "org/name"};
const std::string kCache = "/api/resolve-cache/models/org/name/" + kSha + "/";

FakeResponse ranged(const FakeRequest& r, const std::string& data) {
  auto range = r.header("range").value_or("");
  size_t dash = range.find('-');
  if (range.rfind("bytes=", 0) != 0 || dash == std::string::npos) return FakeResponse{200, {}, data};
  uint64_t a = std::stoull(range.substr(6, dash - 6)), b = std::stoull(range.substr(dash + 1));
  FakeResponse resp{206, {}, data.substr(a, b - a + 1)};
  resp.header("Content-Range", "bytes " + std::to_string(a) + "-" + std::to_string(b) + "/" + std::to_string(data.size()));
  return resp;
}

class ResolveCacheTest : public ::testing::Test {
 protected:
  void SetUp() override { hffs::testing::clear_proxy_env(); }
  HubConfig config() {
    HubConfig c;
    c.endpoint = hub.base_url();
    c.token = "hf_token";
    c.op_deadline = std::chrono::milliseconds(10'000);
    c.backoff_base = std::chrono::milliseconds(5);
    c.backoff_cap = std::chrono::milliseconds(20);
    return c;
  }
  // Reads all of `path` (`size` bytes) as a regular file.
  std::string read_whole(HubClient& c, const std::string& path, size_t size, Status* st = nullptr) {
    std::string buf(size, 'Z');
    SpanSink sink{std::span<char>(buf)};
    Status s = c.read_range_to(kRepo, kSha, path, size, 0, size, sink, /*regular=*/true);
    if (st) *st = s;
    return s ? buf : std::string();
  }
  size_t count(const std::string& prefix) {
    size_t n = 0;
    for (const auto& r : hub.requests()) n += r.path().rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  }
  FakeHttpServer hub;
  std::string a = hffs::testing::gen_content(3000, 1), b = hffs::testing::gen_content(5000, 2);
};

// The Hub: /resolve redirects (307, relative, with a query) to resolve-cache, which serves ranges.
TEST_F(ResolveCacheTest, TheSecondRegularFileIsOneRequest) {
  hub.set_handler([&](const FakeRequest& r) {
    for (const auto& [name, data] : {std::pair{std::string("a.json"), a}, std::pair{std::string("b.json"), b}}) {
      if (r.path() == "/org/name/resolve/" + kSha + "/" + name)
        return FakeResponse{307, {{"Location", kCache + name + "?%2Forg%2Fname=&etag=%22x%22"}}, ""};
      if (r.path() == kCache + name) return ranged(r, data);
    }
    return FakeResponse{404, {{"X-Error-Code", "EntryNotFound"}}, ""};
  });
  HubClient c(config());
  EXPECT_EQ(read_whole(c, "a.json", a.size()), a);  // learns: /resolve, then its redirect
  EXPECT_EQ(count("/org/name/resolve/"), 1u);
  EXPECT_EQ(read_whole(c, "b.json", b.size()), b);  // straight to resolve-cache
  EXPECT_EQ(count("/org/name/resolve/"), 1u);
  ASSERT_EQ(hub.request_count(), 3u);
  const FakeRequest last = hub.requests()[2];
  EXPECT_EQ(last.target, kCache + "b.json");
  EXPECT_EQ(last.header("range").value_or(""), "bytes=0-4999");
  EXPECT_TRUE(last.header("authorization").has_value());  // the Hub's own host
}

// A mirror that serves /resolve itself never redirects: resolve-cache is never asked.
TEST_F(ResolveCacheTest, AnEndpointThatServesResolveItselfIsNeverAskedThere) {
  hub.set_handler([&](const FakeRequest& r) {
    if (r.path() == "/org/name/resolve/" + kSha + "/a.json") return ranged(r, a);
    if (r.path() == "/org/name/resolve/" + kSha + "/b.json") return ranged(r, b);
    return FakeResponse{404, {{"X-Error-Code", "EntryNotFound"}}, ""};
  });
  HubClient c(config());
  EXPECT_EQ(read_whole(c, "a.json", a.size()), a);
  EXPECT_EQ(read_whole(c, "b.json", b.size()), b);
  EXPECT_EQ(count("/api/resolve-cache/"), 0u);
  EXPECT_EQ(hub.request_count(), 2u);
}

// Once seen, a resolve-cache URL that answers anything but the bytes: the read goes through
// /resolve and gets the right bytes, and the endpoint is not asked there again.
TEST_F(ResolveCacheTest, AResolveCacheThatStopsServingIsDropped) {
  std::atomic<bool> serve_cache{true};
  hub.set_handler([&](const FakeRequest& r) {
    for (const auto& [name, data] : {std::pair{std::string("a.json"), a}, std::pair{std::string("b.json"), b}}) {
      if (r.path() == "/org/name/resolve/" + kSha + "/" + name) {
        if (!serve_cache) return ranged(r, data);
        return FakeResponse{307, {{"Location", kCache + name}}, ""};
      }
      if (r.path() == kCache + name)
        return serve_cache ? ranged(r, data) : FakeResponse{404, {{"X-Error-Code", "EntryNotFound"}}, ""};
    }
    return FakeResponse{404, {{"X-Error-Code", "EntryNotFound"}}, ""};
  });
  HubClient c(config());
  EXPECT_EQ(read_whole(c, "a.json", a.size()), a);
  serve_cache = false;
  Status st;
  EXPECT_EQ(read_whole(c, "b.json", b.size(), &st), b) << st.to_string();
  const size_t cache_asks = count("/api/resolve-cache/");
  EXPECT_EQ(cache_asks, 2u);  // a's redirect target, then b's direct GET (404)
  EXPECT_EQ(read_whole(c, "b.json", b.size()), b);
  EXPECT_EQ(count("/api/resolve-cache/"), cache_asks);
}

// An LFS file (not regular) is never asked at resolve-cache, even once it was seen.
TEST_F(ResolveCacheTest, LfsFilesKeepTheResolveUrl) {
  hub.set_handler([&](const FakeRequest& r) {
    if (r.path() == "/org/name/resolve/" + kSha + "/a.json") return FakeResponse{307, {{"Location", kCache + "a.json"}}, ""};
    if (r.path() == kCache + "a.json") return ranged(r, a);
    if (r.path() == "/org/name/resolve/" + kSha + "/w.bin") return ranged(r, b);
    return FakeResponse{404, {{"X-Error-Code", "EntryNotFound"}}, ""};
  });
  HubClient c(config());
  EXPECT_EQ(read_whole(c, "a.json", a.size()), a);
  std::string buf(b.size(), 'Z');
  SpanSink sink{std::span<char>(buf)};
  ASSERT_TRUE(c.read_range_to(kRepo, kSha, "w.bin", b.size(), 0, b.size(), sink, /*regular=*/false).is_ok());
  EXPECT_EQ(buf, b);
  EXPECT_EQ(count("/api/resolve-cache/"), 1u);
}

}  // namespace
