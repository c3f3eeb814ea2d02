// Mountpoint checks and /proc/self/mountinfo helpers shared by mount and umount.
#pragma once
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace hffs::cli {

struct MountEntry {
  std::string mountpoint;
  std::string fstype;  // e.g. "fuse.hffs"
  std::string source;  // e.g. "hffs:org/name"
  std::string devno;   // "major:minor" of st_dev (for FUSE: minor = the fusectl connection number)
};

std::optional<MountEntry> find_mount(const std::string& abs_path);
// A path field of /proc/self/mountinfo (space, tab, newline, backslash escaped as \ooo) as it is.
std::string unescape_mountinfo(const std::string& s);
// Ready to mount on: exists, is a directory, is not already a mount (dead or alive).
Status check_mountpoint(const std::string& path, std::string* abs_out);
// -o allow_other (or allow_root) by a user other than root: fusermount3 refuses it unless
// `fuse_conf` has a line `user_allow_other`; said in one line before the mount is tried.
Status check_allow_other(const std::vector<std::string>& fuse_options, uid_t euid,
                         const std::string& fuse_conf = "/etc/fuse.conf");
// A user other than root mounts through fusermount3, which opens the FUSE device as that user:
// `device` must be readable and writable to them (udev makes /dev/fuse 0666); said in one line.
Status check_fuse_device(uid_t euid, const std::string& device = "/dev/fuse");

}  // namespace hffs::cli
