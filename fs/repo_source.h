// Where a mount's file bytes come from on a cache miss: the Hub (fs/hub_source.h), nothing
// (offline), or a fake in tests. The seam a test wraps to inject faults, and where endpoint
// failover plugs in: everything below the cache's BlockSource is chosen here.
#pragma once
#include <memory>
#include <string>

#include "cache/block_source.h"
#include "fs/namespace.h"

namespace hffs::fs {

class RepoSource {
 public:
  virtual ~RepoSource() = default;
  // The bytes of one file (a regular file of `ns`, the namespace this source serves). The source
  // may keep references to `ns` and `file`: it must not outlive them. Thread-safe.
  virtual std::unique_ptr<cache::BlockSource> open(const Namespace& ns, const Inode& file) = 0;
  // Where the file's bytes come from, for xattrs/status (no secrets, no signatures).
  virtual std::string describe(const Namespace& ns, const Inode& file) const = 0;
};

}  // namespace hffs::fs
