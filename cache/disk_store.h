// Per-content-key files on disk (sparse data file + block map) and a bounded LRU of open ones.
#pragma once
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include <tsl/robin_map.h>

#include "cache/block_cache.h"
#include "cache/block_map.h"
#include "cache/cache_dir.h"
#include "common/fd.h"
#include "common/sha.h"

namespace hffs::cache {

// One cached file, open: data fd + mmapped map. Shared by readers; closed when the last
// reference goes (possibly after eviction from the LRU).
struct CacheFile {
  std::string key;
  HashKind kind = HashKind::kSha256;
  uint64_t size = 0;
  uint32_t block_size = 0;
  uint64_t nblocks = 0;
  KeyPaths paths;
  UniqueFd data_fd;
  std::unique_ptr<BlockMap> map;
  std::atomic<uint64_t> scan_hint{0};          // blocks below are known present (in this process)
  std::atomic<uint32_t> hint_gen{0};           // map generation scan_hint was computed at
  std::atomic<int64_t> last_touch_ms{0};       // steady clock of the last map->touch()
  std::atomic<bool> verify_pending{false};     // a completion check is queued
  std::atomic<uint64_t> verified_gen{0};       // 1 + the generation at which every block was verified
  // The stream hash (cache/verifier.h): bytes [0, off) of the content, hashed as they were read
  // from the cache file or offered (fetched or served from memory). Guarded by mu; off is also read
  // without it, as a hint.
  struct StreamHash {
    std::mutex mu;
    std::unique_ptr<ContentHasher> h;
    std::atomic<uint64_t> off{0};
    uint32_t start_gen = 0;  // drop generation when the hash began
    bool exact = true;       // every byte hashed was read from the cache file
    int retries = 0;         // seqlock retries of the current pass
    HashKind kind = HashKind::kSha256;
  } hash;

  uint64_t block_offset(uint64_t b) const { return b * block_size; }
  uint64_t block_len(uint64_t b) const;        // block_size, or less for the last block
  bool all_present();                           // advances scan_hint
  bool blocks_present(uint64_t first, uint64_t last) const { return map->present_range(first, last); }
  // Whole-range positional I/O; errors are errno_status (short reads of a sparse file are kIo).
  Status pread_all(std::span<char> out, uint64_t offset) const;
  Status pwrite_all(std::span<const char> in, uint64_t offset) const;
};

uint64_t block_count(uint64_t size, uint32_t block_size);

// A failure of OpenFiles::get(ref, create=true) that only means "this run cannot be kept" (the
// cache directory was removed, its filesystem is full, read-only, out of quota or refuses us):
// the caller serves the read from its source through memory and keeps nothing.
bool cannot_keep(const Status& s);

class OpenFiles {
 public:
  OpenFiles(std::filesystem::path root, uint32_t block_size, size_t capacity)
      : root_(std::move(root)), block_size_(block_size), capacity_(capacity ? capacity : 1) {}
  // The open file for `ref`, opening (and with `create`, creating) it on a miss. Without
  // `create` a file that is not in the cache is kEntryNotFound. Never holds the table mutex
  // across a syscall.
  // A retired handle (its pair was deleted) is replaced by a fresh open.
  Result<std::shared_ptr<CacheFile>> get(const FileRef& ref, bool create);
  // Drops `f` from the table if it is still the entry for its key.
  void forget(const std::shared_ptr<CacheFile>& f);
  const std::filesystem::path& root() const { return root_; }

 private:
  Result<std::shared_ptr<CacheFile>> open_file(const FileRef& ref, bool create);
  Result<std::shared_ptr<CacheFile>> get_once(const FileRef& ref, bool create);
  // mkdir of a shard directory; when the layout above it is gone, recreates it first (at most
  // once a second).
  int make_shard_dir(const std::filesystem::path& dir);
  // One log line when files stop being kept, and per change of cause; one when they are again.
  void note_create(const Status& s);

  std::filesystem::path root_;
  uint32_t block_size_;
  size_t capacity_;
  std::mutex mu_;  // guards lru_ and index_; leaf lock
  std::list<std::shared_ptr<CacheFile>> lru_;  // front = most recent
  tsl::robin_map<std::string, std::list<std::shared_ptr<CacheFile>>::iterator> index_;
  std::atomic<int64_t> last_restore_ms_{0};
  std::atomic<bool> failing_{false};  // fast path: nothing to report while creation works
  std::mutex cond_mu_;                // guards cond_; leaf lock
  std::string cond_;                  // cause of the current failure to create ("" = none)
};

}  // namespace hffs::cache
