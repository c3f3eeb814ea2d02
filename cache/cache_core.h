// The parts of one open cache directory, shared by BlockCache (the read path, block_cache.cc) and
// CacheMaintenance (maintenance.cc). Private to cache/.
//
// Lock order (outer to inner), over every part; no in-process mutex is held across I/O or a fetch
// except VerifyFirst's per-key mutex (verify_first.h), which is held across a whole file's fill:
//   0. VerifyFirst's per-key mutex (a file being filled to be verified before it is served)
//   1. single-flight claims on (key, block), taken in block order by the reading thread
//      (claims are not mutexes; a thread never waits on another's flight while it still leads one)
//   2. the OFD range lock on the claimed blocks' map bytes (one range at a time, never nested;
//      held across the fetch of the run from the source)
//   3. evict.lock (flock; waited for by a storer that must make room, so under 2), then other
//      blocks' OFD locks taken without waiting (try_lock), then layout.lock (exclusive, to delete a pair)
//   4. layout.lock shared (opening/creating a pair: nothing else is taken while it is held)
//   5. CacheFile::hash.mu (the stream hash; only try_lock'ed under 2; under it a drop takes the
//      file's OFD locks, never waiting on 1)
//   6. leaf mutexes, held for a few instructions only: single-flight shard, Flight state, OpenFiles
//      LRU, verifier queue / epochs, Space limits, VerifyFirst table, UsageFile's retired mappings.
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
