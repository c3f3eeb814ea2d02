#include "cli/endpoint_status.h"

#include <cstdint>
#include <sstream>
#include <vector>

#include "cli/format.h"
#include "cli/metrics.h"

namespace hffs::cli {

namespace {

struct Endpoint {
  std::string url, error;
  bool up = true, serving = false, token = true;
  uint64_t failures = 0;
  uint64_t bytes = 0, site_hit = 0, site_miss = 0;
};

std::string label(const std::string& series, const std::string& name) {
  auto labels = parse_labels(series);
  auto it = labels.find(name);
  return it == labels.end() ? std::string() : it->second;
}

}  // namespace

std::string endpoint_status(const std::string& metrics_text, const std::string& fallback) {
  std::vector<Endpoint> eps;
  std::vector<std::string> failovers;
  bool any_token = false;
  auto find = [&eps](const std::string& url) -> Endpoint& {
    for (auto& e : eps)
      if (e.url == url) return e;
    Endpoint& e = eps.emplace_back();
    e.url = url;
    return e;
  };
  for (const auto& [k, v] : parse_metrics_in_order(metrics_text)) {
    const std::string name = k.substr(0, k.find('{'));
    if (name == "hffs_endpoint_failovers_total") {
      if (v > 0)
        failovers.push_back(label(k, "from") + " -> " + label(k, "to") + ": " +
                            std::to_string(static_cast<uint64_t>(v)));
      continue;
    }
    if (name.rfind("hffs_endpoint_", 0) != 0) continue;
    Endpoint& e = find(label(k, "endpoint"));
    if (name == "hffs_endpoint_up") e.up = v != 0;
    if (name == "hffs_endpoint_serving") e.serving = v != 0;
    if (name == "hffs_endpoint_sends_token") any_token |= (e.token = v != 0);
    if (name == "hffs_endpoint_failures_total") e.failures = static_cast<uint64_t>(v);
    if (name == "hffs_endpoint_down_info") e.error = label(k, "error");
    if (name == "hffs_endpoint_bytes_total") e.bytes = static_cast<uint64_t>(v);
    if (name == "hffs_endpoint_site_cache_bytes_total")
      (label(k, "cache") == "hit" ? e.site_hit : e.site_miss) = static_cast<uint64_t>(v);
  }
  std::ostringstream out;
  if (eps.empty()) {
    out << "  endpoint:   " << fallback << "\n";
    return out.str();
  }
  const bool one = eps.size() == 1;
  for (size_t i = 0; i < eps.size(); ++i) {
    const Endpoint& e = eps[i];
    std::vector<std::string> notes;
    if (!one || !e.up) notes.push_back(e.up ? "up" : "down (" + (e.error.empty() ? "host failure" : e.error) + ")");
    if (!one && e.serving) notes.push_back("serving");
    if (!one || e.failures > 0)
      notes.push_back(std::to_string(e.failures) + (e.failures == 1 ? " failure" : " failures"));
    // Only worth saying when the token goes somewhere else (--no-token-endpoint).
    if (any_token && !e.token) notes.push_back("no token");
    // Where the bytes came from: per endpoint when there are several, and whether a site cache
    // had them on its disk or fetched them from the Hub for this node.
    if (e.site_hit + e.site_miss > 0)
      notes.push_back(format_bytes(e.bytes) + " received (site cache: " + format_bytes(e.site_hit) +
                      " hit, " + format_bytes(e.site_miss) + " miss)");
    else if (!one && e.bytes > 0)
      notes.push_back(format_bytes(e.bytes) + " received");
    out << (i == 0 ? (one ? "  endpoint:   " : "  endpoints:  ") : "              ") << e.url;
    for (size_t n = 0; n < notes.size(); ++n) out << (n == 0 ? "  " : ", ") << notes[n];
    out << "\n";
  }
  for (size_t i = 0; i < failovers.size(); ++i)
    out << (i == 0 ? "  failovers:  " : "              ") << failovers[i] << "\n";
  return out.str();
}

}  // namespace hffs::cli
