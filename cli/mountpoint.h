// Mountpoint checks and /proc/self/mountinfo helpers shared by mount and umount.
#pragma once
#include <optional>
#include <string>

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

}  // namespace hffs::cli
