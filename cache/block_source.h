// What the cache pulls bytes from on a miss. Implemented outside cache/ (fs/ adapts the Hub
// client), so cache/ knows nothing of HTTP.
#pragma once
#include <cstdint>
#include <span>

#include "common/status.h"

namespace hffs::cache {

class BlockSource {
 public:
  virtual ~BlockSource() = default;
  // Fill `out` with the file's bytes at [offset, offset + out.size()). Must be thread-safe.
  virtual Status fetch(uint64_t offset, std::span<char> out) = 0;
};

}  // namespace hffs::cache
