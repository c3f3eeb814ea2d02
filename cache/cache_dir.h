// Layout of a cache root: <dir>/hffs-v1/{format, data/<key[0:2]>/<key>, data/<key[0:2]>/<key>.map}.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hffs::cache {

inline constexpr int kFormatVersion = 1;

// Who may use the cache besides its owner (process-wide; set before anything is created, e.g.
// by `hffs mount --cache-group`). Default: nobody: directories 0700, files 0600. With a group:
// directories 2770 of that group (setgid: what is created inside inherits the group), files
// 0660; modes are set explicitly, so the umask cannot narrow them. open_cache_root adopts the
// group of an existing hffs-v1 that is setgid with group rwx (a cache shared before).
void set_cache_group(std::optional<gid_t> gid);
std::optional<gid_t> cache_group();
mode_t cache_dir_mode();
mode_t cache_file_mode();
// mkdir(path) with cache_dir_mode() (and the group); an existing directory is left as it is.
// Returns 0 or the errno of the failure.
int make_cache_dir(const std::filesystem::path& path);
// Gives a file just created with O_CREAT and cache_file_mode() its exact mode (with a group only;
// without one the umask can only narrow 0600).
void share_new_file(int fd);
// One warning line when `dir` grants more than cache_dir_mode() allows (others, or a group that
// was not asked for): local users could read cached bytes of private repos.
void warn_if_wider(const std::filesystem::path& dir);

// <dir>/hffs-v1: the cache's own files under a cache directory (which also holds views/ and the
// HF cache links). The one place outside this file's .cc that needs the name asks for it here.
std::filesystem::path layout_dir(const std::filesystem::path& dir);

// What <dir>/hffs-v1/format records. kEntryNotFound: no cache under `dir`; kCorrupt: not a
// format file.
struct CacheFormat {
  int version = 0;
  uint64_t block_size = 0;  // as recorded: not checked against the limits open_cache_root applies
};
Result<CacheFormat> read_format(const std::filesystem::path& dir);

// Creates <dir>/hffs-v1/ and its `format` file if missing (atomically: temp + link), then checks
// that the recorded version and block size match. Returns the hffs-v1 root.
Result<std::filesystem::path> open_cache_root(const std::filesystem::path& dir, uint32_t block_size);
// Recreates what open_cache_root creates (<dir>/hffs-v1, data/, format) after it was removed
// under a running process (a tmp cleaner, an operator): `root` is the hffs-v1 path.
Status restore_layout(const std::filesystem::path& root, uint32_t block_size);

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
