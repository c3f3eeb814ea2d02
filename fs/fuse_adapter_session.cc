// The FUSE session's lifecycle: mount options, custom I/O on /dev/fuse for passthrough, the
// worker loop, kernel notifications. The request handlers are in fuse_adapter.cc.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "common/fd.h"
#include "fs/errno_map.h"
#include "fs/fuse_adapter_impl.h"
#include "fs/passthrough.h"

namespace hffs::fs {

namespace {

// Our I/O on the session's fd: plain read/writev/splice, plus the passthrough amendments.
ssize_t io_read(int fd, void* buf, size_t len, void* userdata) {
  ssize_t n = ::read(fd, buf, len);
  auto* impl = static_cast<FuseServer::Impl*>(userdata);
  uint64_t unique = 0;
  if (n > 0 && impl->init_unique.load(std::memory_order_relaxed) == 0 && !impl->passthrough.load() &&
      init_offers_passthrough(buf, static_cast<size_t>(n), &unique))
    impl->init_unique.store(unique);
  return n;
}

ssize_t io_writev(int fd, struct iovec* iov, int count, void* userdata) {
  auto* impl = static_cast<FuseServer::Impl*>(userdata);
  if (uint64_t u = impl->init_unique.load(std::memory_order_relaxed); u != 0 && amend_init_reply(iov, count, u)) {
    impl->init_unique.store(0);
    impl->passthrough.store(true);
    spdlog::info("FUSE passthrough negotiated: complete cached files are read by the kernel directly");
  }
  if (int id = take_pending_backing_id()) amend_open_reply(iov, count, id);
  return ::writev(fd, iov, count);
}

ssize_t io_splice_send(int fdin, off_t* offin, int fdout, off_t* offout, size_t len, unsigned flags, void*) {
  return ::splice(fdin, offin, fdout, offout, len, flags);
}

}  // namespace

fuse_custom_io passthrough_io() {
  fuse_custom_io io{};
  io.read = io_read;
  io.writev = io_writev;
  io.splice_send = io_splice_send;
  return io;
}

namespace {

// The kernel caps FUSE read-ahead at what INIT negotiated; as root we can raise the mount's
// backing-device read-ahead afterwards (what gcsfuse does). Found through mountinfo, not stat(),
// because the session does not serve requests yet.
void raise_read_ahead(const std::string& mountpoint, unsigned kb) {
  if (kb == 0) return;
  if (::geteuid() != 0) {
    spdlog::info("kernel read-ahead left at its default: raising it to {} KiB (--read-ahead-kb) needs root", kb);
    return;
  }
  std::ifstream f("/proc/self/mountinfo");
  std::string line, devno;
  while (std::getline(f, line)) {
    std::istringstream ss(line);
    std::string id, parent, dev, root, mp;
    ss >> id >> parent >> dev >> root >> mp;
    if (mp == mountpoint) devno = dev;
  }
  if (devno.empty()) return;
  std::ofstream ra("/sys/class/bdi/" + devno + "/read_ahead_kb");
  ra << kb;
  ra.flush();
  if (ra) spdlog::debug("read_ahead_kb of {} set to {}", devno, kb);
  else  // a container's read-only /sys
    spdlog::info("kernel read-ahead left at its default: cannot write /sys/class/bdi/{}/read_ahead_kb", devno);
}

// Whether this process may register backing files for passthrough: the kernel asks for
// CAP_SYS_ADMIN (in the initial user namespace; a user namespace's is refused later, and logged).
bool may_passthrough() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    unsigned long long caps = std::strtoull(line.c_str() + 7, nullptr, 16);
    return (caps >> 21) & 1;  // CAP_SYS_ADMIN
  }
  return ::geteuid() == 0;
}

// libfuse splices a reply through a pipe of its own that must hold the reply plus a few pages;
// without CAP_SYS_RESOURCE no pipe may exceed /proc/sys/fs/pipe-max-size (1 MiB by default), and
// libfuse then falls back to copying. So requests are kept just small enough to splice.
unsigned spliceable_max_write(unsigned want) {
  constexpr unsigned kPage = 4096, kSlack = 4 * kPage;  // header + libfuse's page estimate
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return want;
  UniqueFd rd(p[0]), wr(p[1]);
  int r = ::fcntl(wr.get(), F_SETPIPE_SZ, static_cast<int>(want + kSlack));
  if (r >= static_cast<int>(want + kSlack)) return want;
  unsigned max = 0;
  std::ifstream("/proc/sys/fs/pipe-max-size") >> max;
  if (max < 2 * kSlack + 128 * 1024) return want;  // tiny pipes: keep big requests, copy
  unsigned fit = (max - kSlack) / kPage * kPage;
  return std::min(want, fit);
}

}  // namespace

int FuseServer::Impl::open(int fd) {
  int id = passthrough_backing_open(fuse_session_fd(se), fd);
  if (id > 0) return id;
  spdlog::warn("FUSE passthrough unavailable ({}); cached files are served by the daemon", std::strerror(-id));
  passthrough = false;
  return 0;
}

void FuseServer::Impl::close(int backing_id) { passthrough_backing_close(fuse_session_fd(se), backing_id); }

FuseServer::FuseServer(FsOps& fs, FuseOptions opts)
    : impl_(std::make_unique<Impl>(fs, std::move(opts))) {}

FuseServer::~FuseServer() {
  {
    std::lock_guard lk(impl_->inval_mu);
    impl_->inval_stop = true;
  }
  impl_->inval_cv.notify_all();
  if (impl_->inval_thread.joinable()) impl_->inval_thread.join();
  if (impl_->se) {
    if (impl_->mounted) fuse_session_unmount(impl_->se);
    if (impl_->signals) fuse_remove_signal_handlers(impl_->se);
    fuse_session_destroy(impl_->se);
  }
}

Status FuseServer::mount(const std::string& mountpoint) {
  if (impl_->opts.splice_reads) {
    unsigned mw = spliceable_max_write(impl_->opts.max_write);
    if (mw != impl_->opts.max_write)
      spdlog::debug("FUSE requests of {} bytes instead of {}, so replies can be spliced", mw, impl_->opts.max_write);
    impl_->opts.max_write = mw;
  }
  std::vector<std::string> argv_s{"hffs"};
  if (impl_->opts.debug) argv_s.push_back("-d");
  std::string o = "ro,default_permissions,subtype=hffs";
  if (!impl_->opts.fsname.empty()) o += ",fsname=" + impl_->opts.fsname;
  for (const auto& m : impl_->opts.mount_options) {
    if (m == "default_permissions" || m == "ro") continue;
    o += "," + m;
  }
  argv_s.push_back("-o");
  argv_s.push_back(o);
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  static const fuse_lowlevel_ops ops = make_ops();
  impl_->se = fuse_session_new(&args, &ops, sizeof(ops), impl_.get());
  fuse_opt_free_args(&args);
  if (!impl_->se) return Status(Errc::kInvalidInput, "FUSE rejected the mount options: " + o);
  if (fuse_set_signal_handlers(impl_->se) != 0) return Status(Errc::kIo, "cannot install signal handlers");
  impl_->signals = true;
  if (fuse_session_mount(impl_->se, mountpoint.c_str()) != 0)
    return Status(Errc::kIo, "cannot mount FUSE at " + mountpoint +
                                 " (is /dev/fuse available, and allow_other permitted in /etc/fuse.conf?)");
  impl_->mounted = true;
  if (impl_->opts.passthrough && !may_passthrough()) {
    spdlog::info("FUSE passthrough off: it needs CAP_SYS_ADMIN (root); cached files are served by the daemon");
    impl_->opts.passthrough = false;
  }
  if (impl_->opts.passthrough) {
    // Same fd, our read/writev: lets INIT (and open replies) be amended for passthrough.
    static const fuse_custom_io io = passthrough_io();
    if (fuse_session_custom_io(impl_->se, &io, fuse_session_fd(impl_->se)) != 0)
      spdlog::debug("custom FUSE I/O refused; no passthrough");
  }
  raise_read_ahead(mountpoint, impl_->opts.read_ahead_kb);
  return Status::ok();
}

int FuseServer::serve() {
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 1);
  fuse_loop_cfg_set_max_threads(cfg, impl_->opts.max_threads);
  fuse_loop_cfg_set_idle_threads(cfg, 8);
  int rc = fuse_session_loop_mt(impl_->se, cfg);
  fuse_loop_cfg_destroy(cfg);
  if (impl_->mounted) {
    fuse_session_unmount(impl_->se);
    impl_->mounted = false;
  }
  return rc < 0 ? 1 : 0;
}

void FuseServer::invalidate_entry(uint64_t parent, const std::string& name) {
  if (impl_->se && impl_->mounted)
    fuse_lowlevel_notify_inval_entry(impl_->se, parent, name.c_str(), name.size());
}

void FuseServer::forget(const std::vector<std::pair<uint64_t, std::string>>& entries,
                        const std::vector<uint64_t>& inodes) {
  if (!impl_->se || !impl_->mounted) return;
  for (const auto& [parent, name] : entries) {
    int e = fuse_lowlevel_notify_inval_entry(impl_->se, parent, name.c_str(), name.size());
    if (notify_failed(e)) spdlog::debug("forgetting entry {} of ino {}: {}", name, parent, std::strerror(-e));
  }
  for (uint64_t ino : inodes) {
    int e = fuse_lowlevel_notify_inval_inode(impl_->se, ino, 0, 0);
    if (notify_failed(e)) spdlog::debug("forgetting ino {}: {}", ino, std::strerror(-e));
  }
}

void FuseServer::invalidate_content(const std::string& key) {
  Impl& m = *impl_;
  std::lock_guard lk(m.inval_mu);
  if (m.inval_stop) return;
  m.inval_keys.push_back(key);
  if (!m.inval_thread.joinable()) {
    m.inval_thread = std::thread([&m] {
      std::unique_lock l(m.inval_mu);
      for (;;) {
        m.inval_cv.wait(l, [&] { return m.inval_stop || !m.inval_keys.empty(); });
        if (m.inval_stop) return;
        std::string k = std::move(m.inval_keys.front());
        m.inval_keys.pop_front();
        l.unlock();
        for (uint64_t ino : m.fs.inodes_of(k)) {
          int e = m.se && m.mounted ? fuse_lowlevel_notify_inval_inode(m.se, ino, 0, 0) : 0;
          if (notify_failed(e)) spdlog::debug("invalidating the page cache of ino {}: {}", ino, std::strerror(-e));
        }
        l.lock();
      }
    });
  }
  m.inval_cv.notify_all();
}

void FuseServer::request_exit() {
  if (impl_->se) fuse_session_exit(impl_->se);
}

}  // namespace hffs::fs
