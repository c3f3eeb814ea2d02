// Cache-wide shared state: the usage file (counters every process updates through a MAP_SHARED
// mapping), the lock files, and listing of the entries on disk. See docs/CACHE.md.
//
//   <root>/usage       4096 bytes: char[8] "HFFSUSE1", then u64 counters (host byte order),
//                      updated with atomic read-modify-writes on the shared mapping.
//   <root>/evict.lock  flock: one evictor / gc / clear at a time across processes.
//   <root>/layout.lock flock: shared while a process opens or creates a (data, map) pair, exclusive
//                      while one is deleted, so nobody pairs a new map with a dying data file.
#pragma once
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "common/status.h"

namespace hffs::cache {

enum class UsageSlot : int {
  kPresentBytes = 1,  // bytes of blocks marked present or verified (the bounded quantity)
  kHitBytes = 2,      // cumulative, all processes
  kMissBytes = 3,
  kEvictedBytes = 4,
  kEvictedBlocks = 5,
  // The bound (bytes) a running process was told to enforce (`--cache-size`), and that process's
  // pid: `hffs cache stats` shows it (0: none recorded). Last writer wins.
  kBoundBytes = 6,
  kBoundPid = 7,
};

class UsageFile {
 public:
  // Opens <root>/usage; when missing (or not a usage file) builds it from a recount of the maps
  // (recount_present) under a temp name and publishes it without replacing a concurrent creator's.
  static Result<std::unique_ptr<UsageFile>> open(const std::filesystem::path& root, uint32_t block_size);
  ~UsageFile();
  UsageFile(const UsageFile&) = delete;
  UsageFile& operator=(const UsageFile&) = delete;

  uint64_t get(UsageSlot s) const;
  void add(UsageSlot s, uint64_t n);
  void sub(UsageSlot s, uint64_t n);  // saturates at 0 (a drifted counter never wraps)
  void adjust(UsageSlot s, int64_t delta);
  void set(UsageSlot s, uint64_t v);
  // Sets `s` to `v` if it holds `expected`; false otherwise.
  bool replace(UsageSlot s, uint64_t expected, uint64_t v);

  // The layout under `root` was removed and recreated (restore_layout): every UsageFile of this
  // process on `root` switches to the usage file now there (created from a recount if missing),
  // so the bound is enforced on what the directory holds, not on what the removed one held.
  static Status reopen_all(const std::filesystem::path& root, uint32_t block_size);

 private:
  UsageFile(std::filesystem::path root, UniqueFd fd, uint64_t* base);
  static Result<std::pair<UniqueFd, uint64_t*>> map_file(const std::filesystem::path& root, uint32_t block_size);
  uint64_t* base() const { return base_.load(std::memory_order_acquire); }
  std::filesystem::path root_;
  std::atomic<uint64_t*> base_;
  std::mutex mu_;                                          // guards the retired mappings
  std::vector<std::pair<UniqueFd, uint64_t*>> replaced_;  // unmapped only by the destructor (readers may hold one)
  UniqueFd fd_;
};

// One (data, map) pair found on disk.
struct MapEntry {
  std::string key;
  std::filesystem::path map, data;
  uint64_t nblocks = 0;       // from the map's length
  struct timespec mtime {};   // the map's mtime: last use, for LRU
};
// Every "<key>.map" under <root>/data with a valid key, in no particular order.
std::vector<MapEntry> list_maps(const std::filesystem::path& root);
// Present bytes of one pair, read with pread (no mmap): 0 when it cannot be read.
uint64_t present_bytes_of(const MapEntry& e, uint32_t block_size);
// Sum over list_maps.
uint64_t recount_present(const std::filesystem::path& root, uint32_t block_size);

// flock on a fresh open of `path` (created if missing); released by the destructor. A fresh open
// per guard: threads of one process exclude each other too.
class FileLock {
 public:
  FileLock(const std::filesystem::path& path, bool exclusive, bool wait);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  bool locked() const { return locked_; }
  void unlock();

 private:
  UniqueFd fd_;
  bool locked_ = false;
};

inline std::filesystem::path evict_lock_path(const std::filesystem::path& root) { return root / "evict.lock"; }
inline std::filesystem::path layout_lock_path(const std::filesystem::path& root) { return root / "layout.lock"; }

}  // namespace hffs::cache
