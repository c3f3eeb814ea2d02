#include "cache/evict.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "cache/block_map.h"
#include "common/fd.h"

namespace hffs::cache {

namespace {

void punch(int fd, uint64_t off, uint64_t len) {
  (void)::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off), static_cast<off_t>(len));
}

}  // namespace

namespace {

// Deletes a pair left with no block (retired flag, map, then data, under layout.lock). Caller
// holds every block lock of `m`. True when removed.
bool remove_if_empty(BlockMap& m, const MapEntry& e, EvictTotals& t) {
  for (uint64_t b = 0; b < e.nblocks; ++b)
    if (m.state(b) != kAbsent) return false;
  FileLock layout(layout_lock_path(e.map.parent_path().parent_path().parent_path()), true, true);
  m.retire();  // open handles elsewhere reopen; fetchers holding it store nothing
  ::unlink(e.map.c_str());  // map first: a published map always has its data
  ::unlink(e.data.c_str());
  ++t.files_removed;
  return true;
}

}  // namespace

void evict_pair(const MapEntry& e, uint32_t bs, UsageFile& usage, const EvictPass& pass, EvictTotals& t) {
  // Our own open of the map: our OFD locks exclude this process's fetchers too.
  auto mr = BlockMap::open(e.map, e.nblocks, bs, false);
  if (!mr) return;
  BlockMap& m = **mr;
  if (m.retired()) return;
  // Open for kernel passthrough somewhere: every block is in use (released when our map closes).
  if (!m.try_pin(true)) {
    for (uint64_t b = 0; b < e.nblocks; ++b) t.busy_blocks += m.state(b) != kAbsent;
    return;
  }
  UniqueFd data(::open(e.data.c_str(), O_RDWR | O_CLOEXEC));
  if (!data) return;
  const int fd = data.get();
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (static_cast<uint64_t>(st.st_size) + bs - 1) / bs != e.nblocks) return;
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  struct stat mst {};
  bool have_mtime = ::stat(e.map.c_str(), &mst) == 0;

  const uint64_t n = e.nblocks;
  const uint64_t evicted_before = t.bytes;
  const bool whole = m.try_lock(0, n ? n : 1);
  const bool punch_unmarked = pass.punch_unmarked && whole;  // only blocks nobody is writing (we hold every lock)
  bool bumped = false, any_left = false;
  for (uint64_t b = 0; b < n; ++b) {
    uint64_t off = b * bs, len = std::min<uint64_t>(bs, size - off);
    if (m.state(b) == kAbsent) {
      if (punch_unmarked) punch(fd, off, len);
      continue;
    }
    if (pass.enough()) {
      any_left = true;
      if (punch_unmarked) continue;
      break;
    }
    if (!whole && !m.try_lock(b, 1)) {
      ++t.busy_blocks;
      any_left = true;
      continue;
    }
    if (!bumped) {
      m.bump_generation();  // before any byte is cleared: readers' seqlock
      bumped = true;
    }
    if (m.exchange(b, kAbsent) != kAbsent) {
      usage.sub(UsageSlot::kPresentBytes, len);
      usage.add(UsageSlot::kEvictedBytes, len);
      usage.add(UsageSlot::kEvictedBlocks, 1);
      t.bytes += len;
      ++t.blocks;
    }
    punch(fd, off, len);  // after the map byte: a reader never sees present + hole
    if (!whole) m.unlock(b, 1);
  }
  if (punch_unmarked) {
    struct stat after {};
    if (::fstat(fd, &after) == 0 && after.st_blocks < st.st_blocks) {
      uint64_t freed = static_cast<uint64_t>(st.st_blocks - after.st_blocks) * 512;
      uint64_t evicted = t.bytes - evicted_before;
      if (freed > evicted) t.punched_bytes += freed - evicted;
    }
  }
  if (whole && !any_left && pass.remove_empty && remove_if_empty(m, e, t)) have_mtime = false;
  // Our map writes moved its mtime; put the file back where it was in the LRU order.
  if (have_mtime && bumped) {
    struct timespec ts[2] = {mst.st_atim, mst.st_mtim};
    ::utimensat(AT_FDCWD, e.map.c_str(), ts, 0);
  }
  if (whole) m.unlock(0, n ? n : 1);
}

EvictTotals evict_lru(const std::filesystem::path& root, uint32_t bs, UsageFile& usage,
                      const std::function<bool()>& enough) {
  EvictTotals t;
  if (enough()) return t;
  auto maps = list_maps(root);
  std::sort(maps.begin(), maps.end(), [](const MapEntry& a, const MapEntry& b) {
    if (a.mtime.tv_sec != b.mtime.tv_sec) return a.mtime.tv_sec < b.mtime.tv_sec;
    return a.mtime.tv_nsec < b.mtime.tv_nsec;
  });
  for (const auto& e : maps) {
    if (enough()) break;
    evict_pair(e, bs, usage, EvictPass{enough, /*remove_empty=*/true, /*punch_unmarked=*/false}, t);
  }
  return t;
}

}  // namespace hffs::cache
