// The pinned repo tree mapped to inodes. Immutable after build(); lock-free reads.
//
// Compact, for repos of a million files: one 32-byte Inode per entry, every name in one arena,
// content keys as binary digests (hex made on demand), the children of all directories in one
// array, and no per-file path (rebuilt from the parent chain). About 70 bytes per file.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/file_ref.h"
#include "common/sha.h"
#include "common/status.h"
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
  uint32_t count = 0;     // directories: number of children; files: key length (and kind)
  uint16_t name_len = 0;
  bool is_dir = false;
  bool lfs = false;  // files: the key is the LFS sha256, else the git blob sha1

  HashKind hash_kind() const { return lfs ? HashKind::kSha256 : HashKind::kGitSha1; }
};
static_assert(sizeof(Inode) == 32, "an Inode is the per-entry cost of a mount: keep it small");

class Namespace {
 public:
  // Inode numbers follow the sorted path order: stable for a given commit.
  static Result<Namespace> build(const std::vector<hubapi::TreeEntry>& entries);

  const Inode* get(uint64_t ino) const;
  const Inode* lookup(uint64_t parent, std::string_view name) const;
  const Inode* find_path(std::string_view path) const;  // "" = root
  size_t inode_count() const { return inodes_.size(); }
  uint64_t total_bytes() const { return total_bytes_; }
  uint64_t file_count() const { return file_count_; }

  std::string_view name(const Inode& n) const { return std::string_view(names_).substr(n.name_off, n.name_len); }
  // Directories: child inode numbers sorted by name (which is also inode order). Files: empty.
  std::span<const uint32_t> children(const Inode& n) const;
  // The repo path ("a/b/c.bin"; "" for the root), rebuilt from the parent chain.
  std::string path_of(const Inode& n) const;
  // Files: the content key as lowercase hex (LFS sha256 or git blob sha1); "" for directories.
  std::string key_hex(const Inode& n) const;
  // Files: whether the content key is `hex` (no allocation: for scans over every inode).
  bool key_is(const Inode& n, std::string_view hex) const;
  // How the block cache knows a file.
  cache::FileRef file_ref(const Inode& n) const { return cache::FileRef{key_hex(n), n.hash_kind(), n.size}; }
  // Heap bytes the tree holds (for metrics and the memory bench).
  size_t memory_bytes() const;

 private:
  std::vector<Inode> inodes_;  // index = ino - 1
  std::vector<uint32_t> children_;
  std::string names_;
  std::string keys_;  // binary digests, or the key's own text when it is not hex of its kind's length
  uint64_t total_bytes_ = 0;
  uint64_t file_count_ = 0;
};

}  // namespace hffs::fs
