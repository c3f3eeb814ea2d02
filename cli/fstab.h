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

// True when argv[0] names the mount helper (mount.hffs / mount.fuse.hffs).
bool is_mount_helper_name(const std::string& argv0);

}  // namespace hffs::cli
