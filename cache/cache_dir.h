// Layout of a cache root: <dir>/hffs-v1/{format, data/<key[0:2]>/<key>, data/<key[0:2]>/<key>.map}.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hffs::cache {

inline constexpr int kFormatVersion = 1;

// Creates <dir>/hffs-v1/ and its `format` file if missing (atomically: temp + link), then checks
// that the recorded version and block size match. Returns the hffs-v1 root.
Result<std::filesystem::path> open_cache_root(const std::filesystem::path& dir, uint32_t block_size);

// Content keys are lowercase hex sha1 (40) or sha256 (64): safe as file names by construction.
bool valid_key(std::string_view key);

struct KeyPaths {
  std::filesystem::path shard_dir;  // data/<key[0:2]>
  std::filesystem::path data;       // data/<key[0:2]>/<key>
  std::filesystem::path map;        // data/<key[0:2]>/<key>.map
};
KeyPaths key_paths(const std::filesystem::path& root, std::string_view key);

// A name next to `final_path` that no other thread or process uses: "<final>.tmp.<pid>.<n>".
std::string temp_name_for(const std::filesystem::path& final_path);

// Publishes `tmp` as `final_path` only if `final_path` does not exist (link(2), or
// renameat2(RENAME_NOREPLACE) where hard links are unsupported); `tmp` is gone afterwards.
// Returns true if we published, false if another creator won (EEXIST).
Result<bool> publish_no_replace(const std::filesystem::path& tmp, const std::filesystem::path& final_path);

Status errno_status(int err, std::string_view what);

}  // namespace hffs::cache
