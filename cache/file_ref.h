// Which file the cache is asked about: its content key, how that key hashes, and its size. Its
// own header so that fs/namespace.h can hand one out without pulling in the whole cache API.
#pragma once
#include <cstdint>
#include <string>

#include "common/sha.h"

namespace hffs::cache {

struct FileRef {
  std::string key;      // lowercase hex: sha256 (64) or git blob sha1 (40)
  HashKind kind = HashKind::kSha256;
  uint64_t size = 0;
};

}  // namespace hffs::cache
