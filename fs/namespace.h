// The pinned repo tree mapped to inodes; lock-free reads.
//
// Compact, for repos of a million files: one 32-byte Inode per entry, every name in one arena,
// content keys as binary digests (hex made on demand), the children of all directories in one
// array, and no per-file path (rebuilt from the parent chain). About 70 bytes per file.
//
// Two ways to fill it:
// - build(): the whole tree at once (a recursive listing, or a kept view). Inode numbers follow
//   the sorted path order: stable for a given commit.
// - lazy(): the root's entries, and a Lister that lists one directory (the Hub's non-recursive
//   tree call). A directory's entries are added the first time someone needs them
//   (ensure_listed), so a million-file dataset costs what is visited. Inode numbers are then in
//   the order directories were listed. The commit is pinned either way: what a directory holds
//   never changes once listed, and nothing is ever removed, so pointers stay valid (StableArray).
//
// A subfolder view (`hffs mount org/name/sub`) is a tree rooted at that folder: root_path() is
// its repo path, and path_of() (which the Lister, the Hub source and the HF cache use) gives
// repo paths, the root's prefixed.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/file_ref.h"
#include "common/sha.h"
#include "common/status.h"
#include "fs/stable_array.h"
#include "hubapi/types.h"

namespace hffs::fs {

inline constexpr uint64_t kRootIno = 1;

// One entry. Its name, children and content key live in the Namespace that holds it: ask the
// Namespace (name(), children(), path_of(), key_hex(), file_ref()).
struct Inode {
  uint64_t size = 0;      // files: content size; directories: 0
  uint32_t ino = 0;
  uint32_t parent = 0;    // the root is its own parent
  uint32_t name_off = 0;  // in the name arena
  uint32_t first = 0;     // directories: first child in the children array; files: key offset
  uint32_t count = 0;     // directories: number of children (kUnlisted: not listed yet);
                          // files: key length (and kind)
  uint16_t name_len = 0;
  bool is_dir = false;
  bool lfs = false;  // files: the key is the LFS sha256, else the git blob sha1

  HashKind hash_kind() const { return lfs ? HashKind::kSha256 : HashKind::kGitSha1; }
};
static_assert(sizeof(Inode) == 32, "an Inode is the per-entry cost of a mount: keep it small");

inline constexpr uint32_t kUnlisted = 0xffffffffu;

class Namespace {
 public:
  // Lists the direct children of one directory ("" = the root): entries with full repo paths.
  using Lister = std::function<Result<std::vector<hubapi::TreeEntry>>(const std::string& dir)>;

  Namespace();
  Namespace(Namespace&&) noexcept;
  Namespace& operator=(Namespace&&) noexcept;
  ~Namespace();

  // Inode numbers follow the sorted path order: stable for a given commit.
  static Result<Namespace> build(const std::vector<hubapi::TreeEntry>& entries);
  // The root's direct children now, every other directory when first needed (see above).
  // `root_path`: the repo path of the root (a subfolder view; its entries have repo paths).
  static Result<Namespace> lazy(const std::vector<hubapi::TreeEntry>& root_entries, Lister lister,
                                std::string root_path = {});
  // The repo path of the root ("" for a whole repo). Set once, before the tree is shared.
  const std::string& root_path() const { return root_path_; }
  void set_root_path(std::string p) { root_path_ = std::move(p); }

  // Directories: makes sure its children are known (lists it once, on the calling thread; callers
  // for the same directory wait for that one listing). A failed listing is tried again by the
  // next caller. Files and listed directories: ok at once.
  Status ensure_listed(const Inode& dir) const;
  bool listed(const Inode& n) const { return !n.is_dir || count_of(n) != kUnlisted; }
  // Every directory listed (always, for build()).
  bool complete() const { return unlisted_.load(std::memory_order_acquire) == 0; }
  size_t unlisted_dirs() const { return unlisted_.load(std::memory_order_acquire); }
  // The Lister of a partly listed tree read back from a kept image.
  void set_lister(Lister lister);

  const Inode* get(uint64_t ino) const;
  const Inode* lookup(uint64_t parent, std::string_view name) const;
  // "" = root. Lists the directories on the way when needed (nullptr when a listing fails).
  const Inode* find_path(std::string_view path) const;
  // Known so far (the whole tree once complete()).
  size_t inode_count() const { return count_.load(std::memory_order_acquire); }
  uint64_t total_bytes() const { return total_bytes_.load(std::memory_order_relaxed); }
  uint64_t file_count() const { return file_count_.load(std::memory_order_relaxed); }

  std::string_view name(const Inode& n) const { return {names_.at(n.name_off), n.name_len}; }
  // Directories: child inode numbers sorted by name (which is also inode order). Files and
  // directories not listed yet: empty.
  std::span<const uint32_t> children(const Inode& n) const;
  // The repo path ("a/b/c.bin"; root_path() for the root), rebuilt from the parent chain.
  std::string path_of(const Inode& n) const;
  // Files: the content key as lowercase hex (LFS sha256 or git blob sha1); "" for directories.
  std::string key_hex(const Inode& n) const;
  // Files: whether the content key is `hex` (no allocation: for scans over every inode).
  bool key_is(const Inode& n, std::string_view hex) const;
  // How the block cache knows a file.
  cache::FileRef file_ref(const Inode& n) const { return cache::FileRef{key_hex(n), n.hash_kind(), n.size}; }
  // Heap bytes the tree holds (for metrics and the memory bench).
  size_t memory_bytes() const;

  // The kept image (namespace_image.cc): the tree as it is now, listed or not, in one file that
  // reads back in one pass (a million entries in well under a second).
  Status save_image(const std::string& path) const;
  static Result<Namespace> load_image(const std::string& path);

 private:
  struct Lazy;
  static uint32_t count_of(const Inode& n) {
    return std::atomic_ref<uint32_t>(const_cast<uint32_t&>(n.count)).load(std::memory_order_acquire);
  }
  // Under lazy_->mu: adds `dir`'s children from its listing and publishes them.
  Status add_children(Inode& dir, std::vector<hubapi::TreeEntry> entries) const;
  Inode* node(uint32_t ino) const { return inodes_.at_mut(ino - 1); }

  // Mutable: a lazy tree learns its directories as they are visited (the commit never changes).
  mutable StableArray<Inode> inodes_;  // index = ino - 1
  mutable StableArray<uint32_t> children_;
  mutable StableArray<char> names_;
  mutable StableArray<char> keys_;  // binary digests, or the key's own text when it is not hex
  mutable std::atomic<uint32_t> count_{0};
  mutable std::atomic<uint64_t> total_bytes_{0};
  mutable std::atomic<uint64_t> file_count_{0};
  mutable std::atomic<uint64_t> unlisted_{0};
  std::string root_path_;
  std::unique_ptr<Lazy> lazy_;
};

}  // namespace hffs::fs
