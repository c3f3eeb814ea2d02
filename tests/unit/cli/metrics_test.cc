// The metrics text: what each repo counts comes once per repo, what the repos of a mount share
// (block cache, HTTP client) once per mount, so a sum over a mount's series is its total.
#include "cli/metrics.h"

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

}  // namespace
}  // namespace hffs::cli
