#include "common/sha.h"

#include <openssl/evp.h>

#include <stdexcept>
#include <string>

namespace hffs {

struct ContentHasher::Impl {
  EVP_MD_CTX* ctx = nullptr;
};

ContentHasher::ContentHasher(HashKind kind, uint64_t total_size) : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  if (!impl_->ctx) throw std::bad_alloc();
  EVP_DigestInit_ex(impl_->ctx, kind == HashKind::kSha256 ? EVP_sha256() : EVP_sha1(), nullptr);
  if (kind == HashKind::kGitSha1) {
    std::string hdr = "blob " + std::to_string(total_size);
    hdr.push_back('\0');
    update(hdr.data(), hdr.size());
  }
}

ContentHasher::~ContentHasher() { EVP_MD_CTX_free(impl_->ctx); }

void ContentHasher::update(const void* data, size_t len) { EVP_DigestUpdate(impl_->ctx, data, len); }

std::string ContentHasher::hex_digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(impl_->ctx, md, &n);
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (unsigned i = 0; i < n; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 15]);
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  ContentHasher h(HashKind::kSha256, data.size());
  h.update(data.data(), data.size());
  return h.hex_digest();
}

std::string git_blob_sha1_hex(std::string_view data) {
  ContentHasher h(HashKind::kGitSha1, data.size());
  h.update(data.data(), data.size());
  return h.hex_digest();
}

}  // namespace hffs
