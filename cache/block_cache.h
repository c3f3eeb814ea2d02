// On-disk block cache keyed by content (sha256 / git sha1 + block index), shared by processes.
// See docs/ARCHITECTURE.md "Cache format".
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "cache/block_source.h"
#include "common/sha.h"
#include "common/status.h"

namespace hffs::cache {

struct CacheConfig {
  std::filesystem::path dir;          // root; created if missing
  uint32_t block_size = 1u << 20;     // 1 MiB; fixed per cache dir (recorded on first open)
  // fdatasync the data file before a block is marked present. Off: a kill -9 can never make the
  // cache serve wrong bytes (page cache survives the process), but a power loss can (the map page
  // may reach disk before the data pages). On: power-loss safe, one fdatasync per fetched run.
  bool durable = false;
  // When a reader completes the last missing block of a file, hash the whole file on a background
  // thread (verify_file) and drop its blocks on mismatch. Off by default because callers whose
  // keys are not real content hashes (test fakes) would see their data dropped; cli should enable.
  bool verify_on_complete = false;
  // Bound on per-file open state kept around (2 fds + 1 mmap each), least recently used evicted.
  size_t max_open_files = 256;
};

struct FileRef {
  std::string key;      // lowercase hex: sha256 (64) or git blob sha1 (40)
  HashKind kind = HashKind::kSha256;
  uint64_t size = 0;
};

struct CacheStats {
  uint64_t hit_bytes = 0;      // bytes served from disk
  uint64_t miss_bytes = 0;     // bytes fetched from a source
  uint64_t fetches = 0;        // BlockSource::fetch calls
  uint64_t waits = 0;          // readers that waited on another's in-flight fetch
  uint64_t shared_bytes = 0;   // bytes handed to waiters from the leader's in-memory buffer
  uint64_t write_errors = 0;   // fetched runs that could not be written (ENOSPC, EIO): served, not kept
  uint64_t lock_waits = 0;     // fetched runs whose blocks another process filled while we waited
  uint64_t verified_files = 0; // verify_file successes
  uint64_t corrupt_files = 0;  // verify_file mismatches (blocks dropped)
};

class BlockCache {
 public:
  static Result<std::unique_ptr<BlockCache>> open(const CacheConfig& cfg);
  virtual ~BlockCache() = default;

  // Reads [offset, offset+out.size()) of `file` (caller clamps at EOF). Missing blocks are
  // fetched from `src`, one fetch per block however many readers (threads or processes) want
  // it. Returns the number of bytes read.
  virtual Result<size_t> read(const FileRef& file, uint64_t offset, std::span<char> out,
                              BlockSource& src) = 0;
  // True when every byte of [offset, offset+len) is on disk (no fetch needed).
  virtual bool contains(const FileRef& file, uint64_t offset, uint64_t len) = 0;
  virtual CacheStats stats() const = 0;
  virtual uint32_t block_size() const = 0;

  // When every block of `file` is present: hash the data file (sha256 or git blob sha1 by
  // file.kind) and compare with file.key. Match: blocks are marked verified, ok. Mismatch: every
  // block is dropped (map bytes cleared, holes punched) and kCorrupt is returned, so the next
  // read refetches. Not every block present: kInvalidInput ("not fully cached"), nothing changes.
  virtual Status verify_file(const FileRef& file) = 0;
  // Waits until background work queued so far (verify_on_complete) has finished.
  virtual void quiesce() = 0;
};

}  // namespace hffs::cache
