// `hffs cache stats|verify|gc|clear [--cache-dir DIR]`: inspect and maintain the block cache
// directory, safely while mounts are using it (see docs/CACHE.md).
#include <cinttypes>
#include <cstdio>
#include <iostream>
#include <string>

#include "cache/block_cache.h"
#include "cache/cache_dir.h"
#include "cache/maintenance.h"
#include "cli/commands.h"
#include "cli/env.h"
#include "cli/format.h"
#include "cli/hub_setup.h"
#include "cli/view_sources.h"

namespace hffs::cli {

namespace {

// Sizes as every hffs command prints them (cli/format.h), with the exact count.
std::string human(uint64_t b) { return format_bytes_exact(b); }

// How `stats` names where the bound comes from.
std::string bound_note(const cache::CacheUsage& u) {
  switch (u.bound_from) {
    case cache::BoundFrom::kConfig: return "";
    case cache::BoundFrom::kMount: return " (--cache-size of a running mount, pid " + std::to_string(u.bound_pid) + ")";
    case cache::BoundFrom::kDefault: break;
  }
  return " (default; no running mount set --cache-size)";
}

}  // namespace

int cmd_cache(const CacheArgs& a) {
  std::filesystem::path dir = a.cache_dir ? std::filesystem::path(*a.cache_dir) : read_hf_env().default_cache_dir();
  auto fmt = cache::read_format(dir);
  if (!fmt && fmt.status().code() == Errc::kEntryNotFound) {
    std::cout << "no hffs cache at " << dir.string() << "\n";
    return kExitOk;
  }
  cache::CacheConfig cc;
  cc.dir = dir;
  // The block size the directory was created with; a format file that is not one is reported by open.
  if (fmt && fmt->block_size > 0 && fmt->block_size <= (1u << 30)) cc.block_size = static_cast<uint32_t>(fmt->block_size);
  if (a.cache_size) {
    auto s = cache::parse_size(*a.cache_size);
    if (!s) {
      std::cerr << "hffs cache: --cache-size: " << s.status().message() << "\n";
      return kExitUsage;
    }
    cc.max_size = *s;
  }
  if (a.cache_min_free) {
    auto s = cache::parse_size(*a.cache_min_free);
    if (!s) {
      std::cerr << "hffs cache: --cache-min-free: " << s.status().message() << "\n";
      return kExitUsage;
    }
    cc.min_free = *s;
  }
  auto opened = cache::CacheMaintenance::open(cc);
  if (!opened) {
    std::cerr << "hffs cache: cannot use cache directory " << dir.string() << ": " << opened.status().message() << "\n";
    return kExitCache;
  }
  cache::CacheMaintenance& c = **opened;
  std::cout << "cache directory: " << dir.string() << "\n";

  if (a.action == "stats") {
    auto u = c.usage();
    if (!u) {
      std::cerr << "hffs cache: " << u.status().message() << "\n";
      return kExitCache;
    }
    std::cout << "cached: " << human(u->bytes) << "\n";
    std::cout << "files: " << u->files << " (" << u->complete_files << " complete, " << u->verified_files
              << " verified)\n";
    std::cout << "blocks: " << u->blocks << " of " << human(c.block_size()) << "\n";
    std::cout << "on disk: " << human(u->disk_bytes) << "\n";
    std::cout << "unverified: " << human(u->unverified_bytes)
              << " (cached blocks of files not yet verified whole; `hffs cache verify --complete` checks them)\n";
    if (u->counted_bytes != u->bytes)
      std::cout << "counted: " << human(u->counted_bytes) << " (drifted; `hffs cache gc` recounts)\n";
    std::cout << "bound: " << human(u->max_bytes) << bound_note(*u) << "\n";
    std::cout << "free-space floor: " << human(u->min_free_bytes) << "\n";
    std::cout << "filesystem: " << human(u->fs.avail) << " free of " << human(u->fs.total) << "\n";
    uint64_t total = u->hit_bytes + u->miss_bytes;
    char rate[32];
    std::snprintf(rate, sizeof rate, "%.1f%%", total ? 100.0 * static_cast<double>(u->hit_bytes) / static_cast<double>(total) : 0.0);
    std::cout << "hit rate: " << rate << " (" << human(u->hit_bytes) << " from cache, " << human(u->miss_bytes)
              << " fetched, all processes)\n";
    std::cout << "evicted: " << human(u->evicted_bytes) << "\n";
    return kExitOk;
  }
  if (a.action == "verify") {
    std::unique_ptr<hubapi::HubClient> client;
    std::unordered_map<std::string, ContentOrigin> origins;
    cache::CacheMaintenance::SourceFor source_for;
    if (a.complete) {
      auto hc = make_hub_config({a.endpoint, std::nullopt, std::nullopt, std::nullopt, 60}, read_hf_env(), nullptr);
      if (!hc) {
        std::cerr << "hffs cache: " << hc.status().message() << "\n";
        return kExitUsage;
      }
      client = std::make_unique<hubapi::HubClient>(*hc);
      origins = index_kept_views(dir);
      source_for = [&](const cache::FileRef& f) -> std::unique_ptr<cache::BlockSource> {
        auto it = origins.find(f.key);
        if (it == origins.end() || it->second.size != f.size) return nullptr;
        return hub_file_source(*client, it->second);
      };
    }
    auto v = c.verify_all(source_for);
    if (!v) {
      std::cerr << "hffs cache: " << v.status().message() << "\n";
      return kExitCache;
    }
    std::cout << "checked: " << v->checked << " complete files\n";
    std::cout << "ok: " << v->ok << "\n";
    std::cout << "corrupt: " << v->corrupt << (v->corrupt ? " (dropped; they will be fetched again)" : "") << "\n";
    if (a.complete) std::cout << "completed: " << v->completed << " incomplete files fetched and checked\n";
    std::cout << "incomplete: " << v->incomplete << " (skipped: " << human(v->unverified_bytes)
              << " cached but unverified" << (a.complete ? "; no kept view names them, or the fetch failed" : "; --complete fetches the rest and verifies")
              << ")\n";
    if (v->errors) std::cout << "errors: " << v->errors << " (could not be checked)\n";
    if (v->corrupt) return kExitError;
    return v->errors ? kExitCache : kExitOk;
  }
  if (a.action == "gc" || a.action == "clear") {
    auto r = a.action == "gc" ? c.gc() : c.clear();
    if (!r) {
      std::cerr << "hffs cache: " << r.status().message() << "\n";
      return kExitCache;
    }
    if (a.action == "clear") {
      std::cout << "removed: " << human(r->evicted_bytes) << " in " << r->empty_files << " files\n";
      if (r->busy_blocks)
        std::cout << "kept: " << r->busy_blocks << " blocks in use right now (being fetched, or open for passthrough; run again later)\n";
    } else {
      std::cout << "temp files removed: " << r->temp_files << "\n";
      std::cout << "orphan maps removed: " << r->orphan_maps << "\n";
      std::cout << "orphan data files removed: " << r->orphan_data << "\n";
      std::cout << "empty entries removed: " << r->empty_files << "\n";
      std::cout << "unmarked space freed: " << human(r->punched_bytes) << "\n";
      std::cout << "usage recount correction: " << r->usage_drift << " bytes\n";
      std::cout << "evicted to the bound: " << human(r->evicted_bytes) << "\n";
    }
    auto u = c.usage();
    if (u) std::cout << "cached now: " << human(u->bytes) << " in " << u->files << " files\n";
    return kExitOk;
  }
  std::cerr << "hffs cache: unknown action '" << a.action << "' (stats, verify, gc, clear)\n";
  return kExitUsage;
}

}  // namespace hffs::cli
