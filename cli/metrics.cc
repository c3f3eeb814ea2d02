#include "cli/metrics.h"

#include <sys/prctl.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/partial_view.h"

namespace hffs::cli {

namespace {
std::string esc(const std::string& v) {
  std::string o;
  for (char c : v) {
    if (c == '"' || c == '\\') o.push_back('\\');
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o.push_back(c);
  }
  return o;
}

// Writes metric families: a family's HELP/TYPE once, then its samples, all adjacent (the text
// format wants a family's samples together).
class Emitter {
 public:
  void family(const char* name, const char* type, const char* help) {
    o_ << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  }
  // `labels` is the inside of {...} without its braces; `extra` more labels, may be empty.
  void sample(const char* name, const std::string& labels, const std::string& extra, uint64_t v) {
    o_ << name << "{" << labels << (extra.empty() ? "" : ",") << extra << "} " << v << "\n";
  }
  std::string str() const { return o_.str(); }

 private:
  std::ostringstream o_;
};

struct Repo {
  std::string labels;  // mount="..."[,repo="..."]
  const RepoMetrics* r;
};

// The series of each repo: what its own Filesystem counted.
void render_repo_families(Emitter& e, const std::vector<Repo>& repos, const std::string& shared,
                          const cache::CacheStats& cs) {
  e.family("hffs_read_requests_total", "counter", "Read requests served to the kernel.");
  for (const auto& r : repos) e.sample("hffs_read_requests_total", r.labels, "", r.r->reads);
  // Bytes from the HF cache are a repo's own; the block cache's hits and misses are the shared
  // cache's, counted once for the mount.
  e.family("hffs_read_bytes_total", "counter", "Bytes returned to readers, by where they came from.");
  for (const auto& r : repos) e.sample("hffs_read_bytes_total", r.labels, "source=\"hf_cache\"", r.r->hf_cache_bytes);
  e.sample("hffs_read_bytes_total", shared, "source=\"block_cache\"", cs.hit_bytes);
  e.sample("hffs_read_bytes_total", shared, "source=\"network\"", cs.miss_bytes);
  e.family("hffs_read_spliced_bytes_total", "counter",
           "Block-cache bytes answered by splicing the cache file's pages (no copy in the daemon).");
  for (const auto& r : repos) e.sample("hffs_read_spliced_bytes_total", r.labels, "", r.r->spliced_bytes);
  e.family("hffs_passthrough_opens_total", "counter",
           "Opens of fully local files handed to the kernel to read directly (FUSE passthrough).");
  for (const auto& r : repos) e.sample("hffs_passthrough_opens_total", r.labels, "", r.r->passthrough_opens);
}

void render_errors(Emitter& e, const std::vector<Repo>& repos) {
  e.family("hffs_read_errors_total", "counter", "Reads that failed, by cause.");
  for (const auto& r : repos) {
    for (const auto& [code, v] : r.r->errors_by_cause)
      e.sample("hffs_read_errors_total", r.labels, "cause=\"" + std::string(errc_name(code)) + "\"", v);
    e.sample("hffs_read_errors_total", r.labels, "cause=\"all\"", r.r->read_errors);
  }
}

void render_http(Emitter& e, const std::string& m, const hubapi::HubStats& h) {
  e.family("hffs_http_requests_total", "counter", "HTTP requests sent, by kind.");
  e.sample("hffs_http_requests_total", m, "kind=\"api\"", h.api_requests);
  e.sample("hffs_http_requests_total", m, "kind=\"resolve\"", h.resolve_requests);
  e.sample("hffs_http_requests_total", m, "kind=\"data\"", h.data_requests);
  e.family("hffs_http_retries_total", "counter", "HTTP attempts retried after 408/429/5xx or a lost connection.");
  e.sample("hffs_http_retries_total", m, "", h.retries);
  e.family("hffs_network_bytes_total", "counter", "Body bytes received by data requests.");
  e.sample("hffs_network_bytes_total", m, "", h.bytes_received);
  e.family("hffs_http_errors_total", "counter", "Operations that failed after all retries.");
  e.sample("hffs_http_errors_total", m, "", h.errors);
  e.family("hffs_http_downgrades_refused_total", "counter",
           "Redirects from https to plain http refused (see --allow-http-redirect).");
  e.sample("hffs_http_downgrades_refused_total", m, "", h.http_downgrades_refused);
}

// The endpoints of the client, in preference order, and the requests moved between them.
void render_endpoints(Emitter& e, const std::string& m, const hubapi::HubStats& h) {
  auto ep = [](const std::string& url) { return "endpoint=\"" + esc(url) + "\""; };
  e.family("hffs_endpoint_up", "gauge",
           "1 while the endpoint is healthy, 0 while it is put aside after a host failure (probed in the background).");
  for (const auto& x : h.endpoints) e.sample("hffs_endpoint_up", m, ep(x.url), x.up ? 1 : 0);
  e.family("hffs_endpoint_serving", "gauge", "1 for the endpoint new requests go to first.");
  for (const auto& x : h.endpoints) e.sample("hffs_endpoint_serving", m, ep(x.url), x.serving ? 1 : 0);
  e.family("hffs_endpoint_sends_token", "gauge",
           "1 if requests to the endpoint carry the token (0: no token, or --no-token-endpoint).");
  for (const auto& x : h.endpoints) e.sample("hffs_endpoint_sends_token", m, ep(x.url), x.sends_token ? 1 : 0);
  e.family("hffs_endpoint_failures_total", "counter",
           "Host failures seen (connect/TLS errors, timeouts, stalls, 5xx, 429 beyond its Retry-After budget).");
  for (const auto& x : h.endpoints) e.sample("hffs_endpoint_failures_total", m, ep(x.url), x.failures);
  e.family("hffs_endpoint_bytes_total", "counter",
           "File bytes received from the endpoint (and from the data hosts it redirected to).");
  for (const auto& x : h.endpoints) e.sample("hffs_endpoint_bytes_total", m, ep(x.url), x.bytes);
  e.family("hffs_endpoint_site_cache_bytes_total", "counter",
           "Of those, what a site cache (deploy/site-cache) labelled: cache=\"hit\" served from its disk, "
           "cache=\"miss\" fetched from (or waited on) its upstream. 0 for an endpoint that is no site cache.");
  for (const auto& x : h.endpoints) {
    e.sample("hffs_endpoint_site_cache_bytes_total", m, ep(x.url) + ",cache=\"hit\"", x.site_cache_hit_bytes);
    e.sample("hffs_endpoint_site_cache_bytes_total", m, ep(x.url) + ",cache=\"miss\"", x.site_cache_miss_bytes);
  }
  e.family("hffs_endpoint_down_info", "gauge", "Why an endpoint is put aside: one series while it is down.");
  for (const auto& x : h.endpoints)
    if (!x.up) e.sample("hffs_endpoint_down_info", m, ep(x.url) + ",error=\"" + esc(x.last_error) + "\"", 1);
  e.family("hffs_endpoint_failovers_total", "counter", "Requests moved from one endpoint to another.");
  for (const auto& f : h.failovers)
    e.sample("hffs_endpoint_failovers_total", m, "from=\"" + esc(f.from) + "\",to=\"" + esc(f.to) + "\"", f.count);
}

}  // namespace

RepoMetrics repo_metrics(std::string repo, const fs::Filesystem& f) {
  RepoMetrics r;
  r.repo = std::move(repo);
  r.revision = f.config().revision;
  r.commit = f.commit();
  r.view = PartialView{f.config().subfolder, {f.config().include, f.config().exclude}}.describe();
  const auto& s = f.stats();
  r.view_switches = s.view_switches.load();
  r.refresh_checks = s.refresh_checks.load();
  r.refresh_failures = s.refresh_failures.load();
  r.reads = s.reads.load();
  r.hf_cache_bytes = s.local_bytes.load();
  r.spliced_bytes = s.spliced_bytes.load();
  r.passthrough_opens = s.passthrough_pins.load();
  for (size_t i = 1; i < s.errors_by_code.size(); ++i)
    if (uint64_t v = s.errors_by_code[i].load()) r.errors_by_cause.emplace_back(static_cast<Errc>(i), v);
  r.read_errors = s.read_errors.load();
  r.prefetch = f.prefetch_stats();
  return r;
}

std::string render_metrics(const MountMetrics& mount) {
  const auto& repos = mount.repos;
  Emitter e;
  const std::string m = "mount=\"" + esc(mount.mountpoint) + "\"";
  std::vector<Repo> rs;
  for (const auto& r : repos) rs.push_back({mount.hub ? m + ",repo=\"" + esc(r.repo) + "\"" : m, &r});
  e.family("hffs_info", "gauge", "The mounted repository, revision, commit and endpoint.");
  for (const auto& r : repos)
    e.sample("hffs_info", m,
             "repo=\"" + esc(r.repo) + "\",revision=\"" + esc(r.revision) + "\",commit=\"" + esc(r.commit) +
                 "\",endpoint=\"" + esc(mount.endpoint) + "\"" + (r.view.empty() ? "" : ",view=\"" + esc(r.view) + "\""),
             1);
  const auto& cs = mount.cache;
  render_repo_families(e, rs, m, cs);
  e.family("hffs_view_switches_total", "counter", "Switches to a new commit of the followed branch (--refresh).");
  for (const auto& r : rs) e.sample("hffs_view_switches_total", r.labels, "", r.r->view_switches);
  e.family("hffs_refresh_checks_total", "counter", "Checks of the followed branch, by result (failed: the current view is kept).");
  for (const auto& r : rs) {
    e.sample("hffs_refresh_checks_total", r.labels, "result=\"all\"", r.r->refresh_checks);
    e.sample("hffs_refresh_checks_total", r.labels, "result=\"failed\"", r.r->refresh_failures);
  }
  e.family("hffs_cache_fetches_total", "counter", "Block cache misses fetched from the origin.");
  e.sample("hffs_cache_fetches_total", m, "", cs.fetches);
  e.family("hffs_cache_waits_total", "counter", "Readers that waited for a fetch already in flight.");
  e.sample("hffs_cache_waits_total", m, "", cs.waits);
  e.family("hffs_verify_total", "counter",
           "Whole-file checks against the tree's sha256 / git sha1, by result (refetch: a mismatch fetched "
           "again from a fresh location; failed: a second mismatch, the file answers EIO for a while).");
  e.sample("hffs_verify_total", m, "result=\"ok\"", cs.verified_files);
  e.sample("hffs_verify_total", m, "result=\"mismatch\"", cs.corrupt_files);
  e.sample("hffs_verify_total", m, "result=\"refetch\"", cs.verify_refetches);
  e.sample("hffs_verify_total", m, "result=\"failed\"", cs.verify_failures);
  render_errors(e, rs);
  if (mount.http) {
    render_http(e, m, *mount.http);
    render_endpoints(e, m, *mount.http);
  }
  e.family("hffs_process_dumpable", "gauge",
           "1 if the daemon could leave a core dump or be ptraced by its user (it should be 0: it holds the token).");
  e.sample("hffs_process_dumpable", m, "", static_cast<uint64_t>(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)));
  e.family("hffs_prefetch_parts_total", "counter", "Read-ahead parts issued and failed.");
  for (const auto& r : rs) {
    e.sample("hffs_prefetch_parts_total", r.labels, "result=\"issued\"", r.r->prefetch.parts_issued);
    e.sample("hffs_prefetch_parts_total", r.labels, "result=\"failed\"", r.r->prefetch.parts_failed);
  }
  return e.str();
}

std::vector<std::pair<std::string, double>> parse_metrics_in_order(const std::string& text) {
  std::vector<std::pair<std::string, double>> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    out.emplace_back(line.substr(0, sp), std::atof(line.c_str() + sp + 1));
  }
  return out;
}

std::map<std::string, double> parse_metrics(const std::string& text) {
  std::map<std::string, double> out;
  for (auto& [k, v] : parse_metrics_in_order(text)) out[k] = v;
  return out;
}

std::map<std::string, std::string> parse_labels(const std::string& series) {
  std::map<std::string, std::string> out;
  size_t i = series.find('{');
  if (i == std::string::npos) return out;
  ++i;
  while (i < series.size() && series[i] != '}') {
    size_t eq = series.find("=\"", i);
    if (eq == std::string::npos) break;
    std::string name = series.substr(i, eq - i), value;
    for (i = eq + 2; i < series.size() && series[i] != '"'; ++i) {
      if (series[i] == '\\' && i + 1 < series.size()) {
        ++i;
        value.push_back(series[i] == 'n' ? '\n' : series[i]);
      } else {
        value.push_back(series[i]);
      }
    }
    out[name] = std::move(value);
    ++i;                                          // the closing quote
    if (i < series.size() && series[i] == ',') ++i;
  }
  return out;
}

void scrub_secret(hubapi::HubStats& h, const std::string& secret) {
  if (secret.empty()) return;
  for (auto& e : h.endpoints)
    for (size_t p; (p = e.last_error.find(secret)) != std::string::npos;)
      e.last_error.replace(p, secret.size(), "<token>");
}

MetricsWriter::MetricsWriter(std::optional<std::string> path, std::function<std::string()> render)
    : path_(std::move(path)), render_(std::move(render)) {
  if (path_) thread_ = std::thread([this] { loop(); });
}

MetricsWriter::~MetricsWriter() {
  if (!path_) return;
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  write();
}

void MetricsWriter::loop() {
  std::unique_lock lk(mu_);
  while (!stop_) {
    lk.unlock();
    write();
    lk.lock();
    cv_.wait_for(lk, std::chrono::seconds(10), [&] { return stop_; });
  }
}

void MetricsWriter::write() {
  std::string tmp = *path_ + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << render_();
  }
  std::rename(tmp.c_str(), path_->c_str());
}

}  // namespace hffs::cli
