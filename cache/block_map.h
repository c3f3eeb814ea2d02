// The per-file block map: `<key>.map` = 16-byte header + one byte per block, mmapped MAP_SHARED so
// every process using the cache sees marks at once. One byte per block (not a bit) so processes
// can mark different blocks without read-modify-write races.
//
//   offset 0  char[8] magic "HFFSMAP1"
//   offset 8  u32     block size (host byte order)
//   offset 12 u32     flags; bit 0 = retired (the pair is being deleted: reopen, store nothing);
//                     bits 8..31 = drop generation (bumped whenever blocks are dropped or evicted)
//   offset 16 u8[n]   per block: 0 absent, 1 present, 2 present and verified (whole-file hash)
//
// Cross-process exclusion for fetching block i is an OFD write lock on byte 16 + i of the file.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>

#include "common/fd.h"
#include "common/status.h"

namespace hffs::cache {

inline constexpr uint8_t kAbsent = 0;
inline constexpr uint8_t kPresent = 1;
inline constexpr uint8_t kVerified = 2;
inline constexpr uint64_t kMapHeaderSize = 16;

class BlockMap {
 public:
  // Opens `path`, creating it atomically (an unnamed or temporary file, linked without replacing)
  // when `create` is set; `absent` (with `create`): the caller expects no map there, so creating
  // is tried before opening. Without `create` a missing map is kEntryNotFound. A map whose header
  // or length does not match (nblocks, block_size) is kCorrupt.
  static Result<std::unique_ptr<BlockMap>> open(const std::filesystem::path& path, uint64_t nblocks,
                                                uint32_t block_size, bool create, bool absent = false);
  ~BlockMap();
  BlockMap(const BlockMap&) = delete;
  BlockMap& operator=(const BlockMap&) = delete;

  uint64_t nblocks() const { return nblocks_; }
  bool created() const { return created_; }  // this open created and published the file
  uint8_t state(uint64_t block) const;           // acquire
  bool present(uint64_t block) const { return state(block) != kAbsent; }
  bool present_range(uint64_t first, uint64_t last) const;  // every block in [first, last]
  void set(uint64_t block, uint8_t v);           // release
  bool promote(uint64_t block, uint8_t from, uint8_t to);  // compare-exchange
  uint8_t exchange(uint64_t block, uint8_t v);   // acq_rel; returns the previous state
  uint32_t generation() const;                   // acquire
  void bump_generation();
  bool retired() const;                          // acquire
  void retire();                                 // sets the retired flag and bumps the generation
  // Sets the map file's mtime to now: the file's last-use time for LRU eviction.
  void touch();

  // OFD write lock on the map bytes of blocks [first, first+count), waiting (F_OFD_SETLKW).
  // Locks belong to this open file description: threads sharing this BlockMap do not exclude
  // each other (in-process single-flight does that); other opens of the file, in this process
  // or another, do. A killed process's locks are released by the kernel.
  Status lock(uint64_t first, uint64_t count);
  // Same without waiting: false when another open file description holds any of the bytes.
  bool try_lock(uint64_t first, uint64_t count);
  void unlock(uint64_t first, uint64_t count);
  // The pin byte (one past the block bytes): an OFD read lock on it is held by whoever hands the
  // whole data file to the kernel to read directly (FUSE passthrough); evicting or dropping any
  // block of the file first takes it exclusively. Never waits.
  bool try_pin(bool exclusive);

 private:
  BlockMap(UniqueFd fd, uint8_t* base, size_t len, uint64_t nblocks)
      : fd_(std::move(fd)), base_(base), len_(len), nblocks_(nblocks) {}
  UniqueFd fd_;
  uint8_t* base_;
  size_t len_;
  uint64_t nblocks_;
  bool created_ = false;
};

// Scoped OFD range lock; a failed lock (ENOLCK...) leaves the guard unlocked: callers proceed
// without cross-process exclusion, which can only cost a duplicate fetch, never wrong bytes.
class MapRangeLock {
 public:
  MapRangeLock(BlockMap& m, uint64_t first, uint64_t count);
  ~MapRangeLock();
  MapRangeLock(const MapRangeLock&) = delete;
  MapRangeLock& operator=(const MapRangeLock&) = delete;
  bool locked() const { return locked_; }

 private:
  BlockMap& m_;
  uint64_t first_, count_;
  bool locked_;
};

}  // namespace hffs::cache
