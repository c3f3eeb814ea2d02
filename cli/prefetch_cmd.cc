// `hffs prefetch REPO [PATTERN...]`: pin the revision, list the tree and fetch every matching
// file into the block cache (the same cache a mount reads through), without mounting. Afterwards
// a mount of that revision serves those files without the network, also --offline.
#include <fnmatch.h>
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
#include "cli/env.h"
#include "cli/hub_setup.h"
#include "cli/hf_cache.h"
#include "cli/hf_publish.h"
#include "cli/repo_opener.h"
#include "cli/snapshot_store.h"
#include "fs/filesystem.h"
#include "hubapi/hub_client.h"

namespace hffs::cli {

namespace {

using Clock = std::chrono::steady_clock;

// As huggingface_hub's filter_repo_objects (`hf download --include/--exclude`): fnmatch on the
// whole repo path, `*` also matches '/', a pattern ending in '/' means everything below.
bool glob_match(std::string pattern, const std::string& path) {
  if (!pattern.empty() && pattern.back() == '/') pattern += "*";
  return ::fnmatch(pattern.c_str(), path.c_str(), 0) == 0;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) {
    b /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

std::string human_secs(double s) {
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600, (static_cast<int>(s) / 60) % 60);
  }
  return buf;
}

int exit_code_for(Errc c) {
  switch (c) {
    case Errc::kRepoNotFound: return kExitRepoNotFound;
    case Errc::kRevisionNotFound: return kExitRevisionNotFound;
    case Errc::kGated:
    case Errc::kUnauthorized:
    case Errc::kForbidden: return kExitAccess;
    case Errc::kNetwork:
    case Errc::kTimeout:
    case Errc::kServer:
    case Errc::kRateLimited:
    case Errc::kOffline: return kExitNetwork;
    default: return kExitError;
  }
}

struct Part {
  size_t file;  // index into the file list
  uint64_t offset, len;
};

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
  HfEnv env = read_hf_env();
  auto hcr = make_hub_config({a.endpoint, a.token, std::nullopt, std::nullopt, a.op_deadline_s}, env, nullptr);
  if (!hcr) {
    std::cerr << "hffs: " << hcr.status().message() << "\n";
    return kExitUsage;
  }
  const hubapi::HubConfig& hc = *hcr;
  if (a.token)
    std::cerr << "hffs: warning: --token was visible to other local users (ps) until hffs started; prefer HF_TOKEN\n";
  hubapi::HubClient client(hc);

  std::filesystem::path cache_dir = a.cache_dir ? std::filesystem::path(*a.cache_dir) : env.default_cache_dir();
  cache::CacheConfig cc;
  cc.dir = cache_dir;
  cc.verify = cache::VerifyMode::kAuto;
  std::unique_ptr<HfPublisher> publisher;  // before the cache: its verifier calls into it
  if (a.publish_hf_cache) {
    publisher = std::make_unique<HfPublisher>(env.hub_cache, cache_dir);
    cc.on_verified = [p = publisher.get()](const cache::FileRef& f) { p->on_verified(f); };
  }
  auto cache = cache::BlockCache::open(cc);
  if (!cache) {
    std::cerr << "hffs: cannot use cache directory " << cache_dir.string() << ": " << cache.status().message()
              << " (choose another with --cache-dir)\n";
    return kExitCache;
  }
  SnapshotStore views(cache_dir);
  OpenContext ctx;
  ctx.client = env.offline ? nullptr : &client;
  ctx.views = &views;
  ctx.cache = cache->get();
  ctx.hub_cache = env.hub_cache;
  ctx.publish = publisher.get();
  ctx.uid = ::getuid();
  ctx.gid = ::getgid();
  ctx.prefetch.enabled = false;
  auto t0 = Clock::now();
  auto m = open_repo_view(ctx, *repo, a.revision);
  if (!m) {
    std::cerr << "hffs: cannot open " << hubapi::repo_display(*repo) << "@" << a.revision << " at " << hc.endpoint
              << ": " << m.status().to_string() << "\n";
    return exit_code_for(m.status().code());
  }
  fs::Filesystem& f = *m->fs;
  const fs::Namespace& ns = f.ns();

  std::vector<std::string> include = a.patterns;
  include.insert(include.end(), a.include.begin(), a.include.end());
  std::set<uint64_t> local;
  for (auto& [ino, p] : find_hf_cache_copies(env.hub_cache, *repo, f.config().commit, ns)) local.insert(ino);

  std::vector<const fs::Inode*> files;
  uint64_t total = 0, cached = 0, local_bytes = 0;
  std::vector<Part> parts;
  const uint64_t part = uint64_t{a.part_mib} << 20;
  for (uint64_t ino = 1; ino <= ns.inode_count(); ++ino) {
    const fs::Inode* n = ns.get(ino);
    if (n->is_dir) continue;
    bool in = include.empty();
    for (const auto& p : include) in = in || glob_match(p, n->path);
    for (const auto& p : a.exclude) in = in && !glob_match(p, n->path);
    if (!in) continue;
    files.push_back(n);
    total += n->size;
    if (local.count(ino)) {
      local_bytes += n->size;
      continue;
    }
    const cache::FileRef ref = n->file_ref();
    for (uint64_t off = 0; off < n->size; off += part) {
      uint64_t len = std::min(part, n->size - off);
      if ((*cache)->contains(ref, off, len)) {
        cached += len;
      } else {
        parts.push_back({files.size() - 1, off, len});
      }
    }
  }
  if (files.empty()) {
    std::cerr << "hffs: no file of " << hubapi::repo_display(*repo) << "@" << a.revision << " matches"
              << (include.empty() ? std::string() : " the given patterns") << "\n";
    return kExitUsage;
  }

  std::atomic<uint64_t> done{cached + local_bytes};
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::vector<std::string> failures(files.size());
  const uint64_t miss0 = (*cache)->stats().miss_bytes;

  bool tty = ::isatty(2) && !a.quiet;
  std::thread progress([&] {
    const uint64_t start_done = done.load();
    auto start = Clock::now();
    auto last_line = start;
    std::unique_lock lk(mu);
    while (!finished) {
      cv.wait_for(lk, std::chrono::milliseconds(tty ? 200 : 1000), [&] { return finished; });
      if (finished || a.quiet) continue;
      auto now = Clock::now();
      double el = std::chrono::duration<double>(now - start).count();
      uint64_t d = done.load();
      double rate = el > 0 ? static_cast<double>(d - start_done) / el : 0;
      double eta = rate > 0 ? static_cast<double>(total - d) / rate : 0;
      int pct = total ? static_cast<int>(100.0 * static_cast<double>(d) / static_cast<double>(total)) : 100;
      if (tty) {
        const int w = 30;
        std::string bar(static_cast<size_t>(w * pct / 100), '#');
        bar.resize(w, '.');
        std::fprintf(stderr, "\r[%s] %3d%% %s / %s  %s/s  ETA %s   ", bar.c_str(), pct, human_bytes(d).c_str(),
                     human_bytes(total).c_str(), human_bytes(rate).c_str(), rate > 0 ? human_secs(eta).c_str() : "-");
        std::fflush(stderr);
      } else if (now - last_line >= std::chrono::seconds(5)) {
        last_line = now;
        std::fprintf(stderr, "prefetch: %d%% %s of %s, %s/s, ETA %s\n", pct, human_bytes(d).c_str(),
                     human_bytes(total).c_str(), human_bytes(rate).c_str(), rate > 0 ? human_secs(eta).c_str() : "-");
      }
    }
    if (tty) std::fprintf(stderr, "\r%*s\r", 80, "");
  });

  std::vector<std::thread> workers;
  unsigned nworkers = std::max(1u, std::min<unsigned>(a.jobs, static_cast<unsigned>(parts.size())));
  for (unsigned i = 0; i < nworkers && !parts.empty(); ++i) {
    workers.emplace_back([&] {
      for (size_t k; (k = next.fetch_add(1)) < parts.size();) {
        const Part& p = parts[k];
        {
          std::lock_guard lk(mu);
          if (!failures[p.file].empty()) continue;  // the file already failed: do not insist
        }
        Status s = f.warm(files[p.file]->ino, p.offset, p.len);
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
  (*cache)->quiesce();  // complete files are verified (and handed to the publisher)
  if (publisher) publisher->drain();
  {
    std::lock_guard lk(mu);
    finished = true;
  }
  cv.notify_all();
  progress.join();

  for (size_t i = 0; i < files.size(); ++i) {
    const fs::Inode* n = files[i];
    const cache::FileRef ref = n->file_ref();
    if (failures[i].empty() && !local.count(n->ino) && n->size && !(*cache)->contains(ref, 0, n->size))
      failures[i] = "not cached after the fetch (content that did not verify was dropped, or the cache is too small)";
  }
  size_t errors = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    if (failures[i].empty()) continue;
    ++errors;
    std::cerr << "hffs: " << files[i]->path << ": " << failures[i] << "\n";
  }
  auto st = (*cache)->stats();
  double el = std::chrono::duration<double>(Clock::now() - t0).count();
  std::cout << "prefetched " << hubapi::repo_display(*repo) << "@" << f.config().commit.substr(0, 12) << ": "
            << (files.size() - errors) << "/" << files.size() << " files, " << human_bytes(total) << "; fetched "
            << human_bytes(static_cast<double>(st.miss_bytes - miss0)) << ", already cached "
            << human_bytes(static_cast<double>(cached + local_bytes)) << ", in " << human_secs(el) << "; "
            << errors << (errors == 1 ? " error" : " errors") << (st.corrupt_files ? ", corrupt content refetched" : "")
            << "\n";
  return errors ? kExitError : kExitOk;
}

}  // namespace hffs::cli
