// The parts of one open cache directory, shared by BlockCache (the read path, block_cache.cc) and
// CacheMaintenance (maintenance.cc). Private to cache/.
//
// Lock order: docs/ARCHITECTURE.md "Lock order", item 5 (the one list for the whole daemon). In
// short: VerifyFirst's per-key mutex and a run's OFD lock are the only locks held across a fetch.
#pragma once
#include <filesystem>
#include <memory>

#include "cache/block_cache.h"
#include "cache/counters.h"
#include "cache/disk_store.h"
#include "cache/read_path.h"
#include "cache/single_flight.h"
#include "cache/space.h"
#include "cache/usage.h"
#include "cache/verifier.h"
#include "cache/verify_first.h"

namespace hffs::cache {

struct CacheCore {
  // Opens (creating if missing) the layout under cfg.dir and its usage file. `maintenance`: the
  // bound defaults to the one a running process recorded (Space::record_bound).
  static Result<std::unique_ptr<CacheCore>> open(const CacheConfig& cfg, bool maintenance);
  CacheCore(const CacheConfig& cfg, std::filesystem::path root, std::unique_ptr<UsageFile> usage, bool maintenance);
  CacheCore(const CacheCore&) = delete;
  CacheCore& operator=(const CacheCore&) = delete;

  CacheConfig cfg;  // statfs set
  std::filesystem::path root;  // <dir>/hffs-v1
  OpenFiles files;
  std::unique_ptr<UsageFile> usage;
  Counters c;
  SingleFlight flights;
  Space space;
  ReadPath reads;
  VerifyFirst whole;
  Verifier verifier;  // last: its thread stops before the rest goes away
};

}  // namespace hffs::cache
