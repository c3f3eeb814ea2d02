// This BlockCache instance's counters (CacheStats is their snapshot). Private to cache/.
#pragma once
#include <atomic>
#include <cstdint>

namespace hffs::cache {

struct Counters {
  std::atomic<uint64_t> hit_bytes{0}, miss_bytes{0}, fetches{0}, waits{0}, shared_bytes{0}, write_errors{0},
      lock_waits{0}, verified_files{0}, corrupt_files{0}, evicted_bytes{0}, evictions{0}, unkept_bytes{0},
      verify_refetches{0}, verify_failures{0};
};

inline void bump(std::atomic<uint64_t>& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }

}  // namespace hffs::cache
