#include "fs/filesystem.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <unistd.h>

#include <algorithm>

#include "common/fd.h"
#include "fs/dir_page.h"

namespace hffs::fs {

namespace {

Status not_found(uint64_t ino) { return Status(Errc::kEntryNotFound, "no inode " + std::to_string(ino)); }

}  // namespace

Filesystem::Filesystem(Namespace ns, cache::BlockCache& cache, RepoSource& source, FsConfig cfg,
                       PrefetchConfig prefetch)
    : ns_(std::move(ns)), cache_(cache), source_(source), cfg_(std::move(cfg)),
      sources_(14) {
  sources_.append_n(ns_.inode_count());
  if (!ns_.complete()) list_ahead_ = std::make_unique<ListAhead>(ns_, cfg_.list_ahead_workers);
  prefetcher_ = std::make_unique<Prefetcher>(
      prefetch, [this](uint64_t ino, uint64_t off, uint64_t len) { return warm(ino, off, len); });
}

Filesystem::~Filesystem() {
  prefetcher_.reset();  // stop workers before the state they use goes away
  list_ahead_.reset();
  if (cfg_.on_close) cfg_.on_close(ns_);
  for (auto& [ino, lc] : local_) close_fd(lc->fd.load());
  for (size_t i = 0; i < sources_.size(); ++i) delete sources_.at(static_cast<uint32_t>(i))->load();
}

cache::BlockSource& Filesystem::source_of(const Inode& n) {
  if (n.ino > sources_.size()) {  // the tree grew (a lazy listing): slots for the new inodes
    std::lock_guard lk(sources_mu_);
    // One at a time: a run never starts at a new chunk boundary, so index = ino - 1 holds.
    while (sources_.size() < ns_.inode_count()) sources_.append_n(1);
  }
  std::atomic<cache::BlockSource*>& slot = *sources_.at_mut(n.ino - 1);
  if (cache::BlockSource* s = slot.load(std::memory_order_acquire)) return *s;
  std::unique_ptr<cache::BlockSource> opened = source_.open(ns_, n);
  cache::BlockSource* expected = nullptr;
  if (slot.compare_exchange_strong(expected, opened.get(), std::memory_order_acq_rel)) return *opened.release();
  return *expected;  // another reader opened it first
}

void Filesystem::add_local_copy(uint64_t ino, std::string path) {
  auto lc = std::make_unique<LocalCopy>();
  lc->path = std::move(path);
  local_[ino] = std::move(lc);
}

int Filesystem::local_fd(uint64_t ino) {
  if (local_.empty()) return -1;
  auto it = local_.find(ino);
  if (it == local_.end()) return -1;
  int fd = it->second->fd.load(std::memory_order_acquire);
  if (fd >= 0) return fd;
  int nfd = ::open(it->second->path.c_str(), O_RDONLY | O_CLOEXEC);
  if (nfd < 0) return -1;
  int expected = -1;
  if (!it->second->fd.compare_exchange_strong(expected, nfd)) {
    close_fd(nfd);
    return expected;
  }
  return nfd;
}

Status Filesystem::warm(uint64_t ino, uint64_t offset, uint64_t len) {
  const Inode* n = ns_.get(ino);
  if (!n || n->is_dir || offset >= n->size) return Status::ok();
  if (local_fd(ino) >= 0) return Status::ok();
  len = std::min<uint64_t>(len, n->size - offset);
  // Cached ranges too: prefetch() then starts reading them from the cache file's disk.
  return cache_.prefetch(ns_.file_ref(*n), offset, len, source_of(*n));
}

Attr Filesystem::attr_of(const Inode& n) const {
  Attr a;
  a.ino = n.ino;
  a.is_dir = n.is_dir;
  a.size = n.is_dir ? 0 : n.size;
  a.mode = n.is_dir ? (S_IFDIR | 0555) : (S_IFREG | 0444);
  if (n.is_dir && !ns_.listed(n)) {
    a.nlink = 1;  // not listed yet: "unknown", which find(1) and fts take as no leaf count
  } else if (n.is_dir) {
    uint32_t subdirs = 0;
    for (auto c : ns_.children(n)) subdirs += ns_.get(c)->is_dir ? 1 : 0;
    a.nlink = 2 + subdirs;
  }
  a.mtime = cfg_.mtime;
  a.uid = cfg_.uid;
  a.gid = cfg_.gid;
  a.blocks512 = (a.size + 511) / 512;
  return a;
}

Result<Attr> Filesystem::lookup(uint64_t parent, std::string_view name) {
  const Inode* dir = ns_.get(parent);
  if (!dir) return not_found(parent);
  if (!dir->is_dir) return Status(Errc::kInvalidInput, "not a directory");
  if (Status s = ns_.ensure_listed(*dir); !s) return s;
  const Inode* n = ns_.lookup(parent, name);
  if (!n) return Status(Errc::kEntryNotFound, std::string(name));
  return attr_of(*n);
}

Result<Attr> Filesystem::getattr(uint64_t ino) {
  const Inode* n = ns_.get(ino);
  if (!n) return not_found(ino);
  return attr_of(*n);
}

Status Filesystem::readdir(uint64_t ino, uint64_t offset, DirFiller& out) {
  const Inode* d = ns_.get(ino);
  if (!d) return not_found(ino);
  if (!d->is_dir) return Status(Errc::kInvalidInput, "not a directory");
  if (Status s = ns_.ensure_listed(*d); !s) return s;
  if (offset == 0 && list_ahead_) list_ahead_->on_readdir(*d);
  const auto children = ns_.children(*d);
  auto item_at = [&](uint64_t i) {
    if (i == 0) return DirItem{".", d->ino, true};
    if (i == 1) return DirItem{"..", d->parent, true};
    const Inode* n = ns_.get(children[i - 2]);
    return DirItem{ns_.name(*n), n->ino, n->is_dir};
  };
  auto attr = [&](const DirItem& c) -> Result<Attr> { return attr_of(*ns_.get(c.ino)); };
  fill_dir_page(out, offset, children.size() + 2, item_at, attr);
  return Status::ok();
}

Result<OpenReply> Filesystem::open(uint64_t ino, int flags, BackingFiles& kernel) {
  const Inode* n = ns_.get(ino);
  if (!n) return not_found(ino);
  if (n->is_dir) return Status(Errc::kInvalidInput, "is a directory");
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_TRUNC | O_APPEND | O_CREAT)))
    return Status(Errc::kReadOnly, "read-only filesystem");
  const uint64_t epoch = cache_.corrupt_epoch(ns_.file_ref(*n));
  return opens_.open(ino, epoch, kernel, [this, n] { return pin_whole(*n); });
}

void Filesystem::release(uint64_t ino, uint64_t fh) { opens_.release(ino, fh); }

Status Filesystem::opendir(uint64_t ino) {
  const Inode* n = ns_.get(ino);
  if (!n) return not_found(ino);
  if (!n->is_dir) return Status(Errc::kInvalidInput, "not a directory");
  return Status::ok();
}

namespace {
// A read with nowhere to splice to: the caller's span.
class SpanTarget final : public ReadTarget {
 public:
  explicit SpanTarget(std::span<char> out) : out_(out) {}
  const Pipe* pipe() override { return nullptr; }
  std::span<char> buffer(size_t) override { return out_; }

 private:
  std::span<char> out_;
};
}  // namespace

Result<size_t> Filesystem::read(uint64_t ino, uint64_t offset, std::span<char> out) {
  SpanTarget to(out);
  auto r = read(ino, OpenFiles::kFhNone, offset, out.size(), to);
  if (!r) return r.status();
  return r->bytes;
}

Result<ReadDone> Filesystem::read(uint64_t ino, uint64_t fh, uint64_t offset, size_t len, ReadTarget& to) {
  const Inode* n = ns_.get(ino);
  if (!n) return not_found(ino);
  if (n->is_dir) return Status(Errc::kInvalidInput, "is a directory");
  const cache::FileRef ref = ns_.file_ref(*n);
  if (OpenFiles::needs_epoch(fh) && !OpenFiles::current(fh, cache_.corrupt_epoch(ref)))
    return Status(Errc::kIo, "the file's content failed verification after this open read it; "
                             "reopen it to read verified bytes");
  stats_.reads.fetch_add(1, std::memory_order_relaxed);
  if (offset >= n->size || len == 0) return ReadDone{};
  len = static_cast<size_t>(std::min<uint64_t>(len, n->size - offset));
  const int fd = local_fd(ino);
  if (fd < 0) {
    // Zero copy when every block is present and may be served so; 0 means "copy it instead".
    if (const Pipe* p = to.pipe()) {
      auto r = cache_.splice_present(ref, offset, len, cache::PipeFds{p->rd, p->wr});
      if (r && *r > 0) {
        prefetcher_->on_read(ino, n->size, offset, *r);
        stats_.read_bytes.fetch_add(*r, std::memory_order_relaxed);
        stats_.spliced_bytes.fetch_add(*r, std::memory_order_relaxed);
        return ReadDone{*r, true};
      }
    }
  }
  std::span<char> out = to.buffer(len).first(len);
  auto r = fd >= 0 ? read_local(*n, fd, offset, out) : read_cached(*n, ref, offset, out);
  if (!r) return r.status();
  return ReadDone{*r, false};
}

Result<size_t> Filesystem::read_local(const Inode& n, int fd, uint64_t offset, std::span<char> out) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t r = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (r <= 0) {
      stats_.read_errors.fetch_add(1, std::memory_order_relaxed);
      return Status(Errc::kIo, "reading the local copy of " + ns_.path_of(n) + " failed");
    }
    done += static_cast<size_t>(r);
  }
  stats_.local_bytes.fetch_add(done, std::memory_order_relaxed);
  stats_.read_bytes.fetch_add(done, std::memory_order_relaxed);
  return done;
}

Result<size_t> Filesystem::read_cached(const Inode& n, const cache::FileRef& ref, uint64_t offset,
                                       std::span<char> out) {
  const uint64_t ino = n.ino;
  const size_t len = out.size();
  prefetcher_->on_read(ino, n.size, offset, len);
  if (auto f = recent_failure(ino, offset, len); !f) {
    stats_.read_errors.fetch_add(1, std::memory_order_relaxed);
    return f;
  }
  auto r = cache_.read(ref, offset, out, source_of(n));
  if (!r) {
    remember_failure(ino, offset, len, r.status());
    stats_.read_errors.fetch_add(1, std::memory_order_relaxed);
    auto code = static_cast<size_t>(r.status().code());
    if (code < stats_.errors_by_code.size()) stats_.errors_by_code[code].fetch_add(1, std::memory_order_relaxed);
    return r.status();
  }
  stats_.read_bytes.fetch_add(*r, std::memory_order_relaxed);
  return *r;
}

uint64_t Filesystem::content_epoch(uint64_t ino) {
  const Inode* n = ns_.get(ino);
  if (!n || n->is_dir) return 0;
  return cache_.corrupt_epoch(ns_.file_ref(*n));
}

std::vector<uint64_t> Filesystem::inodes_of(const std::string& key) {
  std::vector<uint64_t> out;
  for (uint64_t ino = kRootIno; ino < kRootIno + ns_.inode_count(); ++ino)
    if (const Inode* n = ns_.get(ino); n && !n->is_dir && ns_.key_is(*n, key)) out.push_back(ino);
  return out;
}

std::unique_ptr<cache::FilePin> Filesystem::pin_whole(const Inode& n) {
  if (n.size == 0) return nullptr;
  std::unique_ptr<cache::FilePin> pin;
  if (int fd = local_fd(n.ino); fd >= 0) {
    int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    // A blob of the standard HF cache: immutable, nothing to hold but our own fd.
    if (own >= 0) pin = std::make_unique<cache::FilePin>(own);
  } else {
    pin = cache_.pin_complete(ns_.file_ref(n));
  }
  if (pin) stats_.passthrough_pins.fetch_add(1, std::memory_order_relaxed);
  return pin;
}

namespace {
uint64_t fail_key(uint64_t ino, uint64_t block) { return (ino << 24) ^ block; }
bool transient(Errc c) {
  return c == Errc::kTimeout || c == Errc::kNetwork || c == Errc::kServer || c == Errc::kRateLimited;
}
}  // namespace

Status Filesystem::recent_failure(uint64_t ino, uint64_t offset, size_t len) {
  std::lock_guard lk(fail_mu_);
  if (failures_.empty()) return Status::ok();
  auto now = std::chrono::steady_clock::now();
  uint64_t bs = cache_.block_size();
  for (uint64_t b = offset / bs; b <= (offset + len - 1) / bs; ++b) {
    auto it = failures_.find(fail_key(ino, b));
    if (it == failures_.end()) continue;
    if (now - it->second.first < cfg_.failure_memory) return it->second.second;
    failures_.erase(it);
  }
  return Status::ok();
}

void Filesystem::remember_failure(uint64_t ino, uint64_t offset, size_t len, const Status& s) {
  if (!transient(s.code()) || cfg_.failure_memory.count() <= 0) return;
  std::lock_guard lk(fail_mu_);
  if (failures_.size() > 4096) failures_.clear();
  auto now = std::chrono::steady_clock::now();
  uint64_t bs = cache_.block_size();
  for (uint64_t b = offset / bs; b <= (offset + len - 1) / bs; ++b) failures_[fail_key(ino, b)] = {now, s};
}

Result<std::string> Filesystem::getxattr(uint64_t ino, std::string_view name) {
  const Inode* n = ns_.get(ino);
  if (!n) return not_found(ino);
  if (name == "user.hffs.repo") return cfg_.repo;
  if (name == "user.hffs.revision") return cfg_.revision;
  if (name == "user.hffs.commit") return cfg_.commit;
  // A partial view: the subfolder, and each glob on a line of its own.
  auto lines = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& p : v) out += p + "\n";
    return out;
  };
  if (name == "user.hffs.subfolder" && !cfg_.subfolder.empty()) return cfg_.subfolder;
  if (name == "user.hffs.include" && !cfg_.include.empty()) return lines(cfg_.include);
  if (name == "user.hffs.exclude" && !cfg_.exclude.empty()) return lines(cfg_.exclude);
  if (n->ino == kRootIno && name == "user.hffs.metrics" && metrics_) return metrics_();
  if (!n->is_dir) {
    if (name == "user.hffs.hash") return std::string(n->lfs ? "sha256:" : "gitsha1:") + ns_.key_hex(*n);
    if (name == "user.hffs.source") return source_.describe(ns_, *n);
    if (name == "user.hffs.cached_bytes") {
      uint64_t bs = cache_.block_size(), cached = 0;
      const cache::FileRef ref = ns_.file_ref(*n);
      for (uint64_t off = 0; off < n->size; off += bs) {
        uint64_t len = std::min<uint64_t>(bs, n->size - off);
        if (cache_.contains(ref, off, len)) cached += len;
      }
      return std::to_string(cached);
    }
  }
  return Status(Errc::kEntryNotFound, "no such attribute");
}

Result<std::vector<std::string>> Filesystem::listxattr(uint64_t ino) {
  const Inode* n = ns_.get(ino);
  if (!n) return not_found(ino);
  std::vector<std::string> names{"user.hffs.repo", "user.hffs.revision", "user.hffs.commit"};
  if (!cfg_.subfolder.empty()) names.push_back("user.hffs.subfolder");
  if (!cfg_.include.empty()) names.push_back("user.hffs.include");
  if (!cfg_.exclude.empty()) names.push_back("user.hffs.exclude");
  if (n->ino == kRootIno && metrics_) names.push_back("user.hffs.metrics");
  if (!n->is_dir) {
    names.insert(names.end(), {"user.hffs.hash", "user.hffs.source", "user.hffs.cached_bytes"});
  }
  return names;
}

}  // namespace hffs::fs
