// Where a mount's file bytes come from on a cache miss (the Hub, or a fake in tests).
#pragma once
#include <cstdint>
#include <span>

#include "common/status.h"
#include "fs/namespace.h"

namespace hffs::fs {

class FileOrigin {
 public:
  virtual ~FileOrigin() = default;
  // Fill `out` with bytes [offset, offset+out.size()) of `file`. Thread-safe.
  virtual Status fetch(const Inode& file, uint64_t offset, std::span<char> out) = 0;
  // Where the bytes come from, for xattrs/status (no secrets, no signatures).
  virtual std::string describe(const Inode& file) const = 0;
};

}  // namespace hffs::fs
