// Prometheus text exposition of one mount's counters. The same text is the mount root's
// user.hffs.metrics attribute, the --metrics-file, and what `hffs status` reads.
//
// Every series carries mount="<mountpoint>". What belongs to one repo (reads served, errors,
// read-ahead, bytes from the HF cache) comes once per repo; a --hub mount serves many and adds
// repo="<org/name>@<rev>" to those. What the repos of a mount share (the block cache, the HTTP
// client, the process) comes once, without a repo label: summing a metric over every series of a
// mount gives the mount's total.
#pragma once
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <utility>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cache/block_cache.h"
#include "fs/filesystem.h"
#include "hubapi/hub_client.h"

namespace hffs::cli {

// One repo's own counters, copied out of its Filesystem (a --hub mount may release the repo
// right after: the numbers must not point into it).
struct RepoMetrics {
  std::string repo;  // "org/name" (a --hub mount: "org/name@rev", its repo label)
  std::string revision, commit;
  std::string view;  // a partial view: "subfolder=onnx include=*.json" (cli/partial_view.h); "" = whole
  uint64_t reads = 0, hf_cache_bytes = 0, spliced_bytes = 0, passthrough_opens = 0, read_errors = 0;
  uint64_t view_switches = 0, refresh_checks = 0, refresh_failures = 0;  // following a branch
  std::vector<std::pair<Errc, uint64_t>> errors_by_cause;  // the causes seen (count > 0)
  fs::PrefetchStats prefetch;
};
RepoMetrics repo_metrics(std::string repo, const fs::Filesystem& f);

// A snapshot of a mount's counters: its repos' own, and those the repos share.
struct MountMetrics {
  std::string mountpoint, endpoint;  // endpoint: the preferred one (hffs_info); the list is in http
  bool hub = false;  // per-repo series carry a repo label
  std::vector<RepoMetrics> repos;
  cache::CacheStats cache;               // the block cache every repo of the mount reads through
  std::optional<hubapi::HubStats> http;  // the one HTTP client (none when offline)
};

std::string render_metrics(const MountMetrics& m);

// name{labels} -> value, for the sample lines of a Prometheus text (comments skipped).
std::map<std::string, double> parse_metrics(const std::string& text);
// The same in the order of the text (the endpoint series come in preference order).
std::vector<std::pair<std::string, double>> parse_metrics_in_order(const std::string& text);
// The labels of one series name{a="x",b="y"}, values unescaped (the inverse of the rendering).
std::map<std::string, std::string> parse_labels(const std::string& series);

// Replaces `secret` (the token) wherever the client's error texts might hold it: what is rendered
// is readable by every user who can see the mount.
void scrub_secret(hubapi::HubStats& h, const std::string& secret);

// Rewrites the --metrics-file every 10 s (atomically: temp file + rename) and once more when it
// goes away. No path: does nothing.
class MetricsWriter {
 public:
  MetricsWriter(std::optional<std::string> path, std::function<std::string()> render);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;

 private:
  void loop();
  void write();
  std::optional<std::string> path_;
  std::function<std::string()> render_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace hffs::cli
