// The request handlers: each translates one FUSE request into FsOps calls (fs/ops.h) and the
// result into a reply. Every decision is made behind FsOps; errno values come from errno_map.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "common/fd.h"
#include "fs/errno_map.h"
#include "fs/fuse_adapter_impl.h"
#include "fs/passthrough.h"

namespace hffs::fs {
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
    if (negative_entry(r.status().code())) {
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

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto& impl = *static_cast<FuseServer::Impl*>(fuse_req_userdata(req));
  auto r = impl.fs.open(ino, fi->flags, impl);
  if (!r) return reply_status(req, r.status());
  fi->fh = r->fh;
  fi->keep_cache = r->keep_cache;
  fi->noflush = 1;
  if (r->backing_id > 0) set_pending_backing_id(r->backing_id);  // our writev hook adds it to this reply
  if (fuse_reply_open(req, fi) != 0) {  // the opener was interrupted: no release will come
    set_pending_backing_id(0);
    impl.fs.release(ino, r->fh);
  }
}

// One pipe per FUSE worker thread for spliced replies, sized for the largest request.
class ThreadPipe {
 public:
  // Null when pipes cannot be made or grown (then reads are served from a buffer).
  const Pipe* get(size_t need) {
    if (broken_) return nullptr;
    if (!rd_) {
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0) return fail("pipe2");
      rd_.reset(fds[0]);
      wr_.reset(fds[1]);
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
    if (::ioctl(p_.rd, FIONREAD, &n) == 0 && n > 0) drain_pipe(p_, static_cast<size_t>(n));
  }

 private:
  const Pipe* fail(const char* what) {
    spdlog::debug("splice replies off for this thread: {}: {}", what, std::strerror(errno));
    broken_ = true;
    return nullptr;
  }
  UniqueFd rd_, wr_;
  Pipe p_;  // views of rd_ and wr_
  size_t cap_ = 0;
  bool broken_ = false;
};

// This worker thread's pipe and buffer for one READ of `size` bytes.
class ThreadTarget final : public ReadTarget {
 public:
  ThreadTarget(ThreadPipe* pipe, std::vector<char>& buf, size_t size) : pipe_(pipe), buf_(buf), size_(size) {}
  const Pipe* pipe() override { return given_ = pipe_ ? pipe_->get(size_) : nullptr; }
  const Pipe* given() const { return given_; }  // the pipe handed out (where spliced bytes wait)
  std::span<char> buffer(size_t len) override {
    if (buf_.size() < len) buf_.resize(len);
    return {buf_.data(), buf_.size()};
  }

 private:
  ThreadPipe* pipe_;
  std::vector<char>& buf_;
  size_t size_;
  const Pipe* given_ = nullptr;
};

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  thread_local ThreadPipe pipe;
  thread_local std::vector<char> buf;
  ThreadTarget to(options(req).splice_reads ? &pipe : nullptr, buf, size);
  auto r = core(req).read(ino, fi ? fi->fh : 0, static_cast<uint64_t>(off), size, to);
  if (!r) {
    // Content that failed verification was logged once, with its file and source, by the cache.
    if (r.status().code() == Errc::kCorrupt)
      spdlog::debug("read ino={} off={} size={}: {}", ino, off, size, r.status().to_string());
    else
      spdlog::warn("read ino={} off={} size={}: {}", ino, off, size, r.status().to_string());
    return reply_status(req, r.status());
  }
  if (!r->spliced) return (void)fuse_reply_buf(req, buf.data(), r->bytes);
  fuse_bufvec bv = FUSE_BUFVEC_INIT(r->bytes);
  bv.buf[0].flags = FUSE_BUF_IS_FD;
  bv.buf[0].fd = to.given()->rd;
  if (int e = fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE); e != 0)
    spdlog::debug("read ino={} off={}: spliced reply: {}", ino, off, std::strerror(-e));
  pipe.discard_leftovers();
}

void op_release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  core(req).release(ino, fi ? fi->fh : 0);
  fuse_reply_err(req, 0);
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (auto s = core(req).opendir(ino); !s) return reply_status(req, s);
  fi->keep_cache = 1;
  fi->cache_readdir = 1;
  fuse_reply_open(req, fi);
}

// One page of entries in the kernel's format, in a buffer of the size the kernel asked for.
class ReplyFiller final : public DirFiller {
 public:
  ReplyFiller(fuse_req_t req, size_t size, bool plus) : req_(req), buf_(size), plus_(plus) {}
  bool plus() const override { return plus_; }
  bool add(std::string_view name, const Attr& a, bool entry, uint64_t next) override {
    name_.assign(name);
    const size_t room = buf_.size() - used_;
    const auto off = static_cast<off_t>(next);
    size_t n;
    if (plus_) {
      fuse_entry_param e{};
      if (entry) {
        e = to_entry(req_, a);
      } else {
        e.attr.st_ino = a.ino;
        e.attr.st_mode = a.mode;
      }
      n = fuse_add_direntry_plus(req_, buf_.data() + used_, room, name_.c_str(), &e, off);
    } else {
      struct stat st {};
      st.st_ino = a.ino;
      st.st_mode = a.mode;
      n = fuse_add_direntry(req_, buf_.data() + used_, room, name_.c_str(), &st, off);
    }
    if (n > room) return false;
    used_ += n;
    return true;
  }
  void reply() { fuse_reply_buf(req_, buf_.data(), used_); }

 private:
  fuse_req_t req_;
  std::vector<char> buf_;
  size_t used_ = 0;
  bool plus_;
  std::string name_;  // NUL-terminated for libfuse
};

void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
  ReplyFiller f(req, size, plus);
  if (auto s = core(req).readdir(ino, static_cast<uint64_t>(off), f); !s) return reply_status(req, s);
  f.reply();
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
  if (!r) return (void)fuse_reply_err(req, xattr_errno(r.status().code()));
  if (int e = xattr_size_errno(size, r->size())) return (void)fuse_reply_err(req, e);
  if (size == 0) return (void)fuse_reply_xattr(req, r->size());
  fuse_reply_buf(req, r->data(), r->size());
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  auto r = core(req).listxattr(ino);
  if (!r) return reply_status(req, r.status());
  std::string all;
  for (const auto& n : *r) all.append(n).push_back('\0');
  if (int e = xattr_size_errno(size, all.size())) return (void)fuse_reply_err(req, e);
  if (size == 0) return (void)fuse_reply_xattr(req, all.size());
  fuse_reply_buf(req, all.data(), all.size());
}

void op_access(fuse_req_t req, fuse_ino_t ino, int mask) { reply_status(req, core(req).access(ino, mask)); }

// Every write operation: the view is read-only.
void erofs(fuse_req_t req) { fuse_reply_err(req, to_errno(Errc::kReadOnly)); }
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

}  // namespace

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

}  // namespace hffs::fs
