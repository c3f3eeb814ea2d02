// CacheMaintenance: usage, gc, clear and verify_all over a cache directory shared with running
// mounts. Eviction goes through Space (under evict.lock), verification through the Verifier and,
// to complete a file, VerifyFirst::fill (the read path), as a reader's would.
#include "cache/maintenance.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <vector>

#include <spdlog/spdlog.h>

#include "cache/block_map.h"
#include "cache/cache_core.h"
#include "cache/cache_dir.h"
#include "cache/evict.h"

namespace hffs::cache {

namespace {

bool read_map_bytes(const MapEntry& e, std::string& out) {
  UniqueFd fd(::open(e.map.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  out.assign(e.nblocks, '\0');
  ssize_t n = e.nblocks ? ::pread(fd.get(), out.data(), out.size(), static_cast<off_t>(kMapHeaderSize)) : 0;
  return n == static_cast<ssize_t>(out.size());
}

class MaintenanceImpl final : public CacheMaintenance {
 public:
  explicit MaintenanceImpl(std::unique_ptr<CacheCore> core) : k_(std::move(core)), root_(k_->root) {}

  uint32_t block_size() const override { return k_->cfg.block_size; }

  Result<CacheUsage> usage() override {
    CacheUsage u;
    for (const auto& e : list_maps(root_)) add_pair(e, u);
    UsageFile& uf = *k_->usage;
    u.counted_bytes = uf.get(UsageSlot::kPresentBytes);
    auto [max, floor] = k_->space.limits();
    u.max_bytes = max;
    u.min_free_bytes = floor;
    u.bound_from = k_->space.bound_from();
    u.bound_pid = k_->space.bound_pid();
    if (auto sp = k_->cfg.statfs(root_)) u.fs = *sp;
    u.hit_bytes = uf.get(UsageSlot::kHitBytes);
    u.miss_bytes = uf.get(UsageSlot::kMissBytes);
    u.evicted_bytes = uf.get(UsageSlot::kEvictedBytes);
    return u;
  }

  // gc and clear: under evict.lock (one evictor at a time across processes), leftovers of dead
  // processes are removed first, then `body` runs with the lock still held.
  template <class Body>
  Result<GcReport> under_evict_lock(Body body) {
    GcReport r;
    FileLock el(evict_lock_path(root_), true, /*wait=*/true);
    if (!el.locked()) return Status(Errc::kIo, "cannot lock " + evict_lock_path(root_).string());
    r.temp_files = remove_stale_temps();
    remove_orphans(r);
    body(r);
    return r;
  }

  Result<GcReport> gc() override {
    return under_evict_lock([this](GcReport& r) {
      // Recount: the counter may have drifted (a process killed between marking a block and
      // counting it). Marks racing with the scan make the correction approximate by at most what
      // was stored meanwhile.
      UsageFile& uf = *k_->usage;
      uint64_t before = uf.get(UsageSlot::kPresentBytes);
      EvictTotals t;
      uint64_t sum = 0;
      const std::function<bool()> never = [] { return true; };  // evict nothing: only clean up
      for (const auto& e : list_maps(root_)) {
        evict_pair(e, k_->cfg.block_size, uf, EvictPass{never, /*remove_empty=*/true, /*punch_unmarked=*/true}, t);
        sum += present_bytes_of(e, k_->cfg.block_size);
      }
      r.empty_files = t.files_removed;
      r.punched_bytes = t.punched_bytes;
      r.usage_drift = static_cast<int64_t>(sum) - static_cast<int64_t>(before);
      uf.adjust(UsageSlot::kPresentBytes, r.usage_drift);
      k_->space.compute_limits();
      auto [max, floor] = k_->space.limits();
      uint64_t short_by = k_->space.free_shortfall(0, floor);
      if (uf.get(UsageSlot::kPresentBytes) > max || short_by > 0) {
        auto ev = k_->space.evict_locked(0, short_by);
        r.evicted_bytes = ev.bytes;
        r.busy_blocks = ev.busy_blocks;
      }
    });
  }

  Result<GcReport> clear() override {
    return under_evict_lock([this](GcReport& r) {
      UsageFile& uf = *k_->usage;
      EvictTotals t;
      const std::function<bool()> all = [] { return false; };  // evict every block
      for (const auto& e : list_maps(root_))
        evict_pair(e, k_->cfg.block_size, uf, EvictPass{all, /*remove_empty=*/true, /*punch_unmarked=*/true}, t);
      r.evicted_bytes = t.bytes;
      r.empty_files = t.files_removed;
      r.busy_blocks = t.busy_blocks;
      // Whatever is left is being fetched right now: recount exactly what remains.
      uint64_t before = uf.get(UsageSlot::kPresentBytes);
      r.usage_drift = static_cast<int64_t>(recount_present(root_, k_->cfg.block_size)) - static_cast<int64_t>(before);
      uf.adjust(UsageSlot::kPresentBytes, r.usage_drift);
    });
  }

  Result<VerifyReport> verify_all(const SourceFor& source_for) override {
    VerifyReport v;
    for (const auto& e : list_maps(root_)) {
      struct stat st {};
      if (::stat(e.data.c_str(), &st) != 0) continue;
      FileRef ref{e.key, e.key.size() == 40 ? HashKind::kGitSha1 : HashKind::kSha256, static_cast<uint64_t>(st.st_size)};
      auto f = k_->files.get(ref, false);
      if (!f) {
        ++v.errors;
        continue;
      }
      if (!(*f)->all_present() && !complete(*f, ref, source_for, v)) continue;
      ++v.checked;
      Status s = k_->verifier.judge(**f, /*force=*/true, nullptr, /*served=*/false);
      if (s) {
        ++v.ok;
      } else if (s.code() == Errc::kCorrupt) {
        ++v.corrupt;
        spdlog::error("cache: {}", s.message());
      } else {
        ++v.errors;
        spdlog::warn("cache: verifying {}: {}", e.key, s.message());
      }
    }
    return v;
  }

  void enforce_bound() override { k_->space.enforce_bound(); }

 private:
  // One pair's share of usage(): its present, verified and on-disk bytes.
  void add_pair(const MapEntry& e, CacheUsage& u) const {
    struct stat st {};
    if (::stat(e.data.c_str(), &st) != 0) return;
    const uint64_t size = static_cast<uint64_t>(st.st_size), bs = k_->cfg.block_size;
    std::string bytes;
    if (!read_map_bytes(e, bytes)) return;
    ++u.files;
    u.disk_bytes += static_cast<uint64_t>(st.st_blocks) * 512;
    bool complete = true, verified = true;
    for (uint64_t b = 0; b < e.nblocks; ++b) {
      auto v = static_cast<uint8_t>(bytes[b]);
      if (v == kAbsent) {
        complete = verified = false;
        continue;
      }
      uint64_t len = std::min<uint64_t>(bs, size - b * bs);
      if (v != kVerified) {
        verified = false;
        u.unverified_bytes += len;
      }
      ++u.blocks;
      u.bytes += len;
    }
    if (complete) ++u.complete_files;
    if (verified && e.nblocks > 0) ++u.verified_files;
  }

  // Fetches the missing blocks of an incomplete file when `source_for` names a source; false
  // (counted incomplete, with its unverified bytes) otherwise.
  bool complete(const std::shared_ptr<CacheFile>& f, const FileRef& ref, const SourceFor& source_for,
                VerifyReport& v) {
    std::unique_ptr<BlockSource> src = source_for ? source_for(ref) : nullptr;
    Status filled = src ? k_->whole.fill(f, *src) : Status(Errc::kInvalidInput, "no source");
    if (filled) {
      ++v.completed;
      return true;
    }
    if (src) spdlog::warn("cache: completing {}: {}", src->name(), filled.message());
    ++v.incomplete;
    for (uint64_t b = 0; b < f->nblocks; ++b)
      if (f->map->state(b) == kPresent) v.unverified_bytes += f->block_len(b);
    return false;
  }

  // "<final>.tmp.<pid>.<n>" of processes that no longer exist (or older than a day).
  uint64_t remove_stale_temps() {
    uint64_t n = 0;
    std::error_code ec;
    std::vector<std::filesystem::path> dirs{root_};
    for (std::filesystem::directory_iterator it(root_ / "data", ec), end; !ec && it != end; it.increment(ec))
      dirs.push_back(it->path());
    auto now = std::chrono::system_clock::now();
    for (const auto& d : dirs) {
      std::error_code ec2;
      for (std::filesystem::directory_iterator it(d, ec2), end; !ec2 && it != end; it.increment(ec2)) {
        std::string name = it->path().filename().string();
        auto pos = name.find(".tmp.");
        if (pos == std::string::npos) continue;
        long pid = std::atol(name.c_str() + pos + 5);
        bool dead = pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH);
        struct stat st {};
        bool old = ::stat(it->path().c_str(), &st) == 0 &&
                   now - std::chrono::system_clock::from_time_t(st.st_mtime) > std::chrono::hours(24);
        if ((dead || old) && ::unlink(it->path().c_str()) == 0) ++n;
      }
    }
    return n;
  }

  // Maps without data, unreadable maps, data without maps; under layout.lock (exclusive) so a
  // pair being created (data first, then map, under the shared lock) is never mistaken for one.
  void remove_orphans(GcReport& r) {
    FileLock layout(layout_lock_path(root_), true, true);
    std::error_code ec;
    for (std::filesystem::directory_iterator shard(root_ / "data", ec), end; !ec && shard != end; shard.increment(ec)) {
      std::error_code ec2;
      for (std::filesystem::directory_iterator it(shard->path(), ec2), e2; !ec2 && it != e2; it.increment(ec2)) {
        std::string name = it->path().filename().string();
        if (name.find(".tmp.") != std::string::npos) continue;
        bool is_map = name.size() > 4 && name.compare(name.size() - 4, 4, ".map") == 0;
        std::string key = is_map ? name.substr(0, name.size() - 4) : name;
        if (valid_key(key)) remove_if_orphan(key, is_map, r);
      }
    }
  }

  void remove_if_orphan(const std::string& key, bool is_map, GcReport& r) {
    KeyPaths p = key_paths(root_, key);
    struct stat ds {}, ms {};
    bool has_data = ::stat(p.data.c_str(), &ds) == 0, has_map = ::stat(p.map.c_str(), &ms) == 0;
    if (is_map) {
      bool bad = !has_data;
      if (has_data) {
        uint64_t nb = block_count(static_cast<uint64_t>(ds.st_size), k_->cfg.block_size);
        bad = !BlockMap::open(p.map, nb, k_->cfg.block_size, false).ok();
      }
      if (bad && ::unlink(p.map.c_str()) == 0) {
        ++r.orphan_maps;
        if (has_data && ::unlink(p.data.c_str()) == 0) ++r.orphan_data;
      }
    } else if (!has_map && ::unlink(p.data.c_str()) == 0) {
      ++r.orphan_data;
    }
  }

  std::unique_ptr<CacheCore> k_;
  const std::filesystem::path& root_;
};

}  // namespace

Result<std::unique_ptr<CacheMaintenance>> CacheMaintenance::open(const CacheConfig& cfg) {
  auto core = CacheCore::open(cfg, /*maintenance=*/true);
  if (!core) return core.status();
  return std::unique_ptr<CacheMaintenance>(std::make_unique<MaintenanceImpl>(std::move(*core)));
}

}  // namespace hffs::cache
