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
    : cache_(cache), cfg_(std::move(cfg)) {
  auto v = std::make_shared<View>(std::move(ns), cfg_.commit, cfg_.mtime, source);
  v->on_close = cfg_.on_close;
  if (!v->ns.complete()) v->list_ahead = std::make_unique<ListAhead>(v->ns, cfg_.list_ahead_workers);
  view_.store(std::move(v));
  prefetcher_ = std::make_unique<Prefetcher>(
      prefetch, [this](uint64_t ino, uint64_t off, uint64_t len) { return warm(ino, off, len); });
}

Filesystem::~Filesystem() {
  prefetcher_.reset();  // stop workers before the state they use goes away
  {
    std::lock_guard lk(held_mu_);
    held_.clear();
  }
  view_.store(nullptr);  // each view lists no more, keeps its tree (on_close), frees its sources
  for (auto& [ino, lc] : local_) close_fd(lc->fd.load());
}

Filesystem::Node Filesystem::node(uint64_t ino) const {
  Node f;
  f.view = view_.load();
  if (uint32_t local = f.view->local_of(ino)) {
    f.n = f.view->ns.get(local);
    return f;
  }
  // Not in this thread's view: a switch is being stored (the latest has it), or a file of an
  // older view is open (held_ has it).
  if (auto l = view_.latest(); l != f.view) {
    if (uint32_t local = l->local_of(ino)) {
      f.view = std::move(l);
      f.n = f.view->ns.get(local);
      return f;
    }
  }
  std::lock_guard lk(held_mu_);
  auto it = held_.find(ino);
  if (it == held_.end()) return {};
  f.view = it->second.view;
  uint32_t local = f.view->local_of(ino);
  f.n = local ? f.view->ns.get(local) : nullptr;
  return f;
}

FsSummary Filesystem::summary() {
  auto v = view_.latest();
  return {v->ns.total_bytes(), v->ns.inode_count()};
}

SwitchReport Filesystem::switch_to(ViewSpec spec) {
  auto next = std::make_shared<View>(std::move(spec.ns), std::move(spec.commit), spec.mtime, *spec.source);
  next->owned_source = std::move(spec.source);
  next->on_close = std::move(spec.on_close);
  std::shared_ptr<View> prev;
  SwitchReport rep;
  {
    std::lock_guard lk(switch_mu_);
    prev = view_.latest();
    rep = diff_views(*prev, *next);
    if (!next->ns.complete()) next->list_ahead = std::make_unique<ListAhead>(next->ns, cfg_.list_ahead_workers);
    view_.store(next);
  }
  return rep;  // `prev` goes here unless an open handle or a request in flight still holds it
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
  Node f = node(ino);
  if (!f.n || f.n->is_dir || offset >= f.n->size) return Status::ok();
  if (local_fd(ino) >= 0) return Status::ok();
  len = std::min<uint64_t>(len, f.n->size - offset);
  // Cached ranges too: prefetch() then starts reading them from the cache file's disk.
  return cache_.prefetch(f.view->ns.file_ref(*f.n), offset, len, f.view->source_of(*f.n));
}

Attr Filesystem::attr_of(const View& v, const Inode& n) const {
  const Namespace& ns = v.ns;
  Attr a;
  a.ino = v.kernel_of(n.ino);
  a.is_dir = n.is_dir;
  a.size = n.is_dir ? 0 : n.size;
  a.mode = n.is_dir ? (S_IFDIR | 0555) : (S_IFREG | 0444);
  if (n.is_dir && !ns.listed(n)) {
    a.nlink = 1;  // not listed yet: "unknown", which find(1) and fts take as no leaf count
  } else if (n.is_dir) {
    uint32_t subdirs = 0;
    for (auto c : ns.children(n)) subdirs += ns.get(c)->is_dir ? 1 : 0;
    a.nlink = 2 + subdirs;
  }
  a.mtime = v.mtime_of(n.ino);
  a.uid = cfg_.uid;
  a.gid = cfg_.gid;
  a.blocks512 = (a.size + 511) / 512;
  return a;
}

Result<Attr> Filesystem::lookup(uint64_t parent, std::string_view name) {
  // A lookup that a switch overtook is made again in the new view: the kernel must not be handed
  // a number of the old tree after the switch told it to forget that tree's changes.
  for (int attempt = 0;; ++attempt) {
    Node d = node(parent);
    if (!d.n) return not_found(parent);
    if (!d.n->is_dir) return Status(Errc::kInvalidInput, "not a directory");
    const Namespace& ns = d.view->ns;
    if (Status s = ns.ensure_listed(*d.n); !s) return s;
    const Inode* n = ns.lookup(d.n->ino, name);
    if (attempt < 2 && !current(*d.view)) continue;
    if (!n) return Status(Errc::kEntryNotFound, std::string(name));
    return attr_of(*d.view, *n);
  }
}

Result<Attr> Filesystem::getattr(uint64_t ino) {
  Node f = node(ino);
  if (!f.n) return not_found(ino);
  return attr_of(*f.view, *f.n);
}

Status Filesystem::readdir(uint64_t ino, uint64_t offset, DirFiller& out) {
  Node d;
  for (int attempt = 0;; ++attempt) {
    d = node(ino);
    if (!d.n) return not_found(ino);
    if (!d.n->is_dir) return Status(Errc::kInvalidInput, "not a directory");
    if (Status s = d.view->ns.ensure_listed(*d.n); !s) return s;
    if (attempt >= 2 || current(*d.view)) break;
  }
  const View& v = *d.view;
  const Namespace& ns = v.ns;
  if (offset == 0 && v.list_ahead) v.list_ahead->on_readdir(*d.n);
  const auto children = ns.children(*d.n);
  auto item_at = [&](uint64_t i) {
    if (i == 0) return DirItem{".", ino, true};
    if (i == 1) return DirItem{"..", v.kernel_of(d.n->parent), true};
    const Inode* n = ns.get(children[i - 2]);
    return DirItem{ns.name(*n), v.kernel_of(n->ino), n->is_dir};
  };
  auto attr = [&](const DirItem& c) -> Result<Attr> {
    uint32_t local = c.ino == ino ? d.n->ino : v.local_of(c.ino);
    return attr_of(v, *ns.get(local));
  };
  fill_dir_page(out, offset, children.size() + 2, item_at, attr);
  return Status::ok();
}

Result<OpenReply> Filesystem::open(uint64_t ino, int flags, BackingFiles& kernel) {
  Node f = node(ino);
  if (!f.n) return not_found(ino);
  if (f.n->is_dir) return Status(Errc::kInvalidInput, "is a directory");
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_TRUNC | O_APPEND | O_CREAT)))
    return Status(Errc::kReadOnly, "read-only filesystem");
  {
    std::lock_guard lk(held_mu_);
    Held& h = held_[ino];
    if (!h.view) h.view = f.view;
    ++h.opens;
  }
  const uint64_t epoch = cache_.corrupt_epoch(f.view->ns.file_ref(*f.n));
  return opens_.open(ino, epoch, kernel, [this, ino, &f] { return pin_whole(ino, f.view->ns, *f.n); });
}

void Filesystem::release(uint64_t ino, uint64_t fh) {
  opens_.release(ino, fh);
  unhold(ino);
}

void Filesystem::unhold(uint64_t ino) {
  std::shared_ptr<View> last;  // a view freed here is freed outside the lock
  std::lock_guard lk(held_mu_);
  auto it = held_.find(ino);
  if (it == held_.end()) return;
  if (--it->second.opens == 0) {
    last = std::move(it->second.view);
    held_.erase(it);
  }
}

Status Filesystem::opendir(uint64_t ino) {
  Node d = node(ino);
  const Inode* n = d.n;
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
  Node f = node(ino);
  const Inode* n = f.n;
  if (!n) return not_found(ino);
  if (n->is_dir) return Status(Errc::kInvalidInput, "is a directory");
  const cache::FileRef ref = f.view->ns.file_ref(*n);
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
  auto r = fd >= 0 ? read_local(f, fd, offset, out) : read_cached(ino, f, ref, offset, out);
  if (!r) return r.status();
  return ReadDone{*r, false};
}

Result<size_t> Filesystem::read_local(const Node& f, int fd, uint64_t offset, std::span<char> out) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t r = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (r <= 0) {
      stats_.read_errors.fetch_add(1, std::memory_order_relaxed);
      return Status(Errc::kIo, "reading the local copy of " + f.view->ns.path_of(*f.n) + " failed");
    }
    done += static_cast<size_t>(r);
  }
  stats_.local_bytes.fetch_add(done, std::memory_order_relaxed);
  stats_.read_bytes.fetch_add(done, std::memory_order_relaxed);
  return done;
}

Result<size_t> Filesystem::read_cached(uint64_t ino, const Node& f, const cache::FileRef& ref, uint64_t offset,
                                       std::span<char> out) {
  const Inode& n = *f.n;
  const size_t len = out.size();
  prefetcher_->on_read(ino, n.size, offset, len);
  if (auto f = recent_failure(ino, offset, len); !f) {
    stats_.read_errors.fetch_add(1, std::memory_order_relaxed);
    return f;
  }
  auto r = cache_.read(ref, offset, out, f.view->source_of(n));
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
  Node f = node(ino);
  if (!f.n || f.n->is_dir) return 0;
  return cache_.corrupt_epoch(f.view->ns.file_ref(*f.n));
}

std::vector<uint64_t> Filesystem::inodes_of(const std::string& key) {
  std::vector<uint64_t> out;
  auto v = view_.latest();
  const Namespace& ns = v->ns;
  for (uint64_t l = kRootIno; l < kRootIno + ns.inode_count(); ++l)
    if (const Inode* n = ns.get(l); n && !n->is_dir && ns.key_is(*n, key)) out.push_back(v->kernel_of(n->ino));
  std::lock_guard lk(held_mu_);  // files of older views still open
  for (auto& [ino, h] : held_) {
    if (h.view == v) continue;
    const Inode* n = h.view->ns.get(h.view->local_of(ino));
    if (n && !n->is_dir && h.view->ns.key_is(*n, key)) out.push_back(ino);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::unique_ptr<cache::FilePin> Filesystem::pin_whole(uint64_t ino, const Namespace& ns, const Inode& n) {
  if (n.size == 0) return nullptr;
  std::unique_ptr<cache::FilePin> pin;
  if (int fd = local_fd(ino); fd >= 0) {
    int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    // A blob of the standard HF cache: immutable, nothing to hold but our own fd.
    if (own >= 0) pin = std::make_unique<cache::FilePin>(own);
  } else {
    pin = cache_.pin_complete(ns.file_ref(n));
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
  Node f = node(ino);
  const Inode* n = f.n;
  if (!n) return not_found(ino);
  const Namespace& ns = f.view->ns;
  if (name == "user.hffs.repo") return cfg_.repo;
  if (name == "user.hffs.revision") return cfg_.revision;
  if (name == "user.hffs.commit") return f.view->commit;  // an open file of an older view: its commit
  // A partial view: the subfolder, and each glob on a line of its own.
  auto lines = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& p : v) out += p + "\n";
    return out;
  };
  if (name == "user.hffs.subfolder" && !cfg_.subfolder.empty()) return cfg_.subfolder;
  if (name == "user.hffs.include" && !cfg_.include.empty()) return lines(cfg_.include);
  if (name == "user.hffs.exclude" && !cfg_.exclude.empty()) return lines(cfg_.exclude);
  if (ino == kRootIno && name == "user.hffs.metrics" && metrics_) return metrics_();
  if (ino == kRootIno && name == "user.hffs.refresh" && refresh_) return refresh_();
  if (!n->is_dir) {
    if (name == "user.hffs.hash") return std::string(n->lfs ? "sha256:" : "gitsha1:") + ns.key_hex(*n);
    if (name == "user.hffs.source") return f.view->source.describe(ns, *n);
    if (name == "user.hffs.cached_bytes") {
      uint64_t bs = cache_.block_size(), cached = 0;
      const cache::FileRef ref = ns.file_ref(*n);
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
  Node f = node(ino);
  const Inode* n = f.n;
  if (!n) return not_found(ino);
  std::vector<std::string> names{"user.hffs.repo", "user.hffs.revision", "user.hffs.commit"};
  if (!cfg_.subfolder.empty()) names.push_back("user.hffs.subfolder");
  if (!cfg_.include.empty()) names.push_back("user.hffs.include");
  if (!cfg_.exclude.empty()) names.push_back("user.hffs.exclude");
  if (ino == kRootIno && metrics_) names.push_back("user.hffs.metrics");
  if (!n->is_dir) {
    names.insert(names.end(), {"user.hffs.hash", "user.hffs.source", "user.hffs.cached_bytes"});
  }
  return names;
}

}  // namespace hffs::fs
