// What only `hffs cache` (and tests) need of a cache directory: its usage, gc, clear and a
// verification of every file. Kept out of BlockCache so that a mount's cache carries the read
// path only. Every operation is safe while other processes read through the same directory.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <sys/types.h>

#include "cache/block_cache.h"
#include "cache/block_source.h"
#include "common/status.h"

namespace hffs::cache {

// Where CacheUsage::max_bytes comes from.
enum class BoundFrom {
  kDefault,  // nobody set one: 50% of the filesystem, capped by free space (CacheConfig::max_size)
  kConfig,   // the CacheConfig this maintenance was opened with (`hffs cache --cache-size`)
  kMount,    // recorded by a running process that set one (`hffs mount --cache-size`)
};

// The whole cache directory (every process's blocks), from a scan of the maps.
struct CacheUsage {
  uint64_t bytes = 0;           // bytes of present blocks (from the maps)
  uint64_t counted_bytes = 0;   // the shared counter the bound is enforced on (== bytes unless it drifted)
  uint64_t disk_bytes = 0;      // space the data files take on disk (st_blocks)
  uint64_t files = 0;           // (data, map) pairs
  uint64_t complete_files = 0;  // every block present
  uint64_t verified_files = 0;  // every block verified against the content hash
  uint64_t blocks = 0;          // present blocks
  uint64_t unverified_bytes = 0;  // bytes of present blocks not (yet) verified against their file's hash
  uint64_t max_bytes = 0;       // the bound (see bound_from)
  BoundFrom bound_from = BoundFrom::kDefault;
  pid_t bound_pid = 0;          // kMount: the process that recorded it
  uint64_t min_free_bytes = 0;  // the floor this instance enforces
  FsSpace fs;                   // the cache filesystem now
  uint64_t hit_bytes = 0;       // cumulative over all processes (usage file)
  uint64_t miss_bytes = 0;
  uint64_t evicted_bytes = 0;
};

struct VerifyReport {
  uint64_t checked = 0;     // complete files hashed
  uint64_t ok = 0;
  uint64_t corrupt = 0;     // mismatches: their blocks were dropped
  uint64_t incomplete = 0;  // not every block present: skipped (or completed, see verify_all)
  uint64_t unverified_bytes = 0;  // bytes of present blocks not verified (in files still incomplete)
  uint64_t completed = 0;   // incomplete files whose missing blocks were fetched (verify_all with a source)
  uint64_t errors = 0;      // could not be read / changed while hashed
};

struct GcReport {
  uint64_t temp_files = 0;      // leftover temp files of dead processes removed
  uint64_t orphan_maps = 0;     // maps without data (or unreadable maps) removed
  uint64_t orphan_data = 0;     // data files without a map removed
  uint64_t empty_files = 0;     // pairs with no block left removed
  uint64_t punched_bytes = 0;   // space of unmarked blocks (written, never marked) given back
  int64_t usage_drift = 0;      // correction applied to the shared counter
  uint64_t evicted_bytes = 0;   // evicted to get back under the bound
  uint64_t busy_blocks = 0;     // blocks skipped because a reader was fetching them
};

class CacheMaintenance {
 public:
  // Opens the cache under cfg.dir like BlockCache::open (creating it if missing). Without
  // cfg.max_size the bound is the one a running mount recorded (BoundFrom::kMount), else the
  // default; nothing is recorded.
  static Result<std::unique_ptr<CacheMaintenance>> open(const CacheConfig& cfg);
  virtual ~CacheMaintenance() = default;

  virtual uint32_t block_size() const = 0;
  virtual Result<CacheUsage> usage() = 0;
  // Removes leftovers (temp files, maps without data, data without maps, empty pairs, space of
  // written but unmarked blocks), recounts the shared counter and evicts down to the bound.
  virtual Result<GcReport> gc() = 0;
  // Evicts every block and removes every pair, except blocks being fetched at that moment
  // (counted in busy_blocks; their readers are never disturbed). Readers refetch afterwards.
  virtual Result<GcReport> clear() = 0;
  // BlockCache::verify_file for every complete file in the directory; corrupt ones are dropped.
  // Incomplete files are skipped and their unverified bytes counted, unless `source_for` gives a
  // source for the key: then the missing blocks are fetched and the file is verified.
  using SourceFor = std::function<std::unique_ptr<BlockSource>(const FileRef&)>;
  virtual Result<VerifyReport> verify_all(const SourceFor& source_for = {}) = 0;
  // Runs eviction now if the bound or the floor is exceeded (a reader does it before each store).
  virtual void enforce_bound() = 0;
};

}  // namespace hffs::cache
