#include "fs/view.h"

#include <algorithm>
#include <utility>

namespace hffs::fs {

namespace {
// Room left above a lazy tree's numbers at a switch: a lookup that was listing a directory of the
// old tree when the switch happened may still add that directory's entries to it.
constexpr uint64_t kLazyMargin = uint64_t{1} << 20;

uint64_t files_below(const Namespace& ns, const Inode& n) {
  if (!n.is_dir) return 1;
  uint64_t c = 0;
  std::vector<uint32_t> todo{n.ino};
  while (!todo.empty()) {
    const Inode* d = ns.get(todo.back());
    todo.pop_back();
    for (uint32_t k : ns.children(*d)) {  // only what was listed: the rest the kernel never saw
      const Inode* x = ns.get(k);
      if (x->is_dir) todo.push_back(k);
      else ++c;
    }
  }
  return c;
}

bool same_file(const View& a, const Inode& x, const View& b, const Inode& y) {
  return !x.is_dir && !y.is_dir && x.size == y.size && x.lfs == y.lfs && a.ns.key_hex(x) == b.ns.key_hex(y);
}
}  // namespace

View::View(Namespace tree, std::string commit_sha, int64_t commit_mtime, RepoSource& src)
    : ns(std::move(tree)), commit(std::move(commit_sha)), mtime(commit_mtime), source(src), sources_(14) {
  sources_.append_n(ns.inode_count());
}

View::~View() {
  list_ahead.reset();  // its workers list into ns
  if (on_close) on_close(ns);
  for (size_t i = 0; i < sources_.size(); ++i) delete sources_.at(static_cast<uint32_t>(i))->load();
}

uint32_t View::local_of(uint64_t kernel) const {
  if (kernel == kRootIno) return kRootIno;
  const uint64_t count = ns.inode_count();
  if (base == 0) return kernel <= count ? static_cast<uint32_t>(kernel) : 0;
  if (kernel > base) {
    const uint64_t local = kernel - base;
    if (local <= kRootIno || local > count) return 0;
    return kernel_of(static_cast<uint32_t>(local)) == kernel ? static_cast<uint32_t>(local) : 0;
  }
  auto it = std::lower_bound(by_kernel.begin(), by_kernel.end(), std::make_pair(kernel, uint32_t{0}));
  return it != by_kernel.end() && it->first == kernel ? it->second : 0;
}

cache::BlockSource& View::source_of(const Inode& n) {
  if (n.ino > sources_.size()) {  // the tree grew (a lazy listing): slots for the new inodes
    std::lock_guard lk(sources_mu_);
    // One at a time: a run never starts at a new chunk boundary, so index = ino - 1 holds.
    while (sources_.size() < ns.inode_count()) sources_.append_n(1);
  }
  std::atomic<cache::BlockSource*>& slot = *sources_.at_mut(n.ino - 1);
  if (cache::BlockSource* s = slot.load(std::memory_order_acquire)) return *s;
  std::unique_ptr<cache::BlockSource> opened = source.open(ns, n);
  cache::BlockSource* expected = nullptr;
  if (slot.compare_exchange_strong(expected, opened.get(), std::memory_order_acq_rel)) return *opened.release();
  return *expected;  // another reader opened it first
}

namespace {
size_t my_stripe(size_t n) {
  static std::atomic<size_t> next{0};
  static thread_local const size_t mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine % n;
}
}  // namespace

std::shared_ptr<View> ViewCell::load() const {
  const Slot& s = slots_[my_stripe(kStripes)];
  std::lock_guard lk(s.mu);
  return s.v;
}

std::shared_ptr<View> ViewCell::latest() const {
  std::lock_guard lk(latest_mu_);
  return latest_;
}

void ViewCell::store(std::shared_ptr<View> v) {
  {
    std::lock_guard lk(latest_mu_);
    latest_ = v;
    latest_raw_.store(v.get(), std::memory_order_release);
  }
  for (Slot& s : slots_) {
    std::shared_ptr<View> old;  // freed outside the slot's lock
    std::lock_guard lk(s.mu);
    old = std::exchange(s.v, v);
  }
}

SwitchReport diff_views(const View& prev, View& next) {
  SwitchReport rep;
  rep.old_commit = prev.commit;
  rep.new_commit = next.commit;
  next.base = std::max<uint64_t>(prev.high() + (prev.ns.complete() ? 0 : kLazyMargin), 1);
  next.carried.assign(next.ns.inode_count(), View::Carried{});
  next.by_kernel.clear();
  const Namespace& pn = prev.ns;
  const Namespace& nn = next.ns;
  // Pairs of directories carried over (same kernel number), walked by merging sorted children.
  std::vector<std::pair<uint32_t, uint32_t>> todo{{kRootIno, kRootIno}};
  bool root_listed_changed = false;
  while (!todo.empty()) {
    auto [pl, nl] = todo.back();
    todo.pop_back();
    const Inode& pd = *pn.get(pl);
    const Inode& nd = *nn.get(nl);
    const uint64_t kdir = prev.kernel_of(pl);
    // An unlisted old directory: the kernel never saw anything in it, so nothing to forget.
    const bool seen = pn.listed(pd);
    auto pk = pn.children(pd);
    auto nk = nn.children(nd);
    bool changed = false;
    auto forget = [&](std::string_view name) {
      changed = true;
      if (seen) rep.inval.entries.emplace_back(kdir, std::string(name));
    };
    size_t i = 0, j = 0;
    while (i < pk.size() || j < nk.size()) {
      const Inode* a = i < pk.size() ? pn.get(pk[i]) : nullptr;
      const Inode* b = j < nk.size() ? nn.get(nk[j]) : nullptr;
      int cmp = !a ? 1 : !b ? -1 : pn.name(*a).compare(nn.name(*b));
      if (cmp < 0) {  // gone
        rep.removed += files_below(pn, *a);
        forget(pn.name(*a));
        ++i;
      } else if (cmp > 0) {  // new
        rep.added += files_below(nn, *b);
        forget(nn.name(*b));
        ++j;
      } else {
        if (same_file(prev, *a, next, *b)) {
          next.carried[b->ino - 1] = {prev.kernel_of(a->ino), prev.mtime_of(a->ino)};
          ++rep.unchanged;
        } else if (a->is_dir && b->is_dir && nn.listed(*b)) {
          next.carried[b->ino - 1] = {prev.kernel_of(a->ino), prev.mtime_of(a->ino)};
          todo.emplace_back(a->ino, b->ino);
        } else {
          if (!a->is_dir && !b->is_dir) {
            ++rep.changed;
          } else {
            rep.removed += files_below(pn, *a);
            rep.added += files_below(nn, *b);
          }
          forget(nn.name(*b));
        }
        ++i;
        ++j;
      }
    }
    if (changed && seen) {
      rep.inval.inodes.push_back(kdir);  // its link count and the kernel's cached listing
      if (kdir == kRootIno) root_listed_changed = true;
    }
  }
  // The root's mtime is the commit's: its attributes change at every switch.
  if (!root_listed_changed) rep.inval.inodes.push_back(kRootIno);
  for (uint32_t l = 0; l < next.carried.size(); ++l)
    if (next.carried[l].ino) next.by_kernel.emplace_back(next.carried[l].ino, l + 1);
  std::sort(next.by_kernel.begin(), next.by_kernel.end());
  return rep;
}

}  // namespace hffs::fs
