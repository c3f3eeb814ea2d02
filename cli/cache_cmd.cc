// `hffs cache stats|verify|gc|clear [--cache-dir DIR]`: inspect and maintain the block cache
// directory, safely while mounts are using it (see docs/CACHE.md).
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

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

// How `stats` names where the bound comes from.
std::string bound_note(const cache::CacheUsage& u) {
  switch (u.bound_from) {
    case cache::BoundFrom::kConfig: return "";
    case cache::BoundFrom::kMount: return " (--cache-size of a running mount, pid " + std::to_string(u.bound_pid) + ")";
    case cache::BoundFrom::kDefault: break;
  }
  return " (default; no running mount set --cache-size)";
}

// Parses a size option given on the command line into `out`; false, with the message printed, if
// it is not a size. An option not given leaves `out` alone.
bool parse_size_option(const std::optional<std::string>& text, const char* flag, cache::SizeSpec& out) {
  if (!text) return true;
  auto s = cache::parse_size(*text);
  if (!s) {
    std::cerr << "hffs cache: " << flag << ": " << s.status().message() << "\n";
    return false;
  }
  out = *s;
  return true;
}

// How the directory is opened: with the block size it was created with, and the bound and floor
// of the command line. False, with the message printed, on a bad size.
bool cache_config(const CacheArgs& a, const std::filesystem::path& dir, const Result<cache::CacheFormat>& fmt,
                  cache::CacheConfig& cc) {
  cc.dir = dir;
  // A format file that is not one is reported by open.
  if (fmt && fmt->block_size > 0 && fmt->block_size <= (1u << 30)) cc.block_size = static_cast<uint32_t>(fmt->block_size);
  return parse_size_option(a.cache_size, "--cache-size", cc.max_size) &&
         parse_size_option(a.cache_min_free, "--cache-min-free", cc.min_free);
}

int cache_stats(cache::CacheMaintenance& c) {
  auto u = c.usage();
  if (!u) {
    std::cerr << "hffs cache: " << u.status().message() << "\n";
    return kExitCache;
  }
  std::cout << "cached: " << format_bytes_exact(u->bytes) << "\n";
  std::cout << "files: " << u->files << " (" << u->complete_files << " complete, " << u->verified_files
            << " verified)\n";
  std::cout << "blocks: " << u->blocks << " of " << format_bytes_exact(c.block_size()) << "\n";
  std::cout << "on disk: " << format_bytes_exact(u->disk_bytes) << "\n";
  std::cout << "unverified: " << format_bytes_exact(u->unverified_bytes)
            << " (cached blocks of files not yet verified whole; `hffs cache verify --complete` checks them)\n";
  if (u->counted_bytes != u->bytes)
    std::cout << "counted: " << format_bytes_exact(u->counted_bytes) << " (drifted; `hffs cache gc` recounts)\n";
  std::cout << "bound: " << format_bytes_exact(u->max_bytes) << bound_note(*u) << "\n";
  std::cout << "free-space floor: " << format_bytes_exact(u->min_free_bytes) << "\n";
  std::cout << "filesystem: " << format_bytes_exact(u->fs.avail) << " free of " << format_bytes_exact(u->fs.total)
            << "\n";
  uint64_t total = u->hit_bytes + u->miss_bytes;
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.1f%%", total ? 100.0 * static_cast<double>(u->hit_bytes) / static_cast<double>(total) : 0.0);
  std::cout << "hit rate: " << rate << " (" << format_bytes_exact(u->hit_bytes) << " from cache, "
            << format_bytes_exact(u->miss_bytes) << " fetched, all processes)\n";
  std::cout << "evicted: " << format_bytes_exact(u->evicted_bytes) << "\n";
  return kExitOk;
}

// Exit 1 if corruption was found, 8 if some files could not be checked.
int cache_verify(cache::CacheMaintenance& c, const CacheArgs& a, const std::filesystem::path& dir) {
  // With --complete, what incomplete files miss comes from the Hub, for the files a kept view
  // names (with the size it names); both live until verify_all returns.
  std::unique_ptr<hubapi::HubClient> client;
  std::unordered_map<std::string, ContentOrigin> origins;
  cache::CacheMaintenance::SourceFor source_for;
  std::string from;  // the endpoints fetched from, for the report
  if (a.complete) {
    HubArgs ho;
    ho.endpoint = a.endpoint;
    auto hub = make_hub_config(ho, read_hf_env());
    if (!hub) {
      std::cerr << "hffs cache: " << hub.status().message() << "\n";
      return kExitUsage;
    }
    from = describe(hub->endpoints);
    client = std::make_unique<hubapi::HubClient>(hub->config);
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
  if (a.complete)
    std::cout << "completed: " << v->completed << " incomplete files fetched (from " << from << ") and checked\n";
  std::cout << "incomplete: " << v->incomplete << " (skipped: " << format_bytes_exact(v->unverified_bytes)
            << " cached but unverified"
            << (a.complete ? "; no kept view names them, or the fetch failed" : "; --complete fetches the rest and verifies")
            << ")\n";
  if (v->errors) std::cout << "errors: " << v->errors << " (could not be checked)\n";
  if (v->corrupt) return kExitError;
  return v->errors ? kExitCache : kExitOk;
}

// The last line of gc and clear.
void print_cached_now(cache::CacheMaintenance& c) {
  auto u = c.usage();
  if (u) std::cout << "cached now: " << format_bytes_exact(u->bytes) << " in " << u->files << " files\n";
}

int cache_gc(cache::CacheMaintenance& c) {
  auto r = c.gc();
  if (!r) {
    std::cerr << "hffs cache: " << r.status().message() << "\n";
    return kExitCache;
  }
  std::cout << "temp files removed: " << r->temp_files << "\n";
  std::cout << "orphan maps removed: " << r->orphan_maps << "\n";
  std::cout << "orphan data files removed: " << r->orphan_data << "\n";
  std::cout << "empty entries removed: " << r->empty_files << "\n";
  std::cout << "unmarked space freed: " << format_bytes_exact(r->punched_bytes) << "\n";
  std::cout << "usage recount correction: " << r->usage_drift << " bytes\n";
  std::cout << "evicted to the bound: " << format_bytes_exact(r->evicted_bytes) << "\n";
  print_cached_now(c);
  return kExitOk;
}

int cache_clear(cache::CacheMaintenance& c) {
  auto r = c.clear();
  if (!r) {
    std::cerr << "hffs cache: " << r.status().message() << "\n";
    return kExitCache;
  }
  std::cout << "removed: " << format_bytes_exact(r->evicted_bytes) << " in " << r->empty_files << " files\n";
  if (r->busy_blocks)
    std::cout << "kept: " << r->busy_blocks << " blocks in use right now (being fetched, or open for passthrough; run again later)\n";
  print_cached_now(c);
  return kExitOk;
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
  if (!cache_config(a, dir, fmt, cc)) return kExitUsage;
  auto opened = cache::CacheMaintenance::open(cc);
  if (!opened) {
    std::cerr << "hffs cache: cannot use cache directory " << dir.string() << ": " << opened.status().message() << "\n";
    return kExitCache;
  }
  cache::CacheMaintenance& c = **opened;
  std::cout << "cache directory: " << dir.string() << "\n";
  if (a.action == "stats") return cache_stats(c);
  if (a.action == "verify") return cache_verify(c, a, dir);
  if (a.action == "gc") return cache_gc(c);
  if (a.action == "clear") return cache_clear(c);
  std::cerr << "hffs cache: unknown action '" << a.action << "' (stats, verify, gc, clear)\n";
  return kExitUsage;
}

}  // namespace hffs::cli
