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
};

}  // namespace hffs::cache
