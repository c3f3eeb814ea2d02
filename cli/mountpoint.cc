#include "cli/mountpoint.h"

#include <sys/stat.h>
#include <unistd.h>

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

Status check_allow_other(const std::vector<std::string>& fuse_options, uid_t euid, const std::string& fuse_conf) {
  if (euid == 0) return Status::ok();
  std::string opt;
  for (const auto& o : fuse_options)
    if (o == "allow_other" || o == "allow_root") opt = o;
  if (opt.empty()) return Status::ok();
  std::ifstream f(fuse_conf);
  std::string line;
  while (std::getline(f, line)) {
    auto b = line.find_first_not_of(" \t");
    auto e = line.find_last_not_of(" \t\r");
    if (b != std::string::npos && line.substr(b, e - b + 1) == "user_allow_other") return Status::ok();
  }
  return Status(Errc::kInvalidInput, "-o " + opt + " as a normal user needs the line 'user_allow_other' in " + fuse_conf +
                                         " (root adds it: it lets every user share their FUSE mounts), "
                                         "or mount without it: then only you can read the mount");
}

Status check_fuse_device(uid_t euid, const std::string& device) {
  if (euid == 0 || ::access(device.c_str(), R_OK | W_OK) == 0) return Status::ok();
  int err = errno;
  if (err == ENOENT)
    return Status(Errc::kInvalidInput, device + " does not exist: load the fuse module ('modprobe fuse'); in a "
                                                "container, pass the device ('--device /dev/fuse')");
  return Status(Errc::kInvalidInput, "a normal user needs " + device + " readable and writable to mount (" +
                                         std::strerror(err) + "): udev makes it mode 0666; where it is not, " +
                                         "root runs 'chmod 0666 " + device + "' (or mount as root)");
}

}  // namespace hffs::cli
