// `hffs umount`: works on a live, a busy (--lazy) and a dead mount.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/mountpoint.h"
#include "common/fd.h"

namespace hffs::cli {

namespace {

std::string abs_path_lexical(const std::string& p) {
  // realpath() would hang or fail on a dead FUSE mount; resolve the parent instead.
  std::filesystem::path path = std::filesystem::path(p).lexically_normal();
  if (!path.has_filename() && path.has_parent_path()) path = path.parent_path();  // "dir/"
  std::filesystem::path parent = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  char buf[PATH_MAX];
  if (!::realpath(parent.c_str(), buf)) return p;
  return (std::filesystem::path(buf) / path.filename()).string();
}

bool under(const std::string& link, const std::string& mp) {
  return link == mp || (link.size() > mp.size() && link.compare(0, mp.size(), mp) == 0 && link[mp.size()] == '/');
}

// Processes whose cwd, root or open files are under the mountpoint.
std::vector<std::string> busy_processes(const std::string& mp) {
  std::vector<std::string> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (auto* e = ::readdir(d)) {
    char* end;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end || pid <= 0 || pid == ::getpid()) continue;
    std::string base = std::string("/proc/") + e->d_name;
    auto check = [&](const std::string& path) {
      char buf[PATH_MAX];
      ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
      if (n <= 0) return false;
      buf[n] = 0;
      return under(buf, mp);
    };
    bool hit = check(base + "/cwd") || check(base + "/root");
    if (!hit) {
      if (DIR* fd = ::opendir((base + "/fd").c_str())) {
        while (auto* f = ::readdir(fd)) {
          if (f->d_name[0] == '.') continue;
          if (check(base + "/fd/" + f->d_name)) {
            hit = true;
            break;
          }
        }
        ::closedir(fd);
      }
    }
    if (hit) {
      std::ifstream c(base + "/comm");
      std::string comm;
      std::getline(c, comm);
      out.push_back(comm + " (pid " + e->d_name + ")");
    }
  }
  ::closedir(d);
  return out;
}

int run_fusermount(const std::string& mp, bool lazy) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (lazy)
      ::execlp("fusermount3", "fusermount3", "-u", "-z", "--", mp.c_str(), (char*)nullptr);
    else
      ::execlp("fusermount3", "fusermount3", "-u", "--", mp.c_str(), (char*)nullptr);
    std::_Exit(127);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

// Aborts the FUSE connection of the mount whose st_dev is `devno` ("0:N": connection N), mounting
// fusectl on /sys/fs/fuse/connections first when it is not. Every request waiting on the daemon
// fails with ENOTCONN at once, and new ones too, whatever state the daemon is in.
Status abort_connection(const std::string& devno) {
  auto colon = devno.find(':');
  std::string minor = colon == std::string::npos ? "" : devno.substr(colon + 1);
  if (minor.empty() || minor.find_first_not_of("0123456789") != std::string::npos)
    return Status(Errc::kInvalidInput, "unexpected device number '" + devno + "' in /proc/self/mountinfo");
  const std::string conns = "/sys/fs/fuse/connections";
  std::string abort_file = conns + "/" + minor + "/abort";
  if (::access(abort_file.c_str(), F_OK) != 0 &&
      ::mount("fusectl", conns.c_str(), "fusectl", 0, nullptr) != 0 && errno != EBUSY)
    return Status(Errc::kIo, "cannot mount fusectl on " + conns + ": " + std::strerror(errno) +
                                 " (mount it with 'mount -t fusectl none " + conns + "')");
  UniqueFd fd(::open(abort_file.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return Status(Errc::kIo, "cannot open " + abort_file + ": " + std::strerror(errno));
  bool ok = ::write(fd.get(), "1", 1) == 1;
  int err = errno;
  fd.reset();
  if (!ok) return Status(Errc::kIo, "cannot write " + abort_file + ": " + std::strerror(err));
  return Status::ok();
}

}  // namespace

int cmd_umount(const UmountArgs& a) {
  std::string mp = abs_path_lexical(a.mountpoint);
  auto m = find_mount(mp);
  if (!m) {
    std::cerr << "hffs: " << mp << " is not mounted\n";
    return kExitMountpoint;
  }
  if (m->fstype.rfind("fuse", 0) != 0) {
    std::cerr << "hffs: " << mp << " is not an hffs mount (" << m->fstype << "); refusing to unmount it\n";
    return kExitMountpoint;
  }
  bool lazy = a.lazy || a.force;
  if (a.force) {
    // A stopped or wedged daemon would leave readers (and a plain unmount) waiting forever.
    if (auto s = abort_connection(m->devno); !s)
      std::cerr << "hffs: could not abort the FUSE connection of " << mp << ": " << s.message()
                << "; detaching anyway (readers already waiting may keep waiting)\n";
  }
  int rc;
  int err = 0;
  if (::geteuid() == 0) {
    rc = ::umount2(mp.c_str(), lazy ? MNT_DETACH : 0);
    err = errno;
  } else {
    rc = run_fusermount(mp, lazy);
    // fusermount3 prints its own reason; find out whether it was "busy".
    err = rc == 0 ? 0 : (busy_processes(mp).empty() ? EIO : EBUSY);
  }
  if (rc == 0) return kExitOk;
  if (err == EBUSY) {
    auto procs = busy_processes(mp);
    std::cerr << "hffs: " << mp << " is busy";
    if (!procs.empty()) {
      std::cerr << ", in use by:";
      for (auto& p : procs) std::cerr << "\n  " << p;
    }
    std::cerr << "\nstop them, or detach now with 'hffs umount --lazy " << mp << "'\n";
    return kExitMountpoint;
  }
  std::cerr << "hffs: cannot unmount " << mp << ": " << std::strerror(err) << "\n";
  return kExitError;
}

}  // namespace hffs::cli
