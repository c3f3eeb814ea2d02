// Streaming content hashes used to verify files: sha256 (LFS) and git blob sha1 (regular files).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace hffs {

enum class HashKind { kSha256, kGitSha1 };

class ContentHasher {
 public:
  // For kGitSha1 the total size must be known up front (git hashes "blob <size>\0" first).
  ContentHasher(HashKind kind, uint64_t total_size);
  ~ContentHasher();
  ContentHasher(const ContentHasher&) = delete;
  ContentHasher& operator=(const ContentHasher&) = delete;
  void update(const void* data, size_t len);
  std::string hex_digest();  // lowercase hex; call once

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string sha256_hex(std::string_view data);
std::string git_blob_sha1_hex(std::string_view data);

}  // namespace hffs
