#include "cache/block_map.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "cache/cache_dir.h"
#include "common/fd.h"

namespace hffs::cache {

namespace {

constexpr char kMagic[8] = {'H', 'F', 'F', 'S', 'M', 'A', 'P', '1'};
constexpr uint32_t kGenerationShift = 8;
constexpr uint32_t kRetiredFlag = 1;

// Writes a complete, zeroed map under a private name and publishes it without replacing a map
// another process published first.
Status create_map(const std::filesystem::path& path, uint64_t nblocks, uint32_t block_size) {
  std::filesystem::path tmp = temp_name_for(path);
  UniqueFd fd(::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, cache_file_mode()));
  if (!fd) return errno_status(errno, "creating " + tmp.string());
  share_new_file(fd.get());
  unsigned char header[kMapHeaderSize] = {};
  std::memcpy(header, kMagic, sizeof kMagic);
  std::memcpy(header + 8, &block_size, sizeof block_size);
  bool ok = ::pwrite(fd.get(), header, sizeof header, 0) == static_cast<ssize_t>(sizeof header) &&
            ::ftruncate(fd.get(), static_cast<off_t>(kMapHeaderSize + nblocks)) == 0;
  int err = ok ? 0 : (errno ? errno : EIO);
  fd.reset();
  if (!ok) {
    ::unlink(tmp.c_str());
    return errno_status(err, "initialising " + tmp.string());
  }
  auto pub = publish_no_replace(tmp, path);
  return pub ? Status::ok() : pub.status();
}

}  // namespace

Result<std::unique_ptr<BlockMap>> BlockMap::open(const std::filesystem::path& path, uint64_t nblocks,
                                                 uint32_t block_size, bool create) {
  UniqueFd fd;
  for (int attempt = 0; attempt < 4 && !fd; ++attempt) {
    fd.reset(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (fd) break;
    if (errno != ENOENT) return errno_status(errno, "opening " + path.string());
    if (!create) return Status(Errc::kEntryNotFound, path.string() + " does not exist");
    if (auto s = create_map(path, nblocks, block_size); !s) return s;
  }
  if (!fd) return Status(Errc::kIo, path.string() + " keeps disappearing");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_status(errno, "stat " + path.string());
  size_t len = kMapHeaderSize + nblocks;
  if (static_cast<uint64_t>(st.st_size) != len)
    return Status(Errc::kCorrupt, path.string() + " has " + std::to_string(st.st_size) + " bytes, expected " +
                                      std::to_string(len) + " (file size disagrees with the cache)");
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) return errno_status(errno, "mmap " + path.string());
  auto* base = static_cast<uint8_t*>(p);
  uint32_t recorded = 0;
  std::memcpy(&recorded, base + 8, sizeof recorded);
  if (std::memcmp(base, kMagic, sizeof kMagic) != 0 || recorded != block_size) {
    ::munmap(p, len);
    return Status(Errc::kCorrupt, path.string() + " is not a block map for block size " + std::to_string(block_size));
  }
  return std::unique_ptr<BlockMap>(new BlockMap(std::move(fd), base, len, nblocks));
}

BlockMap::~BlockMap() { ::munmap(base_, len_); }  // then fd_ closes (and its OFD locks go)

uint8_t BlockMap::state(uint64_t block) const {
  return std::atomic_ref<uint8_t>(base_[kMapHeaderSize + block]).load(std::memory_order_acquire);
}

void BlockMap::set(uint64_t block, uint8_t v) {
  std::atomic_ref<uint8_t>(base_[kMapHeaderSize + block]).store(v, std::memory_order_release);
}

bool BlockMap::promote(uint64_t block, uint8_t from, uint8_t to) {
  return std::atomic_ref<uint8_t>(base_[kMapHeaderSize + block]).compare_exchange_strong(from, to,
                                                                                        std::memory_order_acq_rel);
}

uint8_t BlockMap::exchange(uint64_t block, uint8_t v) {
  return std::atomic_ref<uint8_t>(base_[kMapHeaderSize + block]).exchange(v, std::memory_order_acq_rel);
}

bool BlockMap::retired() const {
  auto* flags = reinterpret_cast<uint32_t*>(base_ + 12);
  return (std::atomic_ref<uint32_t>(*flags).load(std::memory_order_acquire) & kRetiredFlag) != 0;
}

void BlockMap::retire() {
  auto* flags = reinterpret_cast<uint32_t*>(base_ + 12);
  std::atomic_ref<uint32_t>(*flags).fetch_add(1u << kGenerationShift, std::memory_order_acq_rel);
  std::atomic_ref<uint32_t>(*flags).fetch_or(kRetiredFlag, std::memory_order_acq_rel);
}

void BlockMap::touch() { ::futimens(fd_.get(), nullptr); }

uint32_t BlockMap::generation() const {
  auto* flags = reinterpret_cast<uint32_t*>(base_ + 12);
  return std::atomic_ref<uint32_t>(*flags).load(std::memory_order_acquire) >> kGenerationShift;
}

void BlockMap::bump_generation() {
  auto* flags = reinterpret_cast<uint32_t*>(base_ + 12);
  std::atomic_ref<uint32_t>(*flags).fetch_add(1u << kGenerationShift, std::memory_order_acq_rel);
}

Status BlockMap::lock(uint64_t first, uint64_t count) {
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(kMapHeaderSize + first);
  fl.l_len = static_cast<off_t>(count);
  while (::fcntl(fd_.get(), F_OFD_SETLKW, &fl) != 0) {
    if (errno == EINTR) continue;
    return errno_status(errno, "locking block map");
  }
  return Status::ok();
}

bool BlockMap::try_lock(uint64_t first, uint64_t count) {
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(kMapHeaderSize + first);
  fl.l_len = static_cast<off_t>(count);
  while (::fcntl(fd_.get(), F_OFD_SETLK, &fl) != 0) {
    if (errno == EINTR) continue;
    return false;
  }
  return true;
}

bool BlockMap::present_range(uint64_t first, uint64_t last) const {
  for (uint64_t b = first; b <= last; ++b)
    if (!present(b)) return false;
  return true;
}

bool BlockMap::try_pin(bool exclusive) {
  struct flock fl {};
  fl.l_type = exclusive ? F_WRLCK : F_RDLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(kMapHeaderSize + nblocks_);
  fl.l_len = 1;
  while (::fcntl(fd_.get(), F_OFD_SETLK, &fl) != 0) {
    if (errno == EINTR) continue;
    return false;
  }
  return true;
}

void BlockMap::unlock(uint64_t first, uint64_t count) {
  struct flock fl {};
  fl.l_type = F_UNLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(kMapHeaderSize + first);
  fl.l_len = static_cast<off_t>(count);
  while (::fcntl(fd_.get(), F_OFD_SETLK, &fl) != 0 && errno == EINTR) {
  }
}

MapRangeLock::MapRangeLock(BlockMap& m, uint64_t first, uint64_t count) : m_(m), first_(first), count_(count) {
  Status s = m_.lock(first, count);
  locked_ = s.is_ok();
  if (!locked_) spdlog::warn("cache: {}; fetching without cross-process exclusion", s.message());
}

MapRangeLock::~MapRangeLock() {
  if (locked_) m_.unlock(first_, count_);
}

}  // namespace hffs::cache
