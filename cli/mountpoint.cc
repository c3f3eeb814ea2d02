#include "cli/mountpoint.h"

#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace hffs::cli {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mountinfo(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0');
      out.push_back(static_cast<char>(v));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

namespace {
std::string unescape(const std::string& s) { return unescape_mountinfo(s); }
}  // namespace

std::optional<MountEntry> find_mount(const std::string& abs_path) {
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  std::optional<MountEntry> found;
  while (std::getline(f, line)) {
    std::istringstream ss(line);
    std::string id, parent, devno, root, mp;
    ss >> id >> parent >> devno >> root >> mp;
    if (unescape(mp) != abs_path) continue;
    std::string tok;
    while (ss >> tok && tok != "-") {
    }
    MountEntry e;
    e.mountpoint = abs_path;
    e.devno = devno;
    ss >> e.fstype >> e.source;
    e.source = unescape(e.source);
    found = e;  // the last one listed is the top of the stack
  }
  return found;
}

Status check_mountpoint(const std::string& path, std::string* abs_out) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT)
      return Status(Errc::kInvalidInput, "mountpoint " + path + " does not exist: create it with 'mkdir -p " + path + "'");
    if (err == ENOTCONN)
      return Status(Errc::kInvalidInput, path + " is a dead FUSE mount (its daemon is gone): run 'hffs umount " +
                                             path + "' first");
    return Status(Errc::kInvalidInput, "cannot use mountpoint " + path + ": " + std::strerror(err));
  }
  if (!S_ISDIR(st.st_mode)) return Status(Errc::kInvalidInput, "mountpoint " + path + " is not a directory");
  char buf[PATH_MAX];
  if (!::realpath(path.c_str(), buf)) return Status(Errc::kInvalidInput, "cannot resolve " + path);
  std::string abs = buf;
  if (auto m = find_mount(abs)) {
    return Status(Errc::kInvalidInput, "mountpoint " + abs + " is busy: already mounted (" + m->fstype + " " +
                                           m->source + "); unmount it first with 'hffs umount " + abs + "'");
  }
  if (abs_out) *abs_out = abs;
  return Status::ok();
}

}  // namespace hffs::cli
