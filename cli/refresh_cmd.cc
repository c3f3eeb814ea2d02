// `hffs refresh MOUNTPOINT`: asks the daemon for one check of the mounted branch now.
//
// The control path is a getxattr of user.hffs.refresh on the mount's root: the mount is read-only
// (a setxattr is refused by the VFS before the daemon sees it), a getxattr reaches the daemon with
// the caller's own permissions (whoever may read the mount may ask; no pid file, no signal
// rights), and its answer carries the outcome back. The daemon hands the check to the repo's
// follower thread (one check serves every caller waiting then) and answers when it is done.
#include <sys/xattr.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>

#include "cli/commands.h"

namespace hffs::cli {

int cmd_refresh(const std::string& mountpoint) {
  std::string out(4096, '\0');
  ssize_t n = ::getxattr(mountpoint.c_str(), "user.hffs.refresh", out.data(), out.size());
  if (n < 0) {
    const int e = errno;
    if (e == ENODATA || e == ENOTSUP)
      std::cerr << "hffs: " << mountpoint << " is not the root of an hffs mount of one repo that can follow its branch\n";
    else
      std::cerr << "hffs: " << mountpoint << ": " << std::strerror(e) << "\n";
    return e == ENOENT || e == ENOTDIR ? kExitMountpoint : kExitError;
  }
  out.resize(static_cast<size_t>(n));
  if (out.starts_with("failed")) {
    // What went wrong goes where errors go; the mount serves the view it had.
    std::cerr << "hffs: refresh of " << mountpoint << " " << out << "; the mount keeps its current view\n";
    return kExitNetwork;
  }
  std::cout << out << "\n";
  return kExitOk;
}

}  // namespace hffs::cli
