// This BlockCache instance's counters (CacheStats is their snapshot). Private to cache/.
#pragma once
#include <atomic>
#include <cstdint>

#include "cache/block_cache.h"

namespace hffs::cache {

struct Counters {
  std::atomic<uint64_t> hit_bytes{0}, miss_bytes{0}, fetches{0}, waits{0}, shared_bytes{0}, write_errors{0},
      lock_waits{0}, verified_files{0}, corrupt_files{0}, evicted_bytes{0}, evictions{0}, unkept_bytes{0},
      verify_refetches{0}, verify_failures{0};
};

inline CacheStats snapshot(const Counters& c) {
  auto ld = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  CacheStats s;
  s.hit_bytes = ld(c.hit_bytes);
  s.miss_bytes = ld(c.miss_bytes);
  s.fetches = ld(c.fetches);
  s.waits = ld(c.waits);
  s.shared_bytes = ld(c.shared_bytes);
  s.write_errors = ld(c.write_errors);
  s.lock_waits = ld(c.lock_waits);
  s.verified_files = ld(c.verified_files);
  s.corrupt_files = ld(c.corrupt_files);
  s.evicted_bytes = ld(c.evicted_bytes);
  s.evictions = ld(c.evictions);
  s.unkept_bytes = ld(c.unkept_bytes);
  s.verify_refetches = ld(c.verify_refetches);
  s.verify_failures = ld(c.verify_failures);
  return s;
}

inline void bump(std::atomic<uint64_t>& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }

}  // namespace hffs::cache
