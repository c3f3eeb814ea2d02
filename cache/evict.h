// Eviction and cleanup of (data, map) pairs shared with other processes. The caller holds
// evict.lock (one evictor per cache directory). See docs/CACHE.md "Bound and eviction".
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>

#include "cache/usage.h"

namespace hffs::cache {

struct EvictTotals {
  uint64_t bytes = 0, blocks = 0, files_removed = 0, busy_blocks = 0, punched_bytes = 0;
};

// What one evict_pair call does.
struct EvictPass {
  const std::function<bool()>& enough;  // stop evicting once it says so
  bool remove_empty = false;            // delete a pair left with no block
  bool punch_unmarked = false;          // free the space of absent blocks (written, never marked)
};

// Evicts blocks of one pair, lowest index first, until `pass.enough()` says stop. A block is only
// touched under its OFD lock taken without waiting (a block being fetched is skipped, counted
// busy); the drop generation is bumped before the first map byte is cleared, the hole punched
// after, so a concurrent reader of a present block re-reads instead of serving the hole.
// With `remove_empty`, a pair left with no block is deleted (retired flag, map, then data, under
// layout.lock). With `punch_unmarked`, space of absent blocks (written, never marked) is freed.
// Adds what it did to `t`.
void evict_pair(const MapEntry& e, uint32_t block_size, UsageFile& usage, const EvictPass& pass, EvictTotals& t);

// Least recently used pairs first (map mtime), until `enough()`.
EvictTotals evict_lru(const std::filesystem::path& root, uint32_t block_size, UsageFile& usage,
                      const std::function<bool()>& enough);

}  // namespace hffs::cache
