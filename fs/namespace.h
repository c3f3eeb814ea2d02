// The pinned repo tree mapped to inodes. Immutable after build(); lock-free reads.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cache/file_ref.h"
#include "common/sha.h"
#include "common/status.h"
#include "hubapi/types.h"

namespace hffs::fs {

inline constexpr uint64_t kRootIno = 1;

struct Inode {
  uint64_t ino = 0;
  uint64_t parent = 0;
  std::string name;  // "" for the root
  bool is_dir = false;
  uint64_t size = 0;
  // Files only.
  std::string path;         // repo path ("a/b/c.bin")
  std::string content_key;  // LFS sha256 or git blob sha1 (lowercase hex)
  HashKind hash_kind = HashKind::kSha256;
  bool lfs = false;
  // Directories only: child inode numbers sorted by name.
  std::vector<uint64_t> children;

  // How the block cache knows this file (files only).
  cache::FileRef file_ref() const { return cache::FileRef{content_key, hash_kind, size}; }
};

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

 private:
  std::vector<Inode> inodes_;  // index = ino - 1
  uint64_t total_bytes_ = 0;
  uint64_t file_count_ = 0;
};

}  // namespace hffs::fs
