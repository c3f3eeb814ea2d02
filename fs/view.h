// One commit's tree as the kernel sees it: the Namespace, where its bytes come from, and how its
// inode numbers map to the kernel's. A mount that follows a branch (--refresh) switches from one
// View to the next (Filesystem::switch_to); the kernel's inode number of an entry that did not
// change is carried over, so its dentry, attributes and page cache stay valid.
//
// Numbering: the first View of a mount is the identity (kernel = local, today's numbers). A View
// made by a switch maps local 1 (the root) to 1, entries carried over to their old number
// (`carried`), and every other entry to local + base, where base is above every number handed
// out before: a changed or new file never reuses a number the kernel may still hold.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cache/block_source.h"
#include "fs/list_ahead.h"
#include "fs/namespace.h"
#include "fs/repo_source.h"
#include "fs/stable_array.h"

namespace hffs::fs {

// What a switch is handed: the new commit's tree and source (cli/repo_opener.cc builds it).
struct ViewSpec {
  Namespace ns;
  std::string commit;
  int64_t mtime = 0;
  std::unique_ptr<RepoSource> source;
  std::function<void(const Namespace&)> on_close;  // a lazy tree keeps what it listed
};

struct View {
  struct Carried {
    uint64_t ino = 0;   // 0: not carried (local + base)
    int64_t mtime = 0;  // the mtime the kernel knows it by (auto_inval_data: same mtime, same pages)
  };

  View(Namespace tree, std::string commit_sha, int64_t commit_mtime, RepoSource& src);
  ~View();
  View(const View&) = delete;
  View& operator=(const View&) = delete;

  // 0 when `kernel` is not an inode of this view.
  uint32_t local_of(uint64_t kernel) const;
  uint64_t kernel_of(uint32_t local) const {
    if (local == kRootIno || base == 0) return local;
    if (local - 1 < carried.size() && carried[local - 1].ino) return carried[local - 1].ino;
    return local + base;
  }
  int64_t mtime_of(uint32_t local) const {
    if (local != kRootIno && local - 1 < carried.size() && carried[local - 1].ino) return carried[local - 1].mtime;
    return mtime;
  }
  // Above every kernel number this view hands out (a lazy tree can grow: see switch_to).
  uint64_t high() const { return base + ns.inode_count(); }

  // The file's source, opened on its first read and kept (a read allocates nothing).
  cache::BlockSource& source_of(const Inode& n);

  Namespace ns;
  std::string commit;
  int64_t mtime = 0;
  RepoSource& source;
  std::unique_ptr<RepoSource> owned_source;  // a switched-to view's; the first view's is the mount's
  uint64_t base = 0;
  std::vector<Carried> carried;                        // by local - 1; empty for the first view
  std::vector<std::pair<uint64_t, uint32_t>> by_kernel;  // carried numbers, sorted: kernel -> local
  std::unique_ptr<ListAhead> list_ahead;               // lazy trees only
  std::function<void(const Namespace&)> on_close;

 private:
  StableArray<std::atomic<cache::BlockSource*>> sources_;  // by local - 1
  std::mutex sources_mu_;                                   // growing sources_ (leaf)
};

// The current View of a Filesystem as its requests take it: each copies the shared_ptr from its
// thread's slot (one of kStripes, each with its own mutex), so concurrent requests share no lock
// and a request keeps the view it started with; a switch writes every slot. (std::atomic of a
// shared_ptr was the first shape: libstdc++ 12's load releases its internal lock with relaxed
// order, which ThreadSanitizer reports as a race.)
class ViewCell {
 public:
  std::shared_ptr<View> load() const;
  // The view stored last (a thread's slot may lag it by the length of a store).
  std::shared_ptr<View> latest() const;
  bool is_latest(const View& v) const { return latest_raw_.load(std::memory_order_acquire) == &v; }
  void store(std::shared_ptr<View> v);

 private:
  static constexpr size_t kStripes = 16;
  struct alignas(64) Slot {
    mutable std::mutex mu;  // leaf
    std::shared_ptr<View> v;
  };
  Slot slots_[kStripes];
  mutable std::mutex latest_mu_;  // leaf
  std::shared_ptr<View> latest_;
  std::atomic<const View*> latest_raw_{nullptr};
};

// What the kernel must forget after a switch: entries (parent, name) that changed, appeared or
// went away, and directories whose attributes or listing changed.
struct Invalidations {
  std::vector<std::pair<uint64_t, std::string>> entries;
  std::vector<uint64_t> inodes;
};

struct SwitchReport {
  std::string old_commit, new_commit;
  uint64_t unchanged = 0, changed = 0, added = 0, removed = 0;  // files
  Invalidations inval;
};

// Fills `next`'s numbering from `prev` (carried entries, base) and says what changed. Pure: the
// unit tests drive it on two trees. A directory is carried over when the new tree has listed it
// (eager trees: all); its children are then matched by name. A file is carried over when its
// path, content key and size are the same.
SwitchReport diff_views(const View& prev, View& next);

}  // namespace hffs::fs
