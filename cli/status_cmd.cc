// `hffs status [MOUNTPOINT]`: every hffs mount of this machine (or one), with its counters read
// from the mount root's user.hffs.metrics attribute.
#include <sys/xattr.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/metrics.h"

namespace hffs::cli {

namespace {

std::vector<std::string> hffs_mounts() {
  std::vector<std::string> out;
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream ss(line);
    std::string id, parent, dev, root, mp, tok, fstype;
    ss >> id >> parent >> dev >> root >> mp;
    while (ss >> tok && tok != "-") {
    }
    ss >> fstype;
    if (fstype == "fuse.hffs") out.push_back(mp);
  }
  return out;
}

std::string human(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", b, units[u]);
  return buf;
}

double sum_prefix(const std::map<std::string, double>& m, const std::string& prefix) {
  double s = 0;
  for (const auto& [k, v] : m)
    if (k.rfind(prefix, 0) == 0) s += v;
  return s;
}

std::string label(const std::string& key, const std::string& name) {
  auto p = key.find(name + "=\"");
  if (p == std::string::npos) return "";
  p += name.size() + 2;
  return key.substr(p, key.find('"', p) - p);
}

}  // namespace

int cmd_status(const StatusArgs& a) {
  std::vector<std::string> mps = a.mountpoint.empty() ? hffs_mounts() : std::vector<std::string>{a.mountpoint};
  if (mps.empty()) {
    std::cout << "no hffs mounts\n";
    return kExitOk;
  }
  int rc = kExitOk;
  for (const auto& mp : mps) {
    std::string text(1 << 16, '\0');
    ssize_t n = ::getxattr(mp.c_str(), "user.hffs.metrics", text.data(), text.size());
    if (n < 0) {
      int err = errno;
      std::cout << mp << ": " << (err == ENOTCONN ? "DEAD (daemon gone): run 'hffs umount " + mp + "'"
                                                  : std::string("not an hffs mount (") + std::strerror(err) + ")")
                << "\n";
      rc = kExitMountpoint;
      continue;
    }
    text.resize(static_cast<size_t>(n));
    if (a.prometheus) {
      std::cout << text;
      continue;
    }
    auto m = parse_metrics(text);
    std::string info;
    for (const auto& [k, v] : m)
      if (k.rfind("hffs_info{", 0) == 0) info = k;
    double net = sum_prefix(m, "hffs_read_bytes_total{mount=\"" + mp + "\",source=\"network\"}");
    double cache = sum_prefix(m, "hffs_read_bytes_total{mount=\"" + mp + "\",source=\"block_cache\"}") +
                   sum_prefix(m, "hffs_read_bytes_total{mount=\"" + mp + "\",source=\"hf_cache\"}");
    std::cout << mp << "\n"
              << "  repo:       " << label(info, "repo") << " @ " << label(info, "revision") << " ("
              << label(info, "commit") << ")\n"
              << "  endpoint:   " << label(info, "endpoint") << "\n"
              << "  from network: " << human(net) << ", from cache: " << human(cache) << ", hit rate: "
              << (net + cache > 0 ? static_cast<int>(100.0 * cache / (net + cache)) : 0) << "%\n";
    // Reads of files handed to the kernel never reach the daemon, so the bytes above miss them.
    if (double pt = sum_prefix(m, "hffs_passthrough_opens_total{mount=\"" + mp + "\"}"); pt > 0)
      std::cout << "  passthrough: " << pt << " open(s) of complete cached files read by the kernel directly"
                << " (their bytes are not counted above)\n";
    std::cout << "  requests:   api " << sum_prefix(m, "hffs_http_requests_total{mount=\"" + mp + "\",kind=\"api\"}")
              << ", resolve " << sum_prefix(m, "hffs_http_requests_total{mount=\"" + mp + "\",kind=\"resolve\"}")
              << ", data " << sum_prefix(m, "hffs_http_requests_total{mount=\"" + mp + "\",kind=\"data\"}")
              << ", retries " << sum_prefix(m, "hffs_http_retries_total") << "\n"
              << "  errors:    ";
    bool any = false;
    for (const auto& [k, v] : m) {
      if (k.rfind("hffs_read_errors_total", 0) != 0 || label(k, "cause") == "all") continue;
      std::cout << " " << label(k, "cause") << "=" << v;
      any = true;
    }
    std::cout << (any ? "" : " none") << "\n";
  }
  return rc;
}

}  // namespace hffs::cli
