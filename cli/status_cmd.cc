// `hffs status [MOUNTPOINT]`: every hffs mount of this machine (or one), with its counters read
// from the mount root's user.hffs.metrics attribute.
#include <sys/xattr.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/endpoint_status.h"
#include "cli/format.h"
#include "cli/metrics.h"
#include "cli/mountpoint.h"

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
    if (fstype == "fuse.hffs") out.push_back(unescape_mountinfo(mp));
  }
  return out;
}

std::string label(const std::string& key, const std::string& name) {
  auto labels = parse_labels(key);
  auto it = labels.find(name);
  return it == labels.end() ? std::string() : it->second;
}

// The mount root's metrics text, however long it is (a --hub mount grows with its repos).
// Negative errno when it cannot be read.
int read_metrics(const std::string& mp, std::string* text) {
  for (size_t size = 1 << 16;; size *= 2) {
    text->assign(size, '\0');
    ssize_t n = ::getxattr(mp.c_str(), "user.hffs.metrics", text->data(), text->size());
    if (n >= 0) {
      text->resize(static_cast<size_t>(n));
      return 0;
    }
    if (errno != ERANGE || size >= (64u << 20)) return -errno;
  }
}

// The series of metric `name` in one mount's metrics text (the attribute of its root holds that
// mount's series only: no filter on the mount label, which is the daemon's realpath and need not
// be the path the user gave). With `label_filter` ("kind=api"), only series with that label value.
// A --hub mount has one series per repo for what is each repo's own and one for what its repos
// share, so a sum over every series is the mount's total either way (cli/metrics.h).
struct Series {
  const std::map<std::string, double>& m;
  template <typename F>
  void each(const std::string& name, const std::string& label_filter, F&& f) const {
    std::string lname, lval;
    if (auto eq = label_filter.find('='); eq != std::string::npos) {
      lname = label_filter.substr(0, eq);
      lval = label_filter.substr(eq + 1);
    }
    for (const auto& [k, v] : m) {
      if (k.rfind(name + "{", 0) != 0) continue;
      if (!lname.empty() && label(k, lname) != lval) continue;
      f(k, v);
    }
  }
  double sum(const std::string& name, const std::string& label_filter = "") const {
    double s = 0;
    each(name, label_filter, [&](const std::string&, double v) { s += v; });
    return s;
  }
};

}  // namespace

int cmd_status(const StatusArgs& a) {
  // Absolute as the daemon labels its series (lexically: resolving would hang on a wedged mount).
  std::vector<std::string> mps =
      a.mountpoint.empty() ? hffs_mounts()
                           : std::vector<std::string>{std::filesystem::absolute(a.mountpoint).lexically_normal().string()};
  for (auto& mp : mps)
    if (mp.size() > 1 && mp.back() == '/') mp.pop_back();
  if (mps.empty()) {
    std::cout << "no hffs mounts\n";
    return kExitOk;
  }
  int rc = kExitOk;
  for (const auto& mp : mps) {
    std::string text;
    if (int n = read_metrics(mp, &text); n < 0) {
      int err = -n;
      if (err == EACCES) {
        // Another user's mount without allow_other (FUSE lets only its owner in, root included):
        // listed, not a failure of `hffs status` over every mount.
        std::cout << mp << ": another user's mount (not mounted with allow_other)\n";
        if (!a.mountpoint.empty()) rc = kExitMountpoint;
        continue;
      }
      std::cout << mp << ": " << (err == ENOTCONN ? "DEAD (daemon gone): run 'hffs umount " + mp + "'"
                                                  : std::string("not an hffs mount (") + std::strerror(err) + ")")
                << "\n";
      rc = kExitMountpoint;
      continue;
    }
    if (a.prometheus) {
      std::cout << text;
      continue;
    }
    // Every number is read live: the daemon renders the attribute when it is asked.
    auto m = parse_metrics(text);
    Series s{m};
    std::vector<std::string> infos;
    s.each("hffs_info", "", [&](const std::string& k, double) { infos.push_back(k); });
    double net = s.sum("hffs_read_bytes_total", "source=network");
    double cache = s.sum("hffs_read_bytes_total", "source=block_cache") + s.sum("hffs_read_bytes_total", "source=hf_cache");
    std::cout << mp << "\n";
    for (const auto& info : infos)
      std::cout << "  repo:       " << label(info, "repo") << " @ " << label(info, "revision") << " ("
                << label(info, "commit") << ")\n"
                << (label(info, "view").empty() ? "" : "  view:       " + label(info, "view") + "\n");
    if (infos.empty()) std::cout << "  repos:      none opened yet\n";
    std::cout << endpoint_status(text, infos.empty() ? std::string("-") : label(infos.front(), "endpoint"));
    std::cout << "  from network: " << format_bytes(static_cast<uint64_t>(net))
              << ", from cache: " << format_bytes(static_cast<uint64_t>(cache)) << ", hit rate: "
              << (net + cache > 0 ? static_cast<int>(100.0 * cache / (net + cache)) : 0) << "%\n";
    // Reads of files handed to the kernel never reach the daemon, so the bytes above miss them.
    if (double pt = s.sum("hffs_passthrough_opens_total"); pt > 0)
      std::cout << "  passthrough: " << pt << " open(s) of complete cached files read by the kernel directly"
                << " (their bytes are not counted above)\n";
    std::cout << "  requests:   api " << s.sum("hffs_http_requests_total", "kind=api") << ", resolve "
              << s.sum("hffs_http_requests_total", "kind=resolve") << ", data "
              << s.sum("hffs_http_requests_total", "kind=data") << ", retries "
              << s.sum("hffs_http_retries_total") << "\n"
              << "  errors:    ";
    std::map<std::string, double> causes;
    s.each("hffs_read_errors_total", "", [&](const std::string& k, double v) {
      if (label(k, "cause") != "all") causes[label(k, "cause")] += v;
    });
    for (const auto& [cause, v] : causes) std::cout << " " << cause << "=" << v;
    std::cout << (causes.empty() ? " none" : "") << "\n";
  }
  return rc;
}

}  // namespace hffs::cli
