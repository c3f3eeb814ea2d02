// Tree entries for fs unit tests: a file whose content keys are one repeated character (GenRepo
// then generates its bytes from that character, see repo_fakes.h).
#pragma once
#include <cstdint>
#include <string>
#include <utility>

#include "hubapi/types.h"

namespace hffs::testing {

inline hubapi::TreeEntry tree_file(std::string path, uint64_t size, char key) {
  hubapi::TreeEntry e;
  e.type = hubapi::TreeEntry::Type::kFile;
  e.path = std::move(path);
  e.size = size;
  e.oid = std::string(40, key);
  e.lfs_sha256 = std::string(64, key);
  return e;
}

}  // namespace hffs::testing
