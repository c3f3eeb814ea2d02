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

// The bytes of a new map: header, then every block absent. Small maps in one write; a large one
// is sized with ftruncate (its block bytes read as zero).
bool write_new_map(int fd, uint64_t nblocks, uint32_t block_size) {
  constexpr uint64_t kOneWrite = 4096;
  unsigned char buf[kMapHeaderSize + kOneWrite] = {};
  std::memcpy(buf, kMagic, sizeof kMagic);
  std::memcpy(buf + 8, &block_size, sizeof block_size);
  if (nblocks <= kOneWrite) {
    auto len = static_cast<ssize_t>(kMapHeaderSize + nblocks);
    return ::pwrite(fd, buf, static_cast<size_t>(len), 0) == len;
  }
  return ::pwrite(fd, buf, kMapHeaderSize, 0) == static_cast<ssize_t>(kMapHeaderSize) &&
         ::ftruncate(fd, static_cast<off_t>(kMapHeaderSize + nblocks)) == 0;
}

// An unnamed file in `dir` (O_TMPFILE), written whole and then linked as `path` unless a map is
// there already: no temporary name is created and removed. An empty fd when the filesystem (or a
// missing /proc) does not allow it: the caller uses a named temporary file instead.
Result<UniqueFd> create_map_unnamed(const std::filesystem::path& path, uint64_t nblocks, uint32_t block_size,
                                    bool& lost) {
  UniqueFd fd(::open(path.parent_path().c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, cache_file_mode()));
  if (!fd) return UniqueFd{};
  share_new_file(fd.get());
  if (!write_new_map(fd.get(), nblocks, block_size)) return errno_status(errno ? errno : EIO, "initialising " + path.string());
  std::string self = "/proc/self/fd/" + std::to_string(fd.get());
  if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) == 0) return fd;
  if (errno == EEXIST) lost = true;
  return UniqueFd{};
}

// Writes a complete, zeroed map under a private name and publishes it without replacing a map
// another process published first. Returns the open map when ours was published (the same
// inode: no reopen), an empty fd when another creator's was there first.
Result<UniqueFd> create_map(const std::filesystem::path& path, uint64_t nblocks, uint32_t block_size) {
  bool lost = false;
  auto unnamed = create_map_unnamed(path, nblocks, block_size, lost);
  if (!unnamed || *unnamed || lost) return unnamed;
  std::filesystem::path tmp = temp_name_for(path);
  UniqueFd fd(::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, cache_file_mode()));
  if (!fd) return errno_status(errno, "creating " + tmp.string());
  share_new_file(fd.get());
  if (!write_new_map(fd.get(), nblocks, block_size)) {
    int err = errno ? errno : EIO;
    fd.reset();
    ::unlink(tmp.c_str());
    return errno_status(err, "initialising " + tmp.string());
  }
  auto pub = publish_no_replace(tmp, path);
  if (!pub) return pub.status();
  if (!*pub) return UniqueFd{};
  return fd;
}

}  // namespace

Result<std::unique_ptr<BlockMap>> BlockMap::open(const std::filesystem::path& path, uint64_t nblocks,
                                                 uint32_t block_size, bool create, bool absent) {
  UniqueFd fd;
  bool fresh = false;  // we created and published it: its size is ours
  for (int attempt = 0; attempt < 4 && !fd; ++attempt) {
    if (!(absent && attempt == 0)) {
      fd.reset(::open(path.c_str(), O_RDWR | O_CLOEXEC));
      if (fd) break;
      if (errno != ENOENT) return errno_status(errno, "opening " + path.string());
      if (!create) return Status(Errc::kEntryNotFound, path.string() + " does not exist");
    }
    auto made = create_map(path, nblocks, block_size);
    if (!made) return made.status();
    fresh = static_cast<bool>(*made);
    fd = std::move(*made);
  }
  if (!fd) return Status(Errc::kIo, path.string() + " keeps disappearing");
  size_t len = kMapHeaderSize + nblocks;
  if (struct stat st {}; !fresh) {
    if (::fstat(fd.get(), &st) != 0) return errno_status(errno, "stat " + path.string());
    if (static_cast<uint64_t>(st.st_size) != len)
      return Status(Errc::kCorrupt, path.string() + " has " + std::to_string(st.st_size) + " bytes, expected " +
                                        std::to_string(len) + " (file size disagrees with the cache)");
  }
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) return errno_status(errno, "mmap " + path.string());
  auto* base = static_cast<uint8_t*>(p);
  uint32_t recorded = 0;
  std::memcpy(&recorded, base + 8, sizeof recorded);
  if (std::memcmp(base, kMagic, sizeof kMagic) != 0 || recorded != block_size) {
    ::munmap(p, len);
    return Status(Errc::kCorrupt, path.string() + " is not a block map for block size " + std::to_string(block_size));
  }
  auto m = std::unique_ptr<BlockMap>(new BlockMap(std::move(fd), base, len, nblocks));
  m->created_ = fresh;
  return m;
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
