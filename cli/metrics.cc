#include "cli/metrics.h"

#include <sys/prctl.h>

#include <sstream>

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
}  // namespace

std::string render_metrics(const MountIdentity& id, const fs::Filesystem& fs, const cache::BlockCache& cache,
                           const hubapi::HubClient* hub) {
  std::ostringstream o;
  std::string m = "mount=\"" + esc(id.mountpoint) + "\"";
  auto metric = [&](const char* name, const char* type, const char* help) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  };
  metric("hffs_info", "gauge", "The mounted repository, revision, commit and endpoint.");
  o << "hffs_info{" << m << ",repo=\"" << esc(id.repo) << "\",revision=\"" << esc(id.revision) << "\",commit=\""
    << esc(id.commit) << "\",endpoint=\"" << esc(id.endpoint) << "\"} 1\n";
  const auto& s = fs.stats();
  auto cs = cache.stats();
  metric("hffs_read_requests_total", "counter", "Read requests served to the kernel.");
  o << "hffs_read_requests_total{" << m << "} " << s.reads.load() << "\n";
  metric("hffs_read_bytes_total", "counter", "Bytes returned to readers, by where they came from.");
  uint64_t local = s.local_bytes.load();
  o << "hffs_read_bytes_total{" << m << ",source=\"hf_cache\"} " << local << "\n";
  o << "hffs_read_bytes_total{" << m << ",source=\"block_cache\"} " << cs.hit_bytes << "\n";
  o << "hffs_read_bytes_total{" << m << ",source=\"network\"} " << cs.miss_bytes << "\n";
  metric("hffs_read_spliced_bytes_total", "counter",
         "Block-cache bytes answered by splicing the cache file's pages (no copy in the daemon).");
  o << "hffs_read_spliced_bytes_total{" << m << "} " << s.spliced_bytes.load() << "\n";
  metric("hffs_passthrough_opens_total", "counter",
         "Opens of fully local files handed to the kernel to read directly (FUSE passthrough).");
  o << "hffs_passthrough_opens_total{" << m << "} " << s.passthrough_pins.load() << "\n";
  metric("hffs_cache_fetches_total", "counter", "Block cache misses fetched from the origin.");
  o << "hffs_cache_fetches_total{" << m << "} " << cs.fetches << "\n";
  metric("hffs_cache_waits_total", "counter", "Readers that waited for a fetch already in flight.");
  o << "hffs_cache_waits_total{" << m << "} " << cs.waits << "\n";
  metric("hffs_verify_total", "counter",
         "Whole-file checks against the tree's sha256 / git sha1, by result (refetch: a mismatch fetched "
         "again from a fresh location; failed: a second mismatch, the file answers EIO for a while).");
  o << "hffs_verify_total{" << m << ",result=\"ok\"} " << cs.verified_files << "\n";
  o << "hffs_verify_total{" << m << ",result=\"mismatch\"} " << cs.corrupt_files << "\n";
  o << "hffs_verify_total{" << m << ",result=\"refetch\"} " << cs.verify_refetches << "\n";
  o << "hffs_verify_total{" << m << ",result=\"failed\"} " << cs.verify_failures << "\n";
  metric("hffs_read_errors_total", "counter", "Reads that failed, by cause.");
  for (size_t i = 1; i < s.errors_by_code.size(); ++i) {
    uint64_t v = s.errors_by_code[i].load();
    if (v) o << "hffs_read_errors_total{" << m << ",cause=\"" << errc_name(static_cast<Errc>(i)) << "\"} " << v << "\n";
  }
  o << "hffs_read_errors_total{" << m << ",cause=\"all\"} " << s.read_errors.load() << "\n";
  if (hub) {
    auto h = hub->stats();
    metric("hffs_http_requests_total", "counter", "HTTP requests sent, by kind.");
    o << "hffs_http_requests_total{" << m << ",kind=\"api\"} " << h.api_requests << "\n";
    o << "hffs_http_requests_total{" << m << ",kind=\"resolve\"} " << h.resolve_requests << "\n";
    o << "hffs_http_requests_total{" << m << ",kind=\"data\"} " << h.data_requests << "\n";
    metric("hffs_http_retries_total", "counter", "HTTP attempts retried after 408/429/5xx or a lost connection.");
    o << "hffs_http_retries_total{" << m << "} " << h.retries << "\n";
    metric("hffs_network_bytes_total", "counter", "Body bytes received by data requests.");
    o << "hffs_network_bytes_total{" << m << "} " << h.bytes_received << "\n";
    metric("hffs_http_errors_total", "counter", "Operations that failed after all retries.");
    o << "hffs_http_errors_total{" << m << "} " << h.errors << "\n";
    metric("hffs_http_downgrades_refused_total", "counter", "Redirects from https to plain http refused (see --allow-http-redirect).");
    o << "hffs_http_downgrades_refused_total{" << m << "} " << h.http_downgrades_refused << "\n";
  }
  metric("hffs_process_dumpable", "gauge",
         "1 if the daemon could leave a core dump or be ptraced by its user (it should be 0: it holds the token).");
  o << "hffs_process_dumpable{" << m << "} " << ::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) << "\n";
  auto p = fs.prefetch_stats();
  metric("hffs_prefetch_parts_total", "counter", "Read-ahead parts issued and failed.");
  o << "hffs_prefetch_parts_total{" << m << ",result=\"issued\"} " << p.parts_issued << "\n";
  o << "hffs_prefetch_parts_total{" << m << ",result=\"failed\"} " << p.parts_failed << "\n";
  return o.str();
}

std::map<std::string, double> parse_metrics(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    out[line.substr(0, sp)] = std::atof(line.c_str() + sp + 1);
  }
  return out;
}

}  // namespace hffs::cli
