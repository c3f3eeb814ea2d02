// BlockCache over the on-disk format (cache_dir.h, block_map.h, disk_store.h) with in-process
// single-flight (single_flight.h) and cross-process OFD locks on map bytes.
//
// Lock order (outer to inner); no in-process mutex is ever held across I/O or a fetch:
//   1. single-flight claims on (key, block), taken in block order by the reading thread
//      (claims are not mutexes; a thread never waits on another's flight while it still leads one)
//   2. the OFD range lock on the claimed blocks' map bytes (one range at a time, never nested)
//   3. leaf mutexes, held for a few instructions only: single-flight shard, OpenFiles LRU,
//      Flight state, verifier queue.
#include "cache/block_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "cache/block_map.h"
#include "cache/cache_dir.h"
#include "cache/disk_store.h"
#include "cache/single_flight.h"

namespace hffs::cache {

namespace {

constexpr int kMaxRounds = 32;           // a block dropped under a reader this often is an error
constexpr size_t kHashChunk = 4u << 20;  // verify_file read size

struct Counters {
  std::atomic<uint64_t> hit_bytes{0}, miss_bytes{0}, fetches{0}, waits{0}, shared_bytes{0}, write_errors{0},
      lock_waits{0}, verified_files{0}, corrupt_files{0};
};

void bump(std::atomic<uint64_t>& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }

struct Claimed {
  uint64_t i;  // block index relative to the request's first block
  std::shared_ptr<Flight> flight;
};

class BlockCacheImpl final : public BlockCache {
 public:
  BlockCacheImpl(const CacheConfig& cfg, std::filesystem::path root)
      : cfg_(cfg), files_(std::move(root), cfg.block_size, cfg.max_open_files) {}

  ~BlockCacheImpl() override {
    {
      std::lock_guard lk(vmu_);
      vstop_ = true;
    }
    vcv_.notify_all();
    if (vthread_.joinable()) vthread_.join();
  }

  Result<size_t> read(const FileRef& file, uint64_t offset, std::span<char> out, BlockSource& src) override {
    if (!valid_key(file.key)) return Status(Errc::kInvalidInput, "invalid content key '" + file.key + "'");
    if (offset >= file.size || out.empty()) return size_t{0};
    size_t len = static_cast<size_t>(std::min<uint64_t>(out.size(), file.size - offset));
    auto f = files_.get(file, true);
    if (!f && f.status().code() == Errc::kNoSpace) return read_uncached(file, offset, out.first(len), src, f.status());
    if (!f) return f.status();
    if (auto s = read_blocks(*f, offset, out.first(len), src); !s) return s;
    return len;
  }

  bool contains(const FileRef& file, uint64_t offset, uint64_t len) override {
    if (!valid_key(file.key) || offset > file.size || len > file.size - offset) return false;
    if (len == 0) return true;
    auto f = files_.get(file, false);
    if (!f) return false;
    const uint64_t bs = cfg_.block_size;
    for (uint64_t b = offset / bs; b <= (offset + len - 1) / bs; ++b)
      if (!(*f)->map->present(b)) return false;
    return true;
  }

  CacheStats stats() const override {
    auto ld = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    CacheStats s;
    s.hit_bytes = ld(c_.hit_bytes);
    s.miss_bytes = ld(c_.miss_bytes);
    s.fetches = ld(c_.fetches);
    s.waits = ld(c_.waits);
    s.shared_bytes = ld(c_.shared_bytes);
    s.write_errors = ld(c_.write_errors);
    s.lock_waits = ld(c_.lock_waits);
    s.verified_files = ld(c_.verified_files);
    s.corrupt_files = ld(c_.corrupt_files);
    return s;
  }

  uint32_t block_size() const override { return cfg_.block_size; }

  Status verify_file(const FileRef& file) override {
    if (!valid_key(file.key)) return Status(Errc::kInvalidInput, "invalid content key '" + file.key + "'");
    if (file.size == 0) {
      ContentHasher h(file.kind, 0);
      return h.hex_digest() == file.key ? Status::ok()
                                        : Status(Errc::kCorrupt, "empty content does not hash to " + file.key);
    }
    auto f = files_.get(file, false);
    if (!f) {
      if (f.status().code() == Errc::kEntryNotFound)
        return Status(Errc::kInvalidInput, file.key + " is not fully cached");
      return f.status();
    }
    return verify_open(**f, file.kind, /*force=*/true);
  }

  void quiesce() override {
    std::unique_lock lk(vmu_);
    vcv_.wait(lk, [&] { return vqueue_.empty() && !vbusy_; });
  }

 private:
  // The cache cannot even create the file (disk full): serve straight from the source, keep nothing.
  Result<size_t> read_uncached(const FileRef& file, uint64_t offset, std::span<char> out, BlockSource& src,
                               const Status& why) {
    bump(c_.write_errors);
    spdlog::warn("cache: serving {} bytes of {} uncached: {}", out.size(), file.key, why.message());
    bump(c_.fetches);
    if (auto s = src.fetch(offset, out); !s) return s;
    bump(c_.miss_bytes, out.size());
    return out.size();
  }

  // Serves out = [offset, offset + out.size()) of f, which lies within the file.
  Status read_blocks(const std::shared_ptr<CacheFile>& fp, uint64_t offset, std::span<char> out, BlockSource& src) {
    CacheFile& f = *fp;
    const uint64_t bs = cfg_.block_size, end = offset + out.size();
    const uint64_t first = offset / bs, nb = (end - 1) / bs - first + 1;
    std::vector<char> done(nb, 0);
    uint64_t remaining = nb;

    for (int round = 0; remaining > 0; ++round) {
      if (round == kMaxRounds) return Status(Errc::kIo, "blocks of " + f.key + " keep being dropped while read");
      // 1. Present blocks, one pread per run. Seqlock on the drop generation: a block dropped
      //    (verify_file) while we read is read again rather than served as a hole.
      for (uint64_t i = 0; i < nb;) {
        uint32_t gen = f.map->generation();
        if (done[i] || !f.map->present(first + i)) {
          ++i;
          continue;
        }
        uint64_t j = i + 1;
        while (j < nb && !done[j] && f.map->present(first + j)) ++j;
        uint64_t lo = std::max((first + i) * bs, offset), hi = std::min((first + j) * bs, end);
        if (auto s = f.pread_all(out.subspan(lo - offset, hi - lo), lo); !s) return s;
        // The pread syscall orders the loads below after the data read (the compiler cannot move
        // them across the call; the kernel entry serialises the CPU).
        bool stable = f.map->generation() == gen;
        for (uint64_t k = i; k < j && stable; ++k) stable = f.map->present(first + k);
        if (stable) {
          std::fill(done.begin() + static_cast<ptrdiff_t>(i), done.begin() + static_cast<ptrdiff_t>(j), 1);
          remaining -= j - i;
          bump(c_.hit_bytes, hi - lo);
        }
        i = j;
      }
      if (remaining == 0) break;

      // 2. Claim the missing blocks: leader of some, waiter on others.
      std::vector<Claimed> leads, follows;
      for (uint64_t i = 0; i < nb; ++i) {
        if (done[i]) continue;
        auto c = flights_.claim(f.key, first + i);
        if (c.leader) {
          leads.push_back({i, std::move(c.flight)});
        } else {
          bump(c_.waits);
          follows.push_back({i, std::move(c.flight)});
        }
      }

      // 3. Fetch our runs of consecutive led blocks; every led flight is completed here.
      Status err;
      for (size_t a = 0; a < leads.size();) {
        size_t b = a + 1;
        while (b < leads.size() && leads[b].i == leads[b - 1].i + 1) ++b;
        std::span<Claimed> run(leads.data() + a, b - a);
        if (err.is_ok()) {
          err = fetch_run(fp, src, first, run, offset, out, done, remaining);
        } else {
          for (auto& c : run) flights_.complete(f.key, first + c.i, c.flight, {FlightOutcome::kAbandoned, {}, {}});
        }
        a = b;
      }

      // 4. Only now (leading nothing) wait on other readers' fetches.
      for (auto& c : follows) {
        const FlightOutcome& o = c.flight->wait();
        if (o.kind == FlightOutcome::kFailed) {
          if (err.is_ok()) err = o.status;
        } else if (o.kind == FlightOutcome::kFilled && o.run) {
          uint64_t b = first + c.i;
          uint64_t lo = std::max(b * bs, offset), hi = std::min((b + 1) * bs, end);
          std::memcpy(out.data() + (lo - offset), o.run->data.get() + (lo - o.run->offset), hi - lo);
          done[c.i] = 1;
          --remaining;
          bump(c_.shared_bytes, hi - lo);
        }
        // Filled by another process (on disk) or abandoned: the next round reads or claims it.
      }
      if (!err) return err;
    }
    return Status::ok();
  }

  // Fetches the led blocks `run` (consecutive) under the OFD lock on their map bytes, skipping
  // any another process filled meanwhile. Copies into `out`, completes every flight.
  Status fetch_run(const std::shared_ptr<CacheFile>& fp, BlockSource& src, uint64_t first, std::span<Claimed> run,
                   uint64_t offset, std::span<char> out, std::vector<char>& done, uint64_t& remaining) {
    CacheFile& f = *fp;
    const uint64_t bs = cfg_.block_size, end = offset + out.size(), b0 = first + run[0].i, n = run.size();
    Status result;
    bool kept_any = false;
    {
      MapRangeLock lock(*f.map, b0, n);
      for (size_t a = 0; a < n;) {
        if (f.map->present(b0 + a)) {
          bump(c_.lock_waits);
          flights_.complete(f.key, b0 + a, run[a].flight, {FlightOutcome::kFilled, {}, {}});
          ++a;
          continue;
        }
        size_t e = a + 1;
        while (e < n && !f.map->present(b0 + e)) ++e;
        if (!result.is_ok()) {
          for (size_t k = a; k < e; ++k)
            flights_.complete(f.key, b0 + k, run[k].flight, {FlightOutcome::kAbandoned, {}, {}});
          a = e;
          continue;
        }
        auto fetched = std::make_shared<FetchedRun>();
        fetched->offset = f.block_offset(b0 + a);
        fetched->len = static_cast<size_t>(f.block_offset(b0 + e - 1) + f.block_len(b0 + e - 1) - fetched->offset);
        fetched->data.reset(new char[fetched->len]);
        bump(c_.fetches);
        Status s = src.fetch(fetched->offset, std::span<char>(fetched->data.get(), fetched->len));
        if (!s) {
          result = s;
          for (size_t k = a; k < e; ++k) flights_.complete(f.key, b0 + k, run[k].flight, {FlightOutcome::kFailed, s, {}});
          a = e;
          continue;
        }
        bump(c_.miss_bytes, fetched->len);
        if (store(f, *fetched, b0 + a, b0 + e)) kept_any = true;
        for (size_t k = a; k < e; ++k) {
          uint64_t b = b0 + k;
          uint64_t lo = std::max(b * bs, offset), hi = std::min((b + 1) * bs, end);
          std::memcpy(out.data() + (lo - offset), fetched->data.get() + (lo - fetched->offset), hi - lo);
          done[run[k].i] = 1;
          --remaining;
          flights_.complete(f.key, b, run[k].flight, {FlightOutcome::kFilled, {}, fetched});
        }
        a = e;
      }
    }
    if (kept_any) maybe_verify(fp);
    return result;
  }

  // Data first (fully written, optionally fdatasync'd), then the map bytes: a process killed at
  // any point leaves blocks either absent or correct. Failure to write is not a read failure.
  bool store(CacheFile& f, const FetchedRun& r, uint64_t b_first, uint64_t b_end) {
    Status w = f.pwrite_all(std::span<const char>(r.data.get(), r.len), r.offset);
    if (w && cfg_.durable && ::fdatasync(f.data_fd) != 0) w = errno_status(errno, "fdatasync " + f.paths.data.string());
    if (!w) {
      bump(c_.write_errors);
      spdlog::warn("cache: serving {} bytes of {} at {} without keeping them: {}", r.len, f.key, r.offset,
                   w.message());
      return false;
    }
    for (uint64_t b = b_first; b < b_end; ++b) f.map->set(b, kPresent);
    return true;
  }

  bool all_verified(CacheFile& f) {
    for (uint64_t b = 0; b < f.nblocks; ++b)
      if (f.map->state(b) != kVerified) return false;
    return true;
  }

  void maybe_verify(const std::shared_ptr<CacheFile>& fp) {
    if (!cfg_.verify_on_complete || !fp->all_present() || all_verified(*fp)) return;
    if (fp->verify_pending.exchange(true)) return;
    std::lock_guard lk(vmu_);
    vqueue_.push_back(fp);
    if (!vthread_.joinable()) vthread_ = std::thread([this] { verifier_loop(); });
    vcv_.notify_all();
  }

  void verifier_loop() {
    std::unique_lock lk(vmu_);
    for (;;) {
      vcv_.wait(lk, [&] { return vstop_ || !vqueue_.empty(); });
      if (vstop_) return;
      std::shared_ptr<CacheFile> f = std::move(vqueue_.front());
      vqueue_.pop_front();
      vbusy_ = true;
      lk.unlock();
      Status s = verify_open(*f, f->kind, /*force=*/false);
      if (!s && s.code() != Errc::kCorrupt) spdlog::warn("cache: verifying {}: {}", f->key, s.message());
      f->verify_pending.store(false);
      f.reset();
      lk.lock();
      vbusy_ = false;
      vcv_.notify_all();
    }
  }

  Status verify_open(CacheFile& f, HashKind kind, bool force) {
    if (!f.all_present()) return Status(Errc::kInvalidInput, f.key + " is not fully cached");
    if (!force && all_verified(f)) return Status::ok();
    uint32_t gen = f.map->generation();
    ContentHasher h(kind, f.size);
    std::unique_ptr<char[]> buf(new char[kHashChunk]);
    for (uint64_t off = 0; off < f.size;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kHashChunk, f.size - off));
      if (auto s = f.pread_all(std::span<char>(buf.get(), n), off); !s) return s;
      h.update(buf.get(), n);
      off += n;
    }
    std::string digest = h.hex_digest();
    if (f.map->generation() != gen || !f.all_present())
      return Status(Errc::kInvalidInput, f.key + " changed while being verified");
    if (digest == f.key) {
      for (uint64_t b = 0; b < f.nblocks; ++b) f.map->promote(b, kPresent, kVerified);
      bump(c_.verified_files);
      return Status::ok();
    }
    drop(f);
    bump(c_.corrupt_files);
    spdlog::error("cache: content {} hashes to {}; dropped its {} cached blocks", f.key, digest, f.nblocks);
    return Status(Errc::kCorrupt, "cached content " + f.key + " hashes to " + digest + "; dropped it");
  }

  // Clears every map byte and frees the data. Locks all map bytes through a fresh open of the
  // map (its own OFD, so it excludes fetchers of this process too), bumps the drop generation
  // first so readers that raced with us re-read.
  void drop(CacheFile& f) {
    auto own = BlockMap::open(f.paths.map, f.nblocks, cfg_.block_size, false);
    BlockMap& m = own ? **own : *f.map;
    {
      std::unique_ptr<MapRangeLock> lock;
      if (own) lock = std::make_unique<MapRangeLock>(m, 0, f.nblocks);
      m.bump_generation();
      for (uint64_t b = 0; b < f.nblocks; ++b) m.set(b, kAbsent);
      if (::fallocate(f.data_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(f.size)) != 0)
        spdlog::debug("cache: punching {}: {}", f.paths.data.string(), std::strerror(errno));
    }
    f.scan_hint.store(0);
  }

  CacheConfig cfg_;
  OpenFiles files_;
  SingleFlight flights_;
  Counters c_;

  std::mutex vmu_;  // verifier queue; leaf
  std::condition_variable vcv_;
  std::deque<std::shared_ptr<CacheFile>> vqueue_;
  bool vbusy_ = false;
  bool vstop_ = false;
  std::thread vthread_;
};

}  // namespace

Result<std::unique_ptr<BlockCache>> BlockCache::open(const CacheConfig& cfg) {
  auto root = open_cache_root(cfg.dir, cfg.block_size);
  if (!root) return root.status();
  return std::unique_ptr<BlockCache>(std::make_unique<BlockCacheImpl>(cfg, std::move(*root)));
}

}  // namespace hffs::cache
