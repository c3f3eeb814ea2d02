#include "cache/usage.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "cache/block_map.h"
#include "cache/cache_dir.h"

namespace hffs::cache {

namespace fsys = std::filesystem;

namespace {

constexpr char kUsageMagic[8] = {'H', 'F', 'F', 'S', 'U', 'S', 'E', '1'};
constexpr size_t kUsageLen = 4096;

Status create_usage(const fsys::path& path, uint64_t present) {
  std::string tmp = temp_name_for(path);
  UniqueFd fd(::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, cache_file_mode()));
  if (!fd) return errno_status(errno, "creating " + tmp);
  share_new_file(fd.get());
  unsigned char buf[16] = {};
  std::memcpy(buf, kUsageMagic, 8);
  std::memcpy(buf + 8, &present, 8);
  bool ok = ::pwrite(fd.get(), buf, sizeof buf, 0) == static_cast<ssize_t>(sizeof buf) &&
            ::ftruncate(fd.get(), static_cast<off_t>(kUsageLen)) == 0;
  int err = ok ? 0 : (errno ? errno : EIO);
  fd.reset();
  if (!ok) {
    ::unlink(tmp.c_str());
    return errno_status(err, "initialising " + tmp);
  }
  auto pub = publish_no_replace(tmp, path);
  return pub ? Status::ok() : pub.status();
}

}  // namespace

namespace {
std::mutex g_live_mu;
std::vector<UsageFile*> g_live;  // every UsageFile of this process, for reopen_all
}  // namespace

UsageFile::UsageFile(fsys::path root, UniqueFd fd, uint64_t* base)
    : root_(std::move(root)), base_(base), fd_(std::move(fd)) {
  std::lock_guard lk(g_live_mu);
  g_live.push_back(this);
}

Result<std::unique_ptr<UsageFile>> UsageFile::open(const fsys::path& root, uint32_t block_size) {
  auto m = map_file(root, block_size);
  if (!m) return m.status();
  return std::unique_ptr<UsageFile>(new UsageFile(root, std::move(m->first), m->second));
}

Status UsageFile::reopen_all(const fsys::path& root, uint32_t block_size) {
  std::lock_guard lk(g_live_mu);
  for (UsageFile* u : g_live) {
    if (u->root_ != root) continue;
    auto m = map_file(root, block_size);
    if (!m) return m.status();
    std::lock_guard ulk(u->mu_);
    u->replaced_.emplace_back(std::move(u->fd_), u->base_.exchange(m->second, std::memory_order_acq_rel));
    u->fd_ = std::move(m->first);
  }
  return Status::ok();
}

Result<std::pair<UniqueFd, uint64_t*>> UsageFile::map_file(const fsys::path& root, uint32_t block_size) {
  fsys::path path = root / "usage";
  for (int attempt = 0; attempt < 4; ++attempt) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd) {
      if (errno != ENOENT) return errno_status(errno, "opening " + path.string());
      // Missing (first use, or deleted to force a recount): count what the maps say.
      if (auto s = create_usage(path, recount_present(root, block_size)); !s) return s;
      continue;
    }
    struct stat st {};
    bool good = ::fstat(fd.get(), &st) == 0 && static_cast<size_t>(st.st_size) == kUsageLen;
    void* p = good ? ::mmap(nullptr, kUsageLen, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0) : MAP_FAILED;
    if (p != MAP_FAILED && std::memcmp(p, kUsageMagic, 8) == 0)
      return std::pair<UniqueFd, uint64_t*>(std::move(fd), static_cast<uint64_t*>(p));
    if (p != MAP_FAILED) ::munmap(p, kUsageLen);
    fd.reset();
    // Not a usage file (torn by a crash during creation is impossible: it is published whole).
    // Replace it: unlink and recreate; a concurrent opener does the same, one of them wins.
    ::unlink(path.c_str());
  }
  return Status(Errc::kIo, path.string() + " could not be opened");
}

UsageFile::~UsageFile() {
  {
    std::lock_guard lk(g_live_mu);
    g_live.erase(std::find(g_live.begin(), g_live.end(), this));
  }
  ::munmap(base(), kUsageLen);
  for (auto& r : replaced_) ::munmap(r.second, kUsageLen);  // their fds close with replaced_
}

uint64_t UsageFile::get(UsageSlot s) const {
  return std::atomic_ref<uint64_t>(base()[static_cast<int>(s)]).load(std::memory_order_acquire);
}

void UsageFile::add(UsageSlot s, uint64_t n) {
  if (n) std::atomic_ref<uint64_t>(base()[static_cast<int>(s)]).fetch_add(n, std::memory_order_acq_rel);
}

void UsageFile::sub(UsageSlot s, uint64_t n) {
  std::atomic_ref<uint64_t> a(base()[static_cast<int>(s)]);
  uint64_t cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur > n ? cur - n : 0, std::memory_order_acq_rel)) {
  }
}

void UsageFile::set(UsageSlot s, uint64_t v) {
  std::atomic_ref<uint64_t>(base()[static_cast<int>(s)]).store(v, std::memory_order_release);
}

bool UsageFile::replace(UsageSlot s, uint64_t expected, uint64_t v) {
  return std::atomic_ref<uint64_t>(base()[static_cast<int>(s)]).compare_exchange_strong(expected, v,
                                                                                        std::memory_order_acq_rel);
}

void UsageFile::adjust(UsageSlot s, int64_t delta) {
  if (delta >= 0)
    add(s, static_cast<uint64_t>(delta));
  else
    sub(s, static_cast<uint64_t>(-delta));
}

std::vector<MapEntry> list_maps(const fsys::path& root) {
  std::vector<MapEntry> out;
  std::error_code ec;
  for (fsys::directory_iterator shard(root / "data", ec), end; !ec && shard != end; shard.increment(ec)) {
    std::error_code ec2;
    for (fsys::directory_iterator it(shard->path(), ec2), e2; !ec2 && it != e2; it.increment(ec2)) {
      std::string name = it->path().filename().string();
      if (name.size() < 5 || name.compare(name.size() - 4, 4, ".map") != 0) continue;
      std::string key = name.substr(0, name.size() - 4);
      if (!valid_key(key)) continue;
      struct stat st {};
      if (::stat(it->path().c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) < kMapHeaderSize) continue;
      MapEntry m;
      m.key = key;
      m.map = it->path();
      m.data = shard->path() / key;
      m.nblocks = static_cast<uint64_t>(st.st_size) - kMapHeaderSize;
      m.mtime = st.st_mtim;
      out.push_back(std::move(m));
    }
  }
  return out;
}

uint64_t present_bytes_of(const MapEntry& e, uint32_t block_size) {
  struct stat st {};
  if (::stat(e.data.c_str(), &st) != 0) return 0;
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if ((size + block_size - 1) / block_size != e.nblocks) return 0;
  UniqueFd fd(::open(e.map.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return 0;
  std::string bytes(e.nblocks, '\0');
  ssize_t n = e.nblocks ? ::pread(fd.get(), bytes.data(), bytes.size(), static_cast<off_t>(kMapHeaderSize)) : 0;
  fd.reset();
  if (n != static_cast<ssize_t>(bytes.size())) return 0;
  uint64_t total = 0;
  for (uint64_t b = 0; b < e.nblocks; ++b)
    if (bytes[b] != static_cast<char>(kAbsent))
      total += std::min<uint64_t>(block_size, size - b * block_size);
  return total;
}

uint64_t recount_present(const fsys::path& root, uint32_t block_size) {
  uint64_t total = 0;
  for (const auto& e : list_maps(root)) total += present_bytes_of(e, block_size);
  return total;
}

FileLock::FileLock(const fsys::path& path, bool exclusive, bool wait) {
  fd_.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, cache_file_mode()));
  if (!fd_) return;
  share_new_file(fd_.get());  // fails harmlessly (EPERM) on another member's file
  int op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
  int rc;
  while ((rc = ::flock(fd_.get(), op)) != 0 && errno == EINTR) {
  }
  locked_ = rc == 0;
}

void FileLock::unlock() {
  fd_.reset();  // closing the only descriptor releases the flock
  locked_ = false;
}

FileLock::~FileLock() { unlock(); }

}  // namespace hffs::cache
