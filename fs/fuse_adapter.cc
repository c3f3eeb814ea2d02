#define FUSE_USE_VERSION 314
#include "fs/fuse_adapter.h"

#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <thread>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include <unistd.h>

#include "fs/errno_map.h"
#include "fs/passthrough.h"

namespace hffs::fs {

// The kernel reads an inode either through its page cache (we answer READs) or from one backing
// file for all its opens (passthrough); an open in the other mode fails with EIO. So the mode is
// per inode and follows the opens already there: pass through only a file nobody has open in
// caching mode, and keep doing so, with one backing id, while any passthrough open remains.
struct InodeOpens {
  std::unique_ptr<cache::FilePin> pin;
  int backing_id = 0;
  uint32_t passthrough = 0;  // open files in passthrough mode
  uint32_t cached = 0;       // open files in caching mode
};
struct FuseServer::Impl {
  Impl(FsOps& f, FuseOptions o) : fs(f), opts(std::move(o)) {}
  FsOps& fs;
  FuseOptions opts;
  fuse_session* se = nullptr;
  bool mounted = false;
  bool signals = false;
  // FUSE passthrough (Linux >= 6.9), which libfuse 3.14 does not know: negotiated by amending
  // the INIT reply in our writev hook when the kernel offered it (see passthrough.h).
  std::atomic<uint64_t> init_unique{0};   // the INIT request, when the kernel offered passthrough
  std::atomic<bool> passthrough{false};   // negotiated; cleared if the kernel refuses a backing file
  std::mutex opens_mu;  // outermost: a pin is taken under it (docs/ARCHITECTURE.md, lock order)
  std::unordered_map<uint64_t, InodeOpens> opens;  // inodes with open files
  // Content keys whose kernel page cache must go (failed verification), and the thread that
  // tells the kernel: never a FUSE worker, which the invalidation may wait for.
  std::mutex inval_mu;  // leaf
  std::condition_variable inval_cv;
  std::deque<std::string> inval_keys;
  bool inval_stop = false;
  std::thread inval_thread;
};

namespace {

FsOps& core(fuse_req_t req) { return static_cast<FuseServer::Impl*>(fuse_req_userdata(req))->fs; }
const FuseOptions& options(fuse_req_t req) {
  return static_cast<FuseServer::Impl*>(fuse_req_userdata(req))->opts;
}

struct stat to_stat(const Attr& a) {
  struct stat st {};
  st.st_ino = a.ino;
  st.st_mode = a.mode;
  st.st_nlink = a.nlink;
  st.st_size = static_cast<off_t>(a.size);
  st.st_uid = a.uid;
  st.st_gid = a.gid;
  st.st_blksize = 1 << 20;
  st.st_blocks = static_cast<blkcnt_t>(a.blocks512);
  st.st_mtim.tv_sec = st.st_ctim.tv_sec = st.st_atim.tv_sec = a.mtime;
  return st;
}

fuse_entry_param to_entry(fuse_req_t req, const Attr& a) {
  fuse_entry_param e{};
  e.ino = a.ino;
  e.generation = 1;
  e.attr = to_stat(a);
  e.attr_timeout = e.entry_timeout = a.entry_timeout >= 0 ? a.entry_timeout : options(req).timeout_s;
  return e;
}

void reply_status(fuse_req_t req, const Status& s) { fuse_reply_err(req, to_errno(s.code())); }

void op_init(void* userdata, fuse_conn_info* conn) {
  auto* impl = static_cast<FuseServer::Impl*>(userdata);
  conn->max_write = impl->opts.max_write;  // libfuse derives max_pages from it
  conn->max_background = impl->opts.max_background;
  conn->congestion_threshold = impl->opts.max_background * 3 / 4;
  conn->max_readahead = impl->opts.max_write;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  if (conn->capable & FUSE_CAP_CACHE_SYMLINKS) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;  // always plus: one round trip for ls -l
  // Cached reads are answered with fuse_reply_data from a pipe holding the cache file's pages:
  // libfuse then splices pipe -> /dev/fuse instead of write()ing a buffer we pread into.
  if (impl->opts.splice_reads && (conn->capable & FUSE_CAP_SPLICE_WRITE)) conn->want |= FUSE_CAP_SPLICE_WRITE;
  conn->time_gran = 1'000'000'000;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto r = core(req).lookup(parent, name);
  if (!r) {
    if (r.status().code() == Errc::kEntryNotFound) {
      // Negative entries are immutable too: cache them.
      fuse_entry_param e{};
      e.entry_timeout = options(req).timeout_s;
      fuse_reply_entry(req, &e);
      return;
    }
    return reply_status(req, r.status());
  }
  auto e = to_entry(req, *r);
  fuse_reply_entry(req, &e);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  auto r = core(req).getattr(ino);
  if (!r) return reply_status(req, r.status());
  struct stat st = to_stat(*r);
  fuse_reply_attr(req, &st, r->entry_timeout >= 0 ? r->entry_timeout : options(req).timeout_s);
}

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

fuse_custom_io passthrough_io() {
  fuse_custom_io io{};
  io.read = io_read;
  io.writev = io_writev;
  io.splice_send = io_splice_send;
  return io;
}

constexpr uint64_t kFhPassthrough = 1;  // fi->fh of a passthrough open
constexpr uint64_t kFhEpochBase = 2;    // fi->fh of a caching open: kFhEpochBase + content epoch at open

// Decides the mode of a new open of `ino`; returns the backing id for passthrough, else 0.
int passthrough_for_open(FuseServer::Impl& impl, uint64_t ino) {
  std::lock_guard lk(impl.opens_mu);
  InodeOpens& o = impl.opens[ino];
  if (o.passthrough > 0) {
    ++o.passthrough;
    return o.backing_id;
  }
  if (o.cached == 0 && impl.passthrough.load(std::memory_order_relaxed)) {
    // A pin can open a file and queue verification: short, and never waits on a fetch.
    if (auto pin = impl.fs.pin_for_passthrough(ino)) {
      int id = passthrough_backing_open(fuse_session_fd(impl.se), pin->data_fd());
      if (id > 0) {
        o.pin = std::move(pin);
        o.backing_id = id;
        o.passthrough = 1;
        return id;
      }
      spdlog::warn("FUSE passthrough unavailable ({}); cached files are served by the daemon", std::strerror(-id));
      impl.passthrough = false;
    }
  }
  ++o.cached;
  return 0;
}

void release_open(FuseServer::Impl& impl, uint64_t ino, bool passthrough) {
  std::lock_guard lk(impl.opens_mu);
  auto it = impl.opens.find(ino);
  if (it == impl.opens.end()) return;
  InodeOpens& o = it->second;
  if (passthrough && o.passthrough > 0 && --o.passthrough == 0) {
    passthrough_backing_close(fuse_session_fd(impl.se), o.backing_id);
    o.pin.reset();
    o.backing_id = 0;
  } else if (!passthrough && o.cached > 0) {
    --o.cached;
  }
  if (o.passthrough == 0 && o.cached == 0) impl.opens.erase(it);
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (auto s = core(req).open(ino, fi->flags); !s) return reply_status(req, s);
  fi->keep_cache = 1;  // immutable content: keep the page cache across opens
  fi->noflush = 1;
  core(req).on_open(ino);
  auto& impl = *static_cast<FuseServer::Impl*>(fuse_req_userdata(req));
  const uint64_t epoch = core(req).content_epoch(ino);
  fi->fh = kFhEpochBase + epoch;
  // Content that failed verification once: this open starts with an empty page cache, whatever
  // an earlier open read (the asynchronous invalidation may not have run yet).
  if (epoch > 0) fi->keep_cache = 0;
  int id = passthrough_for_open(impl, ino);
  if (id > 0) {
    fi->fh = kFhPassthrough;
    fi->keep_cache = 0;  // the kernel refuses passthrough opens with any flag but NOFLUSH/DIRECT_IO
    set_pending_backing_id(id);  // our writev hook adds it to this thread's open reply
  }
  if (fuse_reply_open(req, fi) != 0) {  // the opener was interrupted: no release will come
    set_pending_backing_id(0);
    release_open(impl, ino, id > 0);
    core(req).on_release(ino);
  }
}

// One pipe per FUSE worker thread for spliced replies, sized for the largest request.
class ThreadPipe {
 public:
  ~ThreadPipe() {
    if (p_.rd >= 0) ::close(p_.rd);
    if (p_.wr >= 0) ::close(p_.wr);
  }
  // Null when pipes cannot be made or grown (then reads are served from a buffer).
  const cache::PipeFds* get(size_t need) {
    if (broken_) return nullptr;
    if (p_.rd < 0) {
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0) return fail("pipe2");
      p_ = {fds[0], fds[1]};
    }
    if (cap_ < need) {
      int r = ::fcntl(p_.wr, F_SETPIPE_SZ, static_cast<int>(need));
      if (r < 0 || static_cast<size_t>(r) < need) return fail("F_SETPIPE_SZ");
      cap_ = static_cast<size_t>(r);
    }
    return &p_;
  }
  // After a reply: whatever libfuse did not take (an error reply) must not reach the next one.
  void discard_leftovers() {
    int n = 0;
    if (::ioctl(p_.rd, FIONREAD, &n) == 0 && n > 0) cache::drain_pipe(p_, static_cast<size_t>(n));
  }

 private:
  const cache::PipeFds* fail(const char* what) {
    spdlog::debug("splice replies off for this thread: {}: {}", what, std::strerror(errno));
    broken_ = true;
    return nullptr;
  }
  cache::PipeFds p_;
  size_t cap_ = 0;
  bool broken_ = false;
};

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  // An open that may have been served bytes which then failed verification never reads again.
  if (fi && fi->fh >= kFhEpochBase && core(req).content_epoch(ino) != fi->fh - kFhEpochBase) {
    spdlog::warn("read ino={} off={}: the file's content failed verification after this open read it; "
                 "reopen it to read verified bytes", ino, off);
    return (void)fuse_reply_err(req, EIO);
  }
  if (options(req).splice_reads) {
    thread_local ThreadPipe pipe;
    if (const cache::PipeFds* p = pipe.get(size)) {
      auto r = core(req).read_splice(ino, static_cast<uint64_t>(off), size, *p);
      if (r && *r > 0) {
        fuse_bufvec bv = FUSE_BUFVEC_INIT(*r);
        bv.buf[0].flags = FUSE_BUF_IS_FD;
        bv.buf[0].fd = p->rd;
        if (int e = fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE); e != 0)
          spdlog::debug("read ino={} off={}: spliced reply: {}", ino, off, std::strerror(-e));
        pipe.discard_leftovers();
        return;
      }
    }
  }
  thread_local std::vector<char> buf;
  if (buf.size() < size) buf.resize(size);
  auto r = core(req).read(ino, static_cast<uint64_t>(off), std::span<char>(buf.data(), size));
  if (!r) {
    // Content that failed verification was logged once, with its file and source, by the cache.
    if (r.status().code() == Errc::kCorrupt)
      spdlog::debug("read ino={} off={} size={}: {}", ino, off, size, r.status().to_string());
    else
      spdlog::warn("read ino={} off={} size={}: {}", ino, off, size, r.status().to_string());
    return reply_status(req, r.status());
  }
  fuse_reply_buf(req, buf.data(), *r);
}

void op_release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  release_open(*static_cast<FuseServer::Impl*>(fuse_req_userdata(req)), ino, fi && fi->fh == kFhPassthrough);
  core(req).on_release(ino);
  fuse_reply_err(req, 0);
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (auto s = core(req).opendir(ino); !s) return reply_status(req, s);
  fi->keep_cache = 1;
  fi->cache_readdir = 1;
  fuse_reply_open(req, fi);
}

void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
  auto r = core(req).readdir(ino);
  if (!r) return reply_status(req, r.status());
  const auto& ents = *r;
  std::vector<char> buf(size);
  size_t used = 0;
  for (size_t i = static_cast<size_t>(off); i < ents.size(); ++i) {
    const auto& d = ents[i];
    size_t n;
    if (plus) {
      fuse_entry_param e{};
      bool dot = d.name == "." || d.name == "..";
      if (!dot) {
        auto a = core(req).getattr(d.ino);
        if (a) e = to_entry(req, *a);
      } else {
        e.attr.st_ino = d.ino;
        e.attr.st_mode = S_IFDIR;
      }
      n = fuse_add_direntry_plus(req, buf.data() + used, size - used, d.name.c_str(), &e,
                                 static_cast<off_t>(i + 1));
    } else {
      struct stat st {};
      st.st_ino = d.ino;
      st.st_mode = d.is_dir ? S_IFDIR : S_IFREG;
      n = fuse_add_direntry(req, buf.data() + used, size - used, d.name.c_str(), &st,
                            static_cast<off_t>(i + 1));
    }
    if (n > size - used) break;  // did not fit; the kernel asks again from this offset
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  readdir_common(req, ino, size, off, false);
}
void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  readdir_common(req, ino, size, off, true);
}
void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void op_statfs(fuse_req_t req, fuse_ino_t) {
  auto sum = core(req).summary();
  struct statvfs sv {};
  sv.f_bsize = 1 << 20;
  sv.f_frsize = 4096;
  sv.f_blocks = (sum.bytes + 4095) / 4096;
  sv.f_files = sum.inodes;
  sv.f_namemax = 255;
  sv.f_flag = ST_RDONLY;
  fuse_reply_statfs(req, &sv);
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  auto r = core(req).getxattr(ino, name);
  if (!r) {
    fuse_reply_err(req, r.status().code() == Errc::kEntryNotFound ? ENODATA : to_errno(r.status().code()));
  } else if (size == 0) {
    fuse_reply_xattr(req, r->size());
  } else if (size < r->size()) {
    fuse_reply_err(req, ERANGE);
  } else {
    fuse_reply_buf(req, r->data(), r->size());
  }
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  auto r = core(req).listxattr(ino);
  if (!r) return reply_status(req, r.status());
  std::string all;
  for (const auto& n : *r) all.append(n).push_back('\0');
  if (size == 0) {
    fuse_reply_xattr(req, all.size());
  } else if (size < all.size()) {
    fuse_reply_err(req, ERANGE);
  } else {
    fuse_reply_buf(req, all.data(), all.size());
  }
}

void op_access(fuse_req_t req, fuse_ino_t ino, int mask) {
  fuse_reply_err(req, !core(req).getattr(ino) ? ENOENT : (mask & W_OK) ? EROFS : 0);
}

// Every write operation: the view is read-only.
void erofs(fuse_req_t req) { fuse_reply_err(req, EROFS); }
void op_setattr(fuse_req_t req, fuse_ino_t, struct stat*, int, fuse_file_info*) { erofs(req); }
void op_mknod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) { erofs(req); }
void op_mkdir(fuse_req_t req, fuse_ino_t, const char*, mode_t) { erofs(req); }
void op_unlink(fuse_req_t req, fuse_ino_t, const char*) { erofs(req); }
void op_rmdir(fuse_req_t req, fuse_ino_t, const char*) { erofs(req); }
void op_symlink(fuse_req_t req, const char*, fuse_ino_t, const char*) { erofs(req); }
void op_rename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned) { erofs(req); }
void op_link(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) { erofs(req); }
void op_write(fuse_req_t req, fuse_ino_t, const char*, size_t, off_t, fuse_file_info*) { erofs(req); }
void op_create(fuse_req_t req, fuse_ino_t, const char*, mode_t, fuse_file_info*) { erofs(req); }
void op_setxattr(fuse_req_t req, fuse_ino_t, const char*, const char*, size_t, int) { erofs(req); }
void op_removexattr(fuse_req_t req, fuse_ino_t, const char*) { erofs(req); }
void op_fallocate(fuse_req_t req, fuse_ino_t, int, off_t, off_t, fuse_file_info*) { erofs(req); }

fuse_lowlevel_ops make_ops() {
  fuse_lowlevel_ops ops{};
  ops.init = op_init;
  ops.lookup = op_lookup;
  ops.getattr = op_getattr;
  ops.open = op_open;
  ops.read = op_read;
  ops.release = op_release;
  ops.opendir = op_opendir;
  ops.readdir = op_readdir;
  ops.readdirplus = op_readdirplus;
  ops.releasedir = op_releasedir;
  ops.statfs = op_statfs;
  ops.getxattr = op_getxattr;
  ops.listxattr = op_listxattr;
  ops.access = op_access;
  ops.setattr = op_setattr;
  ops.mknod = op_mknod;
  ops.mkdir = op_mkdir;
  ops.unlink = op_unlink;
  ops.rmdir = op_rmdir;
  ops.symlink = op_symlink;
  ops.rename = op_rename;
  ops.link = op_link;
  ops.write = op_write;
  ops.create = op_create;
  ops.setxattr = op_setxattr;
  ops.removexattr = op_removexattr;
  ops.fallocate = op_fallocate;
  return ops;
}

// The kernel caps FUSE read-ahead at what INIT negotiated; as root we can raise the mount's
// backing-device read-ahead afterwards (what gcsfuse does). Found through mountinfo, not stat(),
// because the session does not serve requests yet.
void raise_read_ahead(const std::string& mountpoint, unsigned kb) {
  if (kb == 0 || ::geteuid() != 0) return;
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
}

// libfuse splices a reply through a pipe of its own that must hold the reply plus a few pages;
// without CAP_SYS_RESOURCE no pipe may exceed /proc/sys/fs/pipe-max-size (1 MiB by default), and
// libfuse then falls back to copying. So requests are kept just small enough to splice.
unsigned spliceable_max_write(unsigned want) {
  constexpr unsigned kPage = 4096, kSlack = 4 * kPage;  // header + libfuse's page estimate
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return want;
  int r = ::fcntl(p[1], F_SETPIPE_SZ, static_cast<int>(want + kSlack));
  ::close(p[0]);
  ::close(p[1]);
  if (r >= static_cast<int>(want + kSlack)) return want;
  unsigned max = 0;
  std::ifstream("/proc/sys/fs/pipe-max-size") >> max;
  if (max < 2 * kSlack + 128 * 1024) return want;  // tiny pipes: keep big requests, copy
  unsigned fit = (max - kSlack) / kPage * kPage;
  return std::min(want, fit);
}

}  // namespace

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
          if (e != 0 && e != -ENOENT) spdlog::debug("invalidating the page cache of ino {}: {}", ino, std::strerror(-e));
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
