// The metrics text: what each repo counts comes once per repo, what the repos of a mount share
// (block cache, HTTP client) once per mount, so a sum over a mount's series is its total.
#include "cli/metrics.h"

#include "cli/endpoint_status.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

namespace hffs::cli {
namespace {

RepoMetrics repo(const std::string& name, uint64_t reads, uint64_t hf_cache) {
  RepoMetrics r;
  r.repo = name;
  r.revision = "main";
  r.commit = std::string(40, 'a');
  r.reads = reads;
  r.hf_cache_bytes = hf_cache;
  r.read_errors = 1;
  r.errors_by_cause = {{Errc::kTimeout, 1}};
  r.prefetch.parts_issued = 3;
  return r;
}

MountMetrics mount(bool hub, std::vector<RepoMetrics> repos) {
  MountMetrics m{"/mnt/hf", "https://hub.example", hub, std::move(repos), {}, hubapi::HubStats{}};
  m.cache.hit_bytes = 1000;
  m.cache.miss_bytes = 5000;
  m.cache.fetches = 7;
  m.http->data_requests = 9;
  m.http->api_requests = 2;
  return m;
}

// The sum of every series of `name` (optionally with `label`) under mount="/mnt/hf".
double sum(const std::map<std::string, double>& m, const std::string& name, const std::string& label = "") {
  double s = 0;
  for (const auto& [k, v] : m)
    if (k.rfind(name + "{mount=\"/mnt/hf\"", 0) == 0 && (label.empty() || k.find(label) != std::string::npos)) s += v;
  return s;
}

TEST(Metrics, ARepoMountKeepsItsLabels) {
  auto m = parse_metrics(render_metrics(mount(false, {repo("org/name", 4, 10)})));
  EXPECT_EQ(m.at("hffs_read_requests_total{mount=\"/mnt/hf\"}"), 4);
  EXPECT_EQ(m.at("hffs_read_bytes_total{mount=\"/mnt/hf\",source=\"network\"}"), 5000);
  EXPECT_EQ(m.at("hffs_read_bytes_total{mount=\"/mnt/hf\",source=\"hf_cache\"}"), 10);
  EXPECT_EQ(m.at("hffs_http_requests_total{mount=\"/mnt/hf\",kind=\"data\"}"), 9);
  EXPECT_EQ(m.at("hffs_read_errors_total{mount=\"/mnt/hf\",cause=\"timeout\"}"), 1);
  EXPECT_EQ(m.count("hffs_info{mount=\"/mnt/hf\",repo=\"org/name\",revision=\"main\",commit=\"" + std::string(40, 'a') +
                    "\",endpoint=\"https://hub.example\"}"),
            1u);
}

TEST(Metrics, AHubMountCountsSharedCountersOnce) {
  auto text = render_metrics(mount(true, {repo("a/x@main", 4, 10), repo("b/y@v1", 6, 20), repo("c/z@main", 0, 0)}));
  auto m = parse_metrics(text);
  // Shared: once, without a repo label, whatever the number of repos.
  EXPECT_EQ(sum(m, "hffs_read_bytes_total", "source=\"network\""), 5000);
  EXPECT_EQ(sum(m, "hffs_read_bytes_total", "source=\"block_cache\""), 1000);
  EXPECT_EQ(sum(m, "hffs_cache_fetches_total"), 7);
  EXPECT_EQ(sum(m, "hffs_http_requests_total", "kind=\"data\""), 9);
  EXPECT_EQ(m.at("hffs_http_requests_total{mount=\"/mnt/hf\",kind=\"api\"}"), 2);
  // Per repo: one series each, labelled; their sum is the mount's.
  EXPECT_EQ(m.at("hffs_read_requests_total{mount=\"/mnt/hf\",repo=\"a/x@main\"}"), 4);
  EXPECT_EQ(m.at("hffs_read_requests_total{mount=\"/mnt/hf\",repo=\"b/y@v1\"}"), 6);
  EXPECT_EQ(sum(m, "hffs_read_requests_total"), 10);
  EXPECT_EQ(sum(m, "hffs_read_bytes_total", "source=\"hf_cache\""), 30);
  EXPECT_EQ(sum(m, "hffs_read_errors_total", "cause=\"all\""), 3);
  EXPECT_EQ(sum(m, "hffs_prefetch_parts_total", "result=\"issued\""), 9);
  EXPECT_EQ(sum(m, "hffs_info"), 3);
  // Every series is the mount's own (no per-repo mount paths), and a family is declared once.
  for (const auto& [k, v] : m) EXPECT_NE(k.find("{mount=\"/mnt/hf\""), std::string::npos) << k;
  std::regex type_line("# TYPE (\\S+) ");
  std::set<std::string> seen;
  for (std::sregex_iterator it(text.begin(), text.end(), type_line), end; it != end; ++it)
    EXPECT_TRUE(seen.insert((*it)[1]).second) << "family declared twice: " << (*it)[1];
}

TEST(Metrics, AHubMountWithNoRepoYetStillCountsItsTraffic) {
  auto m = parse_metrics(render_metrics(mount(true, {})));
  EXPECT_EQ(sum(m, "hffs_read_bytes_total", "source=\"network\""), 5000);
  EXPECT_EQ(sum(m, "hffs_info"), 0);
  EXPECT_EQ(sum(m, "hffs_read_requests_total"), 0);
}

TEST(Metrics, OfflineHasNoHttpSeries) {
  auto mm = mount(false, {repo("org/name", 1, 0)});
  mm.http.reset();
  auto text = render_metrics(mm);
  EXPECT_EQ(text.find("hffs_http_"), std::string::npos);
}

// Two endpoints: the preferred one down (put aside), the mirror serving; requests moved over.
hubapi::HubStats two_endpoints() {
  hubapi::HubStats h;
  h.endpoints = {{"https://hub.example", false, false, true, 3, "connect to hub.example:443: Connection refused"},
                 {"https://mirror.example/hf", true, true, false, 0, ""}};
  h.failovers = {{"https://hub.example", "https://mirror.example/hf", 5}};
  return h;
}

TEST(Metrics, EachEndpointHasItsHealthAndEachPairItsFailovers) {
  auto mm = mount(false, {repo("org/name", 1, 0)});
  mm.http = two_endpoints();
  const std::string text = render_metrics(mm);
  auto m = parse_metrics(text);
  const std::string hub = "{mount=\"/mnt/hf\",endpoint=\"https://hub.example\"}";
  const std::string mirror = "{mount=\"/mnt/hf\",endpoint=\"https://mirror.example/hf\"}";
  EXPECT_EQ(m.at("hffs_endpoint_up" + hub), 0);
  EXPECT_EQ(m.at("hffs_endpoint_up" + mirror), 1);
  EXPECT_EQ(m.at("hffs_endpoint_serving" + hub), 0);
  EXPECT_EQ(m.at("hffs_endpoint_serving" + mirror), 1);
  EXPECT_EQ(m.at("hffs_endpoint_sends_token" + hub), 1);
  EXPECT_EQ(m.at("hffs_endpoint_sends_token" + mirror), 0);
  EXPECT_EQ(m.at("hffs_endpoint_failures_total" + hub), 3);
  EXPECT_EQ(m.at("hffs_endpoint_failures_total" + mirror), 0);
  EXPECT_EQ(m.at("hffs_endpoint_failovers_total{mount=\"/mnt/hf\",from=\"https://hub.example\",to=\"https://"
                 "mirror.example/hf\"}"),
            5);
  EXPECT_EQ(m.at("hffs_endpoint_down_info{mount=\"/mnt/hf\",endpoint=\"https://hub.example\",error=\"connect to "
                 "hub.example:443: Connection refused\"}"),
            1);
  EXPECT_EQ(sum(m, "hffs_endpoint_down_info"), 1) << "only the endpoint that is down";
  for (const char* family : {"hffs_endpoint_up", "hffs_endpoint_serving", "hffs_endpoint_sends_token",
                             "hffs_endpoint_failures_total", "hffs_endpoint_down_info", "hffs_endpoint_failovers_total"}) {
    EXPECT_NE(text.find(std::string("# HELP ") + family + " "), std::string::npos) << family;
    EXPECT_NE(text.find(std::string("# TYPE ") + family + " "), std::string::npos) << family;
  }
  EXPECT_NE(text.find("# TYPE hffs_endpoint_failovers_total counter"), std::string::npos);
  EXPECT_NE(text.find("# TYPE hffs_endpoint_up gauge"), std::string::npos);
  // Preference order is kept in the text (`hffs status` prints it so).
  EXPECT_LT(text.find("hffs_endpoint_up" + hub), text.find("hffs_endpoint_up" + mirror));
}

TEST(Metrics, EndpointLabelsAreEscapedAndReadBack) {
  auto mm = mount(false, {});
  mm.mountpoint = "/mnt/a \"b\"\\c";
  mm.http = hubapi::HubStats{};
  mm.http->endpoints = {{"http://127.0.0.1:9", false, true, true, 1, "said \"no\"\nthen \\ left"}};
  const std::string text = render_metrics(mm);
  EXPECT_NE(text.find("error=\"said \\\"no\\\"\\nthen \\\\ left\""), std::string::npos) << text;
  bool found = false;
  for (const auto& [k, v] : parse_metrics_in_order(text)) {
    if (k.rfind("hffs_endpoint_down_info{", 0) != 0) continue;
    found = true;
    auto labels = parse_labels(k);
    EXPECT_EQ(labels["mount"], "/mnt/a \"b\"\\c");
    EXPECT_EQ(labels["endpoint"], "http://127.0.0.1:9");
    EXPECT_EQ(labels["error"], "said \"no\"\nthen \\ left");
  }
  EXPECT_TRUE(found);
}

TEST(Metrics, TheTokenIsScrubbedFromEndpointErrors) {
  auto h = two_endpoints();
  h.endpoints[0].last_error = "refused hf_secret123 twice: hf_secret123";
  scrub_secret(h, "hf_secret123");
  EXPECT_EQ(h.endpoints[0].last_error, "refused <token> twice: <token>");
}

TEST(EndpointStatus, OneLinePerEndpointInOrderThenTheFailovers) {
  auto mm = mount(false, {repo("org/name", 1, 0)});
  mm.http = two_endpoints();
  mm.http->endpoints.push_back({"http://127.0.0.1:8080", true, false, true, 1, ""});
  EXPECT_EQ(endpoint_status(render_metrics(mm), "-"),
            "  endpoints:  https://hub.example  down (connect to hub.example:443: Connection refused), 3 failures\n"
            "              https://mirror.example/hf  up, serving, 0 failures, no token\n"
            "              http://127.0.0.1:8080  up, 1 failure\n"
            "  failovers:  https://hub.example -> https://mirror.example/hf: 5\n");
}

TEST(EndpointStatus, OneHealthyEndpointIsOneShortLine) {
  auto mm = mount(false, {repo("org/name", 1, 0)});
  mm.http->endpoints = {{"https://hub.example", true, true, true, 0, ""}};
  EXPECT_EQ(endpoint_status(render_metrics(mm), "-"), "  endpoint:   https://hub.example\n");
  mm.http->endpoints = {{"https://hub.example", false, true, true, 2, "timeout"}};
  EXPECT_EQ(endpoint_status(render_metrics(mm), "-"), "  endpoint:   https://hub.example  down (timeout), 2 failures\n");
  // Without a token at all, "no token" says nothing worth a word.
  mm.http->endpoints = {{"https://hub.example", true, true, false, 0, ""}};
  EXPECT_EQ(endpoint_status(render_metrics(mm), "-"), "  endpoint:   https://hub.example\n");
}

TEST(EndpointStatus, SaysWhichBytesCameFromTheSiteCache) {
  auto mm = mount(false, {repo("org/name", 1, 0)});
  mm.http = two_endpoints();
  mm.http->endpoints[1].bytes = 3ull << 30;
  mm.http->endpoints[1].site_cache_hit_bytes = 2ull << 30;
  mm.http->endpoints[1].site_cache_miss_bytes = 1ull << 30;
  mm.http->endpoints[0].bytes = 512ull << 20;
  const std::string text = render_metrics(mm);
  auto m = parse_metrics(text);
  const std::string mirror = "mount=\"/mnt/hf\",endpoint=\"https://mirror.example/hf\"";
  EXPECT_EQ(m.at("hffs_endpoint_bytes_total{" + mirror + "}"), 3ull << 30);
  EXPECT_EQ(m.at("hffs_endpoint_site_cache_bytes_total{" + mirror + ",cache=\"hit\"}"), 2ull << 30);
  EXPECT_EQ(m.at("hffs_endpoint_site_cache_bytes_total{" + mirror + ",cache=\"miss\"}"), 1ull << 30);
  EXPECT_EQ(endpoint_status(text, "-"),
            "  endpoints:  https://hub.example  down (connect to hub.example:443: Connection refused), 3 failures, "
            "512.0 MiB received\n"
            "              https://mirror.example/hf  up, serving, 0 failures, no token, 3.0 GiB received "
            "(site cache: 2.0 GiB hit, 1.0 GiB miss)\n"
            "  failovers:  https://hub.example -> https://mirror.example/hf: 5\n");
  // One endpoint that is a site cache says so too.
  mm.http->endpoints.erase(mm.http->endpoints.begin());
  mm.http->failovers.clear();
  EXPECT_EQ(endpoint_status(render_metrics(mm), "-"),
            "  endpoint:   https://mirror.example/hf  3.0 GiB received (site cache: 2.0 GiB hit, 1.0 GiB miss)\n");
}

TEST(EndpointStatus, AnOfflineMountNamesTheEndpointOfItsInfo) {
  auto mm = mount(false, {repo("org/name", 1, 0)});
  mm.http.reset();
  EXPECT_EQ(endpoint_status(render_metrics(mm), "https://hub.example"), "  endpoint:   https://hub.example\n");
}

}  // namespace
}  // namespace hffs::cli
