// Space management of a cache directory: the bound on the bytes kept and the free-space floor
// (CacheConfig::max_size, min_free), room made before a store, and the evictor. Private to cache/.
// See docs/CACHE.md "Bound and eviction".
//
// Locking: lim_mu_ is a leaf. evict.lock (flock, one evictor per directory across processes) is
// taken here; the evictor then takes other blocks' OFD locks without waiting, and layout.lock to
// delete a pair (evict.h). make_room() runs with the storing reader's own run locked.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <mutex>

#include "cache/block_cache.h"
#include "cache/counters.h"
#include "cache/evict.h"
#include "cache/maintenance.h"
#include "cache/usage.h"

namespace hffs::cache {

class Space {
 public:
  // `cfg.statfs` must be set. `use_recorded`: without cfg.max_size, enforce the bound a running
  // process recorded (record_bound) rather than the default (`hffs cache`).
  Space(const CacheConfig& cfg, const std::filesystem::path& root, UsageFile& usage, Counters& c,
        bool use_recorded = false);
  Space(const Space&) = delete;
  Space& operator=(const Space&) = delete;
  ~Space();

  struct Limits {
    uint64_t max = 0;    // the bound
    uint64_t floor = 0;  // the free-space floor
  };
  // Resolves the bound and the floor against the filesystem now (at open, and by gc).
  void compute_limits();
  Limits limits() const;
  BoundFrom bound_from() const;
  pid_t bound_pid() const;  // kMount: the process that recorded the bound

  // Records this instance's bound (cfg.max_size, resolved) and our pid in the usage file, for as
  // long as this Space lives (cleared on destruction unless another process recorded since).
  void record_bound();

  // Before storing `len` bytes: evicts if the bound or the floor would be crossed. False when
  // the floor cannot be kept even so (the bytes are then served without being kept).
  bool make_room(uint64_t len);
  // After a store was counted: evicts (without waiting for another evictor) if it crossed the bound.
  void after_store();
  // Runs eviction now if the bound or the floor is exceeded.
  void enforce_bound();
  // Bytes the free space falls short of floor + len (0: none, or statfs failed).
  uint64_t free_shortfall(uint64_t len, uint64_t floor) const;
  // Evicts down to the low-water mark (and `short_by` more). Caller holds evict.lock.
  EvictTotals evict_locked(uint64_t len, uint64_t short_by);

 private:
  void run_evictor(uint64_t len, uint64_t short_by, bool wait);
  // The bound a live process recorded; 0 if none (or it exited).
  uint64_t recorded_bound(pid_t* pid) const;

  const CacheConfig& cfg_;
  const std::filesystem::path& root_;
  UsageFile& usage_;
  Counters& c_;
  const bool use_recorded_;
  bool recorded_ = false;       // record_bound() wrote our pid
  mutable std::mutex lim_mu_;   // leaf: the four below
  uint64_t max_bytes_ = 0, min_free_ = 0;
  BoundFrom from_ = BoundFrom::kDefault;
  pid_t source_pid_ = 0;
};

}  // namespace hffs::cache
