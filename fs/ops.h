// What the FUSE adapter calls: one repo's Filesystem, or the HubNamespace of many repos.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/block_cache.h"
#include "common/status.h"

namespace hffs::fs {

struct Attr {
  uint64_t ino = 0;
  bool is_dir = false;
  uint64_t size = 0;
  uint32_t mode = 0;  // includes S_IFDIR/S_IFREG
  uint32_t nlink = 1;
  int64_t mtime = 0;
  uint32_t uid = 0, gid = 0;
  uint64_t blocks512 = 0;
  double entry_timeout = -1;  // < 0: the adapter's default (the pinned tree never changes)
};

struct DirEntry {
  std::string name;
  uint64_t ino;
  bool is_dir;
};

struct FsSummary {
  uint64_t bytes = 0;
  uint64_t inodes = 0;
};

class FsOps {
 public:
  virtual ~FsOps() = default;
  virtual Result<Attr> lookup(uint64_t parent, std::string_view name) = 0;
  virtual Result<Attr> getattr(uint64_t ino) = 0;
  virtual Result<std::vector<DirEntry>> readdir(uint64_t ino) = 0;
  virtual Status open(uint64_t ino, int flags) = 0;
  virtual Status opendir(uint64_t ino) = 0;
  virtual Result<size_t> read(uint64_t ino, uint64_t offset, std::span<char> out) = 0;
  // A whole file's content on local disk that the kernel may read directly (FUSE passthrough)
  // for as long as the pin lives; null when the file is not entirely local.
  virtual std::unique_ptr<cache::FilePin> pin_for_passthrough(uint64_t ino) { return nullptr; }
  // Zero-copy read: when the bytes are already on local disk, splices up to len of them into
  // `pipe` and returns how many. 0 means "not this way": the caller then calls read().
  virtual Result<size_t> read_splice(uint64_t ino, uint64_t offset, size_t len, const cache::PipeFds& pipe) {
    return size_t{0};
  }
  virtual Result<std::string> getxattr(uint64_t ino, std::string_view name) = 0;
  virtual Result<std::vector<std::string>> listxattr(uint64_t ino) = 0;
  virtual FsSummary summary() = 0;
  // How many times the content of `ino` failed verification (cache::BlockCache::corrupt_epoch).
  // An open remembers it; a read through an open made at another epoch fails (EIO): that open
  // may have been served bytes that were dropped as bad.
  virtual uint64_t content_epoch(uint64_t ino) { return 0; }
  // Inodes whose content is `key` (to drop the kernel's page cache after a mismatch). Linear in
  // the tree: for rare events only.
  virtual std::vector<uint64_t> inodes_of(const std::string& key) { return {}; }
  // Handles: the namespace keeps a repo loaded while any file of it is open.
  virtual void on_open(uint64_t ino) {}
  virtual void on_release(uint64_t ino) {}
};

}  // namespace hffs::fs
