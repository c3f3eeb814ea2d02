// mount(8) helper entry point: `mount -t fuse.hffs org/name /mnt/model -o ro,revision=v1.0`
// runs `mount.fuse.hffs org/name /mnt/model -o ...` (a symlink to hffs).
#pragma once
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/status.h"

namespace hffs::cli {

// Parses the helper's argv (after argv[0]): SOURCE MOUNTPOINT [-o OPTS] [-s] [-n] [-v] [-f].
// Unknown options are errors unless -s (sloppy) is given. `fake` is set for -f.
Result<MountArgs> parse_mount_helper_args(const std::vector<std::string>& args, bool* fake);

// The hffs options an fstab line takes (FUSE and mount(8)'s generic options aside): each
// --long-option of `hffs mount` as long_option (tests/unit/cli/mount_options_test.cc proves it),
// plus the aliases rev= and type=.
struct FstabOption {
  std::string key;
  bool value;          // key=VALUE; else a flag
  bool list = false;   // may repeat: each occurrence adds one item, in order (endpoint=)
  std::string alias_of = "";  // rev= and type=: the option they spell differently ("revision")
};
std::vector<FstabOption> fstab_options();

// True when argv[0] names the mount helper (mount.hffs / mount.fuse.hffs).
bool is_mount_helper_name(const std::string& argv0);

}  // namespace hffs::cli
