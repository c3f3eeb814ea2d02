#include "cache/space.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <spdlog/spdlog.h>

namespace hffs::cache {

Space::Space(const CacheConfig& cfg, const std::filesystem::path& root, UsageFile& usage, Counters& c,
             bool use_recorded)
    : cfg_(cfg), root_(root), usage_(usage), c_(c), use_recorded_(use_recorded) {
  compute_limits();
}

Space::~Space() {
  // Ours alone: a process that recorded since keeps its record.
  if (recorded_ && usage_.replace(UsageSlot::kBoundPid, static_cast<uint64_t>(::getpid()), 0))
    usage_.set(UsageSlot::kBoundBytes, 0);
}

void Space::record_bound() {
  if (!cfg_.max_size.is_set()) return;
  usage_.set(UsageSlot::kBoundPid, 0);  // no reader pairs our bytes with another's pid
  usage_.set(UsageSlot::kBoundBytes, limits().max);
  usage_.set(UsageSlot::kBoundPid, static_cast<uint64_t>(::getpid()));
  recorded_ = true;
}

uint64_t Space::recorded_bound(pid_t* pid) const {
  auto p = static_cast<pid_t>(usage_.get(UsageSlot::kBoundPid));
  uint64_t bytes = usage_.get(UsageSlot::kBoundBytes);
  if (p <= 0 || bytes == 0) return 0;
  // EPERM: alive, another user's (a shared cache).
  if (::kill(p, 0) != 0 && errno == ESRCH) return 0;
  *pid = p;
  return bytes;
}

void Space::compute_limits() {
  auto sp = cfg_.statfs(root_);
  FsSpace fs = sp ? *sp : FsSpace{};
  uint64_t floor = cfg_.min_free.is_set() ? cfg_.min_free.resolve(fs.total)
                                          : std::min<uint64_t>(uint64_t{1} << 30, fs.total / 20);
  uint64_t max;
  BoundFrom from = BoundFrom::kDefault;
  pid_t pid = 0;
  if (cfg_.max_size.is_set()) {
    max = cfg_.max_size.resolve(fs.total);
    from = BoundFrom::kConfig;
  } else if (uint64_t rec = use_recorded_ ? recorded_bound(&pid) : 0; rec > 0) {
    max = rec;
    from = BoundFrom::kMount;
  } else {
    uint64_t have = usage_.get(UsageSlot::kPresentBytes) + fs.avail;
    max = std::min<uint64_t>(fs.total / 2, have > floor ? have - floor : 0);
    max = std::max<uint64_t>(max, uint64_t{64} * cfg_.block_size);
  }
  std::lock_guard lk(lim_mu_);
  max_bytes_ = std::max<uint64_t>(max, 1);
  min_free_ = floor;
  from_ = from;
  source_pid_ = pid;
}

Space::Limits Space::limits() const {
  std::lock_guard lk(lim_mu_);
  return {max_bytes_, min_free_};
}

BoundFrom Space::bound_from() const {
  std::lock_guard lk(lim_mu_);
  return from_;
}

pid_t Space::bound_pid() const {
  std::lock_guard lk(lim_mu_);
  return source_pid_;
}

bool Space::make_room(uint64_t len) {
  auto [max, floor] = limits();
  if (len > max) return false;  // a run bigger than the whole cache is only served
  bool over = usage_.get(UsageSlot::kPresentBytes) + len > max;
  uint64_t short_by = free_shortfall(len, floor);
  if (!over && short_by == 0) return true;
  run_evictor(len, short_by, /*wait=*/true);
  return free_shortfall(len, floor) == 0;
}

void Space::after_store() {
  // Re-check after counting (and after the stored blocks' locks are gone): if we found another
  // evictor busy before storing, it may have finished before our bytes were counted.
  if (usage_.get(UsageSlot::kPresentBytes) > limits().max) run_evictor(0, 0, /*wait=*/false);
}

void Space::enforce_bound() {
  auto [max, floor] = limits();
  if (usage_.get(UsageSlot::kPresentBytes) > max || free_shortfall(0, floor) > 0)
    run_evictor(0, free_shortfall(0, floor), /*wait=*/true);
}

uint64_t Space::free_shortfall(uint64_t len, uint64_t floor) const {
  if (floor == 0) return 0;
  auto sp = cfg_.statfs(root_);
  if (!sp) return 0;  // cannot tell: keep the bound only
  return sp->avail >= floor + len ? 0 : floor + len - sp->avail;
}

// One evictor per directory (evict.lock). A storer that would cross the bound waits for the lock
// (wait=true) and makes room itself: that is what keeps the sum over all processes within the
// bound plus the runs in flight (an evictor cannot evict blocks whose fetch holds their lock).
// Re-checks after storing do not wait: the evictor re-checks the counter after releasing the
// lock, so an overshoot that raced with its end is caught by the next pass (ours or its own).
void Space::run_evictor(uint64_t len, uint64_t short_by, bool wait) {
  for (int pass = 0; pass < 4; ++pass) {
    FileLock el(evict_lock_path(root_), true, wait);
    if (!el.locked()) return;
    evict_locked(len, short_by);
    el.unlock();
    auto [max, floor] = limits();
    short_by = free_shortfall(0, floor);
    if (usage_.get(UsageSlot::kPresentBytes) <= max && short_by == 0) return;
  }
}

EvictTotals Space::evict_locked(uint64_t len, uint64_t short_by) {
  const uint64_t max = limits().max;
  uint64_t low = max - max / 10;
  if (len < max) low = std::min(low, max - len);
  else low = 0;
  uint64_t now = usage_.get(UsageSlot::kPresentBytes);
  uint64_t target = low;
  if (short_by > 0) target = std::min(target, now > short_by ? now - short_by : 0);
  auto t = evict_lru(root_, cfg_.block_size, usage_, [&] { return usage_.get(UsageSlot::kPresentBytes) <= target; });
  bump(c_.evictions);
  bump(c_.evicted_bytes, t.bytes);
  if (t.bytes) spdlog::debug("cache: evicted {} bytes ({} blocks, {} files removed, {} busy)", t.bytes, t.blocks,
                             t.files_removed, t.busy_blocks);
  return t;
}

}  // namespace hffs::cache
