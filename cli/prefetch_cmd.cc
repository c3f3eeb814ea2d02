// `hffs prefetch REPO [PATTERN...]`: pin the revision, list the tree and fetch every matching
// file into the block cache (the same cache a mount reads through), without mounting. Afterwards
// a mount of that revision serves those files without the network, also --offline.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cache/block_cache.h"
#include "cli/commands.h"
#include "cli/format.h"
#include "cli/hf_cache.h"
#include "cli/hub_setup.h"
#include "cli/path_filter.h"
#include "cli/session.h"
#include "fs/filesystem.h"
#include "hubapi/hub_client.h"

namespace hffs::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct Part {
  size_t file;  // index into the file list
  uint64_t offset, len;
};

// The files that match the patterns, and the parts of them still to fetch.
struct Plan {
  std::vector<const fs::Inode*> files;
  std::set<uint64_t> local;  // inodes the HF cache has: served from there, nothing to fetch
  std::vector<Part> parts;
  uint64_t total = 0, cached = 0, local_bytes = 0;
};

Plan plan(const PrefetchArgs& a, const PathFilter& filter, const fs::Namespace& ns,
          std::set<uint64_t> local, cache::BlockCache& cache) {
  Plan pl;
  pl.local = std::move(local);
  const uint64_t part = uint64_t{a.part_mib} << 20;
  for (uint64_t ino = 1; ino <= ns.inode_count(); ++ino) {
    const fs::Inode* n = ns.get(ino);
    if (n->is_dir) continue;
    if (!filter.matches(ns.path_of(*n))) continue;
    pl.files.push_back(n);
    pl.total += n->size;
    if (pl.local.count(ino)) {
      pl.local_bytes += n->size;
      continue;
    }
    const cache::FileRef ref = ns.file_ref(*n);
    for (uint64_t off = 0; off < n->size; off += part) {
      uint64_t len = std::min(part, n->size - off);
      if (cache.contains(ref, off, len)) {
        pl.cached += len;
      } else {
        pl.parts.push_back({pl.files.size() - 1, off, len});
      }
    }
  }
  return pl;
}

// Progress on stderr while the parts are fetched: a bar on a terminal (every 200 ms), else a
// line every 5 s; nothing with --quiet. Stops (and clears the bar) when destroyed.
class Progress {
 public:
  Progress(const std::atomic<uint64_t>& done, uint64_t total, bool quiet)
      : done_(done), total_(total), quiet_(quiet), tty_(::isatty(2) && !quiet) {
    thread_ = std::thread([this] { loop(); });
  }
  ~Progress() {
    {
      std::lock_guard lk(mu_);
      finished_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void loop() {
    const uint64_t start_done = done_.load();
    auto start = Clock::now();
    auto last_line = start;
    std::unique_lock lk(mu_);
    while (!finished_) {
      cv_.wait_for(lk, std::chrono::milliseconds(tty_ ? 200 : 1000), [&] { return finished_; });
      if (finished_ || quiet_) continue;
      auto now = Clock::now();
      double el = std::chrono::duration<double>(now - start).count();
      uint64_t d = done_.load();
      double rate = el > 0 ? static_cast<double>(d - start_done) / el : 0;
      double eta = rate > 0 ? static_cast<double>(total_ - d) / rate : 0;
      int pct = total_ ? static_cast<int>(100.0 * static_cast<double>(d) / static_cast<double>(total_)) : 100;
      std::string eta_s = rate > 0 ? format_seconds(eta) : "-";
      if (tty_) {
        const int w = 30;
        std::string bar(static_cast<size_t>(w * pct / 100), '#');
        bar.resize(w, '.');
        std::fprintf(stderr, "\r[%s] %3d%% %s / %s  %s  ETA %s   ", bar.c_str(), pct, format_bytes(d).c_str(),
                     format_bytes(total_).c_str(), format_rate(rate).c_str(), eta_s.c_str());
        std::fflush(stderr);
      } else if (now - last_line >= std::chrono::seconds(5)) {
        last_line = now;
        std::fprintf(stderr, "prefetch: %d%% %s of %s, %s, ETA %s\n", pct, format_bytes(d).c_str(),
                     format_bytes(total_).c_str(), format_rate(rate).c_str(), eta_s.c_str());
      }
    }
    if (tty_) std::fprintf(stderr, "\r%*s\r", 80, "");
  }

  const std::atomic<uint64_t>& done_;
  const uint64_t total_;
  const bool quiet_, tty_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool finished_ = false;
  std::thread thread_;
};

// Fetches the plan's parts with `jobs` workers, adding each fetched part to `done`. Returns why
// each file failed ("" if it did not); after a file's first failure its other parts are skipped.
std::vector<std::string> fetch_parts(fs::Filesystem& f, const Plan& pl, unsigned jobs, std::atomic<uint64_t>& done) {
  std::mutex mu;
  std::vector<std::string> failures(pl.files.size());
  std::atomic<size_t> next{0};
  std::vector<std::thread> workers;
  unsigned nworkers = std::max(1u, std::min<unsigned>(jobs, static_cast<unsigned>(pl.parts.size())));
  for (unsigned i = 0; i < nworkers && !pl.parts.empty(); ++i) {
    workers.emplace_back([&] {
      for (size_t k; (k = next.fetch_add(1)) < pl.parts.size();) {
        const Part& p = pl.parts[k];
        {
          std::lock_guard lk(mu);
          if (!failures[p.file].empty()) continue;  // the file already failed: do not insist
        }
        Status s = f.warm(pl.files[p.file]->ino, p.offset, p.len);
        if (!s) {
          std::lock_guard lk(mu);
          if (failures[p.file].empty()) failures[p.file] = s.to_string();
          continue;
        }
        done += p.len;
      }
    });
  }
  for (auto& w : workers) w.join();
  return failures;
}

}  // namespace

int cmd_prefetch(const PrefetchArgs& a) {
  auto logger = spdlog::stderr_color_mt("hffs-prefetch");
  logger->set_level(spdlog::level::warn);
  spdlog::set_default_logger(logger);

  auto repo = parse_repo_cli(a.repo, a.repo_type);
  if (!repo) {
    std::cerr << "hffs: " << repo.status().message() << "\n";
    return kExitUsage;
  }
  SessionOptions so;
  so.hub = a;
  so.cache_dir = a.cache_dir;
  so.publish_hf_cache = a.publish_hf_cache;
  so.prefetch.enabled = false;  // parts are fetched below, by `jobs` workers
  auto opened = Session::open(so);
  if (!opened.session) {
    std::cerr << "hffs: " << opened.failure.message << "\n";
    return opened.failure.code;
  }
  const Session& session = *opened.session;
  if (a.token)
    std::cerr << "hffs: warning: --token was visible to other local users (ps) until hffs started; prefer HF_TOKEN\n";
  cache::BlockCache& cache = session.cache();
  HfPublisher* publisher = session.publisher();
  auto t0 = Clock::now();
  auto m = session.open_repo(*repo, a.revision);
  if (!m) {
    Failure why = session.repo_failure(m.status(), *repo, a.revision, "prefetch");
    std::cerr << "hffs: " << why.message << "\n";
    return why.code;
  }
  fs::Filesystem& f = *m->fs;
  const fs::Namespace& ns = f.ns();

  PathFilter filter{a.patterns, a.exclude};
  filter.include.insert(filter.include.end(), a.include.begin(), a.include.end());
  const auto& include = filter.include;
  std::set<uint64_t> local;
  for (auto& [ino, p] : find_hf_cache_copies(session.env().hub_cache, *repo, f.config().commit, ns)) local.insert(ino);
  Plan pl = plan(a, filter, ns, std::move(local), cache);
  const auto& files = pl.files;
  if (files.empty()) {
    std::cerr << "hffs: no file of " << hubapi::repo_display(*repo) << "@" << a.revision << " matches"
              << (include.empty() ? std::string() : " the given patterns") << "\n";
    return kExitUsage;
  }

  const uint64_t miss0 = cache.stats().miss_bytes;
  std::atomic<uint64_t> done{pl.cached + pl.local_bytes};
  std::vector<std::string> failures;
  {
    Progress progress(done, pl.total, a.quiet);
    failures = fetch_parts(f, pl, a.jobs, done);
    cache.quiesce();  // complete files are verified (and handed to the publisher)
    if (publisher) publisher->drain();
  }

  for (size_t i = 0; i < files.size(); ++i) {
    const fs::Inode* n = files[i];
    const cache::FileRef ref = ns.file_ref(*n);
    if (failures[i].empty() && !pl.local.count(n->ino) && n->size && !cache.contains(ref, 0, n->size))
      failures[i] = "not cached after the fetch (content that did not verify was dropped, or the cache is too small)";
  }
  size_t errors = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    if (failures[i].empty()) continue;
    ++errors;
    std::cerr << "hffs: " << ns.path_of(*files[i]) << ": " << failures[i] << "\n";
  }
  auto st = cache.stats();
  double el = std::chrono::duration<double>(Clock::now() - t0).count();
  std::cout << "prefetched " << hubapi::repo_display(*repo) << "@" << f.config().commit.substr(0, 12) << ": "
            << (files.size() - errors) << "/" << files.size() << " files, " << format_bytes(pl.total) << "; fetched "
            << format_bytes(st.miss_bytes - miss0) << ", already cached "
            << format_bytes(pl.cached + pl.local_bytes) << ", in " << format_seconds(el) << "; "
            << errors << (errors == 1 ? " error" : " errors") << (st.corrupt_files ? ", corrupt content refetched" : "")
            << "\n";
  return errors ? kExitError : kExitOk;
}

}  // namespace hffs::cli
