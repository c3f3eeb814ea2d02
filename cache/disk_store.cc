#include "cache/disk_store.h"

#include "cache/usage.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <vector>

#include <spdlog/spdlog.h>

namespace hffs::cache {

namespace {
int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

bool cannot_keep(const Status& s) { return s.code() == Errc::kNoSpace || s.code() == Errc::kIo; }

int OpenFiles::make_shard_dir(const std::filesystem::path& dir) {
  int err = make_cache_dir(dir);
  if (err != ENOENT) return err;
  // data/ (or everything) was removed under us: put the layout back, then retry.
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now().time_since_epoch()).count();
  int64_t last = last_restore_ms_.load(std::memory_order_relaxed);
  if (now - last < 1000 || !last_restore_ms_.compare_exchange_strong(last, now)) return err;
  if (auto s = restore_layout(root_, block_size_); !s) return err;
  spdlog::info("cache: recreated the layout of {} (it was removed)", root_.string());
  if (auto s = UsageFile::reopen_all(root_, block_size_); !s)
    spdlog::warn("cache: {}: counting in the removed usage file until restart", s.message());
  return make_cache_dir(dir);
}

void OpenFiles::note_create(const Status& s) {
  if (s.is_ok() && !failing_.load(std::memory_order_relaxed)) return;
  std::string cause;
  if (!s) {
    auto colon = s.message().rfind(": ");
    cause = colon == std::string::npos ? s.message() : s.message().substr(colon + 2);
  }
  std::lock_guard lk(cond_mu_);
  if (cause == cond_) return;
  if (cause.empty())
    spdlog::info("cache: keeping fetched files in {} again", root_.string());
  else
    spdlog::warn("cache: cannot keep fetched files in {} ({}): reads are served from the network, nothing is "
                 "kept until this is resolved",
                 root_.string(), s.message());
  cond_ = cause;
  failing_.store(!cause.empty(), std::memory_order_relaxed);
}

uint64_t block_count(uint64_t size, uint32_t block_size) { return (size + block_size - 1) / block_size; }

uint64_t CacheFile::block_len(uint64_t b) const {
  return std::min<uint64_t>(block_size, size - block_offset(b));
}

bool CacheFile::all_present() {
  // Blocks are dropped (verify, eviction, by any process) only after a generation bump: a hint
  // from another generation is worthless.
  uint32_t gen = map->generation();
  bool same = hint_gen.load(std::memory_order_relaxed) == gen;
  uint64_t i = same ? scan_hint.load(std::memory_order_relaxed) : 0;
  while (i < nblocks && map->present(i)) ++i;
  if (map->generation() != gen) return false;
  if (!same) {
    scan_hint.store(i, std::memory_order_relaxed);
    hint_gen.store(gen, std::memory_order_relaxed);
  } else {
    uint64_t cur = scan_hint.load(std::memory_order_relaxed);
    while (cur < i && !scan_hint.compare_exchange_weak(cur, i, std::memory_order_relaxed)) {
    }
  }
  return i == nblocks;
}

Status CacheFile::pread_all(std::span<char> out, uint64_t offset) const {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(data_fd.get(), out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status(errno, "reading " + paths.data.string());
    if (n == 0) return Status(Errc::kIo, "unexpected end of " + paths.data.string());
    done += static_cast<size_t>(n);
  }
  return Status::ok();
}

Status CacheFile::pwrite_all(std::span<const char> in, uint64_t offset) const {
  size_t done = 0;
  while (done < in.size()) {
    ssize_t n = ::pwrite(data_fd.get(), in.data() + done, in.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status(errno, "writing " + paths.data.string());
    if (n == 0) return Status(Errc::kIo, "short write to " + paths.data.string());
    done += static_cast<size_t>(n);
  }
  return Status::ok();
}

Result<std::shared_ptr<CacheFile>> OpenFiles::open_file(const FileRef& ref, bool create) {
  auto f = std::make_shared<CacheFile>();
  f->key = ref.key;
  f->kind = ref.kind;
  f->size = ref.size;
  f->block_size = block_size_;
  f->nblocks = block_count(ref.size, block_size_);
  f->paths = key_paths(root_, ref.key);

  // A lookup that will not create needs no lock to learn that the map is absent: without the
  // pair there is nothing to see whole, and taking layout.lock (open, flock, close) for each
  // lookup of a file not cached yet cost more than the lookup.
  if (!create && ::access(f->paths.map.c_str(), F_OK) != 0 && errno == ENOENT)
    return Status(Errc::kEntryNotFound, f->paths.map.string() + " does not exist");

  // Creation order: data file (sized) first, then the map. A published map therefore always has
  // its data file; whoever deletes entries must unlink the map first. Deleters hold layout.lock
  // exclusively: holding it shared here, we see the pair whole or not at all.
  FileLock layout(layout_lock_path(root_), /*exclusive=*/false, /*wait=*/true);
  if (!create) {
    auto m = BlockMap::open(f->paths.map, f->nblocks, block_size_, false);
    if (!m) return m.status();
    f->map = std::move(*m);
  }
  // With `create`, the data file is created exclusively first: then it is ours to size, and no map
  // can be there (one is published only after its data file exists), so the map is created
  // without trying to open one first. The shard directory is made only when it is missing.
  bool created = false;
  for (int attempt = 0; create && attempt < 2; ++attempt) {
    f->data_fd.reset(::open(f->paths.data.c_str(), O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, cache_file_mode()));
    if (f->data_fd) {
      created = true;
      break;
    }
    if (errno != ENOENT || attempt > 0) break;
    if (int err = make_shard_dir(f->paths.shard_dir); err != 0)
      return errno_status(err, "creating " + f->paths.shard_dir.string());
  }
  if (!f->data_fd && (!create || errno == EEXIST))
    f->data_fd.reset(::open(f->paths.data.c_str(), O_RDWR | O_CLOEXEC));
  if (!f->data_fd) {
    if (errno == ENOENT && !create) return Status(Errc::kEntryNotFound, f->paths.data.string() + " does not exist");
    return errno_status(errno, "opening " + f->paths.data.string());
  }
  uint64_t have = 0;
  if (created) {
    share_new_file(f->data_fd.get());
  } else {
    struct stat st {};
    if (::fstat(f->data_fd.get(), &st) != 0) return errno_status(errno, "stat " + f->paths.data.string());
    have = static_cast<uint64_t>(st.st_size);
  }
  // Another creator may be between its open and its ftruncate: extending to the same size is
  // idempotent and never loses a written block.
  if (have == 0 && ref.size > 0) {
    if (::ftruncate(f->data_fd.get(), static_cast<off_t>(ref.size)) != 0)
      return errno_status(errno, "sizing " + f->paths.data.string());
  } else if (have != ref.size) {
    return Status(Errc::kCorrupt, f->paths.data.string() + " has " + std::to_string(have) + " bytes but the file is " +
                                      std::to_string(ref.size) + " bytes");
  }
  if (create) {
    auto m = BlockMap::open(f->paths.map, f->nblocks, block_size_, true, /*absent=*/created);
    if (!m) return m.status();
    f->map = std::move(*m);
    // A map just created was last used now: no need to set its mtime again on the first read.
    if (f->map->created()) f->last_touch_ms.store(steady_ms(), std::memory_order_relaxed);
  }
  if (f->map->retired()) return Status(Errc::kIo, f->paths.map.string() + " is being removed");
  return f;
}

void OpenFiles::forget(const std::shared_ptr<CacheFile>& f) {
  std::shared_ptr<CacheFile> gone;  // closed after the mutex is released
  std::lock_guard lk(mu_);
  if (auto it = index_.find(f->key); it != index_.end() && *it->second == f) {
    gone = std::move(*it->second);
    lru_.erase(it->second);
    index_.erase(it);
  }
}

Result<std::shared_ptr<CacheFile>> OpenFiles::get(const FileRef& ref, bool create) {
  for (int attempt = 0;; ++attempt) {
    auto r = get_once(ref, create);
    if (!r || !(*r)->map->retired()) {
      // A pair retired between our open and our check: the deleter finishes under layout.lock.
      if (r || attempt >= 8 || r.status().message().find("is being removed") == std::string::npos) return r;
      continue;
    }
    forget(*r);
    if (attempt >= 8) return Status(Errc::kIo, "cache entry " + ref.key + " keeps being removed");
  }
}

Result<std::shared_ptr<CacheFile>> OpenFiles::get_once(const FileRef& ref, bool create) {
  {
    std::lock_guard lk(mu_);
    if (auto it = index_.find(ref.key); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      std::shared_ptr<CacheFile> f = *it->second;
      if (f->size != ref.size)
        return Status(Errc::kInvalidInput, "content " + ref.key + " is " + std::to_string(f->size) +
                                               " bytes, not " + std::to_string(ref.size));
      return f;
    }
  }
  auto opened = open_file(ref, create);  // syscalls: outside the mutex
  if (create && opened) note_create(Status::ok());
  if (create && !opened && cannot_keep(opened.status()) &&
      opened.status().message().find("is being removed") == std::string::npos)  // a race, not a condition
    note_create(opened.status());
  if (!opened) return opened.status();
  std::shared_ptr<CacheFile> result;
  std::vector<std::shared_ptr<CacheFile>> evicted;  // closed after the mutex is released
  {
    std::lock_guard lk(mu_);
    if (auto it = index_.find(ref.key); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);  // another thread won the race: use its copy
      result = *it->second;
      evicted.push_back(std::move(*opened));
    } else {
      result = *opened;
      lru_.push_front(std::move(*opened));
      index_[ref.key] = lru_.begin();
      while (lru_.size() > capacity_) {
        index_.erase(lru_.back()->key);
        evicted.push_back(std::move(lru_.back()));
        lru_.pop_back();
      }
    }
  }
  if (result->size != ref.size)
    return Status(Errc::kInvalidInput,
                  "content " + ref.key + " is " + std::to_string(result->size) + " bytes, not " + std::to_string(ref.size));
  return result;
}

}  // namespace hffs::cache
