// BlockCache over the on-disk format (cache_dir.h, block_map.h, disk_store.h) with in-process
// single-flight (single_flight.h) and cross-process OFD locks on map bytes.
//
// Lock order (outer to inner); no in-process mutex is ever held across I/O or a fetch:
//   1. single-flight claims on (key, block), taken in block order by the reading thread
//      (claims are not mutexes; a thread never waits on another's flight while it still leads one)
//   2. the OFD range lock on the claimed blocks' map bytes (one range at a time, never nested)
//   3. evict.lock (flock, never waited for on the read path), then other blocks' OFD locks
//      taken without waiting (try_lock), then layout.lock (exclusive, to delete a pair)
//   4. layout.lock shared (opening/creating a pair: nothing else is taken while it is held)
//   5. leaf mutexes, held for a few instructions only: single-flight shard, OpenFiles LRU,
//      Flight state, verifier queue, limits.
#include "cache/block_cache.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <tuple>
#include <unordered_map>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "cache/block_map.h"
#include "cache/cache_dir.h"
#include "cache/counters.h"
#include "cache/disk_store.h"
#include "cache/evict.h"
#include "cache/run_writer.h"
#include "cache/single_flight.h"
#include "cache/usage.h"
#include "cache/verifier.h"

namespace hffs::cache {

FilePin::~FilePin() { ::close(fd_); }

void drain_pipe(const PipeFds& p, size_t n) {
  char buf[16384];
  while (n > 0) {
    ssize_t r = ::read(p.rd, buf, std::min(n, sizeof buf));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return;
    n -= static_cast<size_t>(r);
  }
}

namespace {

constexpr int kMaxRounds = 32;  // a block dropped under a reader this often is an error
// A file that must be verified before it is served, but that the cache cannot keep, is verified
// in memory: up to this size (larger ones are refused with kNoSpace).
constexpr uint64_t kMaxWholeInMemory = uint64_t{256} << 20;

// One read_blocks request: [offset, offset + len) of a file. out == nullptr: make the range
// present without copying a byte out (read-ahead, or filling a file before it is verified).
struct ReadReq {
  uint64_t offset = 0;
  uint64_t len = 0;
  char* out = nullptr;
  bool follow = false;     // without out: wait for blocks other readers are fetching (else leave them)
  bool keep_only = false;  // a run the cache cannot keep is not fetched: kNoSpace instead
  uint64_t epoch = 0;      // the key's corrupt epoch when the read began (see Verifier::offer)
};

struct Claimed {
  uint64_t i;  // block index relative to the request's first block
  std::shared_ptr<Flight> flight;
};

Result<FsSpace> statvfs_space(const std::filesystem::path& p) {
  struct statvfs v {};
  if (::statvfs(p.c_str(), &v) != 0) return errno_status(errno, "statvfs " + p.string());
  return FsSpace{uint64_t{v.f_blocks} * v.f_frsize, uint64_t{v.f_bavail} * v.f_frsize};
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A block-cache file: the pin also holds its own open of the map, whose shared pin lock keeps
// evictors and deleters off until it is closed.
class Pin final : public FilePin {
 public:
  Pin(std::unique_ptr<BlockMap> map, int fd) : FilePin(fd), map_(std::move(map)) {}

 private:
  std::unique_ptr<BlockMap> map_;
};

class BlockCacheImpl final : public BlockCache {
 public:
  BlockCacheImpl(const CacheConfig& cfg, std::filesystem::path root, std::unique_ptr<UsageFile> usage)
      : cfg_(cfg),
        root_(root),
        files_(std::move(root), cfg.block_size, cfg.max_open_files),
        usage_(std::move(usage)),
        verifier_(cfg_, *usage_, c_) {
    if (!cfg_.statfs) cfg_.statfs = statvfs_space;
    compute_limits();
  }

  Result<size_t> read(const FileRef& file, uint64_t offset, std::span<char> out, BlockSource& src) override {
    if (!valid_key(file.key)) return Status(Errc::kInvalidInput, "invalid content key '" + file.key + "'");
    if (offset >= file.size || out.empty()) return size_t{0};
    size_t len = static_cast<size_t>(std::min<uint64_t>(out.size(), file.size - offset));
    const bool whole = verified_first(file);
    const uint64_t epoch = verifier_.corrupt_epoch(file.key);
    auto f = files_.get(file, true);
    if (!f && cannot_keep(f.status())) {
      if (whole) return read_whole_uncached(file, offset, out.first(len), src);
      return read_uncached(file, offset, out.first(len), src, f.status());
    }
    if (!f) return f.status();
    touch(**f);
    if (whole) {
      Status s = read_verified(*f, offset, len, out.data(), src);
      if (s.code() == Errc::kNoSpace) return read_whole_uncached(file, offset, out.first(len), src);
      if (!s) return s;
      return len;
    }
    if (auto s = read_blocks(*f, ReadReq{offset, len, out.data(), false, false, epoch}, src); !s) return s;
    if (cfg_.verify == VerifyMode::kOff) return len;
    // The bytes served feed the stream hash; the read that completes it (or finds the file
    // complete) judges the file; one that raced with a mismatch found by another thread fails
    // too: it may have copied bytes that were dropped as bad.
    if (auto s = settle(**f, offset, std::span<const char>(out.data(), len), src, epoch); !s) return s;
    if (verifier_.corrupt_epoch(file.key) != epoch)
      return Status(Errc::kCorrupt, src.name() + " failed verification while it was being read");
    return len;
  }

  Status prefetch(const FileRef& file, uint64_t offset, uint64_t len, BlockSource& src) override {
    if (!valid_key(file.key)) return Status(Errc::kInvalidInput, "invalid content key '" + file.key + "'");
    if (offset >= file.size || len == 0) return Status::ok();
    len = std::min<uint64_t>(len, file.size - offset);
    auto f = files_.get(file, true);
    if (!f && cannot_keep(f.status())) return Status::ok();  // nothing can be kept: a read fetches
    if (!f) return f.status();
    touch(**f);
    if (verified_first(file) && file.size <= cfg_.whole_file_max) {
      Status s = ensure_verified(*f, src);  // a small file is fetched whole and verified
      return s.code() == Errc::kNoSpace ? Status::ok() : s;
    }
    return read_blocks(*f, ReadReq{offset, len, nullptr, false, false, verifier_.corrupt_epoch(file.key)}, src);
  }

  Result<size_t> splice_present(const FileRef& file, uint64_t offset, size_t len, const PipeFds& pipe) override {
    if (!valid_key(file.key) || offset >= file.size || len == 0) return size_t{0};
    len = static_cast<size_t>(std::min<uint64_t>(len, file.size - offset));
    auto fr = files_.get(file, false);
    if (!fr) return size_t{0};
    CacheFile& f = **fr;
    const uint64_t bs = cfg_.block_size, first = offset / bs, last = (offset + len - 1) / bs;
    uint32_t gen = f.map->generation();
    if (!spliceable(file, f, first, last)) return size_t{0};
    size_t done = 0;
    while (done < len) {
      loff_t pos = static_cast<loff_t>(offset + done);
      ssize_t n = ::splice(f.data_fd, &pos, pipe.wr, nullptr, len - done, SPLICE_F_MOVE);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    // The pipe holds references to the pages that were in the file: a later hole punch removes
    // them from the file but does not change them, so only a drop that began before they were
    // taken can have put holes in the pipe, and it bumps the generation first.
    if (done < len || f.map->generation() != gen || !spliceable(file, f, first, last)) {
      drain_pipe(pipe, done);
      return size_t{0};
    }
    touch(f);
    bump(c_.hit_bytes, len);
    usage_->add(UsageSlot::kHitBytes, len);
    return len;
  }

  std::unique_ptr<FilePin> pin_complete(const FileRef& file) override {
    if (!valid_key(file.key) || file.size == 0) return nullptr;
    auto fr = files_.get(file, false);
    if (!fr || !(*fr)->all_present()) return nullptr;
    CacheFile& f = **fr;
    if (cfg_.verify != VerifyMode::kOff && !verifier_.all_verified(f)) {
      verifier_.queue(*fr, !verified_first(file));  // the kernel reads only verified files: a later open may be pinned
      return nullptr;
    }
    // Our own open of the map: its OFD lock is ours alone, released when the pin closes it.
    auto own = BlockMap::open(f.paths.map, f.nblocks, cfg_.block_size, false);
    if (!own || (*own)->retired() || !(*own)->try_pin(false)) return nullptr;
    // Checked under the pin: from here nothing clears a block of this file.
    if (!(*own)->present_range(0, f.nblocks - 1)) return nullptr;
    int fd = ::open(f.paths.data.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nullptr;
    touch(f);
    return std::make_unique<Pin>(std::move(*own), fd);
  }

  bool contains(const FileRef& file, uint64_t offset, uint64_t len) override {
    if (!valid_key(file.key) || offset > file.size || len > file.size - offset) return false;
    if (len == 0) return true;
    auto f = files_.get(file, false);
    if (!f) return false;
    const uint64_t bs = cfg_.block_size;
    return (*f)->blocks_present(offset / bs, (offset + len - 1) / bs);
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
    s.evicted_bytes = ld(c_.evicted_bytes);
    s.evictions = ld(c_.evictions);
    s.unkept_bytes = ld(c_.unkept_bytes);
    s.verify_refetches = ld(c_.verify_refetches);
    s.verify_failures = ld(c_.verify_failures);
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
    if (!(*f)->all_present()) return Status(Errc::kInvalidInput, file.key + " is not fully cached");
    return verifier_.judge(**f, /*force=*/true, nullptr, /*served=*/false, file.kind);
  }

  void quiesce() override { verifier_.quiesce(); }

  uint64_t corrupt_epoch(const FileRef& file) const override { return verifier_.corrupt_epoch(file.key); }

 private:
  // --- Verification policy (docs/CACHE.md "Verification") ---

  // Whether `file` is served only once the whole of it is verified.
  bool verified_first(const FileRef& file) const {
    switch (cfg_.verify) {
      case VerifyMode::kOff: return false;
      case VerifyMode::kStrict: return true;
      case VerifyMode::kAuto: return file.size <= cfg_.whole_file_max || verifier_.corrupt_epoch(file.key) > 0;
    }
    return true;
  }

  // Whether blocks [first, last] may be spliced as they are: present (verified, for a file served
  // only verified), and not the read that must judge a complete file first.
  bool spliceable(const FileRef& file, CacheFile& f, uint64_t first, uint64_t last) {
    if (verified_first(file)) return verifier_.range_verified(f, first, last);
    if (!f.blocks_present(first, last)) return false;
    return cfg_.verify == VerifyMode::kOff || verifier_.all_verified(f) || !f.all_present();
  }

  // After a read of a file hashed as it arrives: the bytes served go into the stream hash (so it
  // completes even when the cache cannot keep them), a complete file is judged now, and a
  // mismatch fails this read. The next reads fetch the file whole and verify it before serving it.
  Status settle(CacheFile& f, uint64_t offset, std::span<const char> served, BlockSource& src, uint64_t epoch) {
    if (verifier_.all_verified(f)) return Status::ok();
    const uint64_t bs = cfg_.block_size;
    const bool on_disk = f.blocks_present(offset / bs, (offset + served.size() - 1) / bs);
    // Bytes that are not on disk can be hashed only now: wait for the hash if need be.
    Status s = verifier_.offer(f, offset, served, on_disk, /*wait=*/!on_disk, &src, epoch, /*forward=*/false);
    if (s && f.all_present() && !verifier_.all_verified(f))
      s = verifier_.judge(f, /*force=*/false, &src, /*served=*/true);
    return stream_verdict(s, src);
  }

  // A file hashed as it streamed in did not match (whoever completed the hash: the reader, a
  // read-ahead worker): one log line, and the next fetch comes from a fresh location.
  Status stream_verdict(const Status& s, BlockSource& src) {
    if (s.code() != Errc::kCorrupt) return Status::ok();
    src.refresh();
    spdlog::error("cache: {}; dropped it: the read that completed it fails, later reads wait for a whole "
                  "fetch that verifies", s.message());
    return s;
  }

  // Serves [offset, offset + len) of a file that must be verified first.
  Status read_verified(const std::shared_ptr<CacheFile>& fp, uint64_t offset, uint64_t len, char* out,
                       BlockSource& src) {
    for (int round = 0; round < kMaxRounds; ++round) {
      if (!verifier_.all_verified(*fp))
        if (Status s = ensure_verified(fp, src); !s) return s;
      auto r = read_if_verified(*fp, offset, len, out);
      if (!r) return r.status();
      if (*r) return Status::ok();
    }
    return Status(Errc::kIo, "blocks of " + fp->key + " keep being dropped while read");
  }

  // pread under the drop-generation seqlock; false when a block is not verified (or was dropped).
  Result<bool> read_if_verified(CacheFile& f, uint64_t offset, uint64_t len, char* out) {
    const uint64_t bs = cfg_.block_size, first = offset / bs, last = (offset + len - 1) / bs;
    uint32_t gen = f.map->generation();
    if (!verifier_.range_verified(f, first, last)) return false;
    if (auto s = f.pread_all(std::span<char>(out, len), offset); !s) return s;
    if (f.map->generation() != gen || !verifier_.range_verified(f, first, last)) return false;
    bump(c_.hit_bytes, len);
    usage_->add(UsageSlot::kHitBytes, len);
    return true;
  }

  // Fetches every missing block of the file and judges it. A mismatch drops it and fetches it
  // again from a fresh location; a second one fails (kCorrupt), and reads fail at once for
  // corrupt_retry_after. kNoSpace: the cache cannot keep the file (the caller verifies in memory).
  Status ensure_verified(const std::shared_ptr<CacheFile>& fp, BlockSource& src) {
    CacheFile& f = *fp;
    std::shared_ptr<std::mutex> km = whole_lock(f.key);
    std::lock_guard lk(*km);
    if (verifier_.all_verified(f)) return Status::ok();
    if (Status s = recent_corruption(f.key); !s) return s;
    int attempts = verifier_.corrupt_epoch(f.key) > 0 ? 1 : 2;  // a stream mismatch was the first one
    Status last;
    for (int round = 0; attempts > 0 && round < 8; ++round) {
      {
        // Pinned while it is filled, so that other readers' stores do not evict its first blocks
        // before its last ones arrive (a small, busy cache); released before it is judged, since
        // a drop waits for no pin.
        auto pin = BlockMap::open(f.paths.map, f.nblocks, cfg_.block_size, false);
        if (pin && !(*pin)->try_pin(false)) pin = Status(Errc::kIo, "pinned exclusively");
        if (Status s = fill(fp, src); !s) return s;
      }
      // The source is named (on a mismatch) before refresh() forgets where the bytes came from.
      // From the cache file only (force): a stream hash begun by reads in flight before a mismatch
      // may hold the bytes that were dropped. Nothing of this file was served unverified.
      last = verifier_.judge(f, /*force=*/true, &src, /*served=*/false);
      if (last) return Status::ok();
      if (last.code() != Errc::kCorrupt) continue;  // a block went away meanwhile: fill again
      --attempts;
      src.refresh();
      if (attempts > 0) {
        bump(c_.verify_refetches);
        spdlog::warn("cache: {}; dropped it, fetching it again from a fresh location", last.message());
      }
    }
    // Blocks keep going away (evicted by other processes' stores): verify it in memory instead.
    if (last.code() != Errc::kCorrupt) return Status(Errc::kNoSpace, src.name() + " keeps changing while verified");
    remember_corruption(f.key, last);
    spdlog::error("cache: {} (after a fetch from a fresh location too); reads of it answer EIO for {} s, then it "
                  "is fetched again", last.message(), cfg_.corrupt_retry_after.count() / 1000);
    return last;
  }

  // Makes every block of the file present, fetching what is missing (waiting for other readers'
  // fetches). kNoSpace when the cache cannot keep a run.
  Status fill(const std::shared_ptr<CacheFile>& fp, BlockSource& src) {
    // In pieces, so that room is made as it goes and a big file (strict mode) is not one request;
    // read-ahead workers fetch ahead in parallel meanwhile, and their fetches are followed.
    constexpr uint64_t kPiece = uint64_t{64} << 20;
    // A file the bound cannot hold whole would be evicted while filled: say so at once.
    if (fp->size > limits().first) return Status(Errc::kNoSpace, "the cache bound is smaller than " + fp->key);
    for (int round = 0; round < 4; ++round) {
      if (fp->all_present()) return Status::ok();
      for (uint64_t off = 0; off < fp->size; off += kPiece) {
        ReadReq req{off, std::min(kPiece, fp->size - off), nullptr, /*follow=*/true, /*keep_only=*/true};
        if (Status s = read_blocks(fp, req, src); !s) return s;
      }
    }
    // The cache cannot hold it whole long enough (evicted as fast as it is filled): the caller
    // verifies it in memory.
    return Status(Errc::kNoSpace, "blocks of " + fp->key + " keep being evicted while fetched");
  }

  // A file that must be verified first, and that the cache cannot keep: fetched whole into
  // memory, hashed, served from there (twice at most, as ensure_verified).
  Result<size_t> read_whole_uncached(const FileRef& file, uint64_t offset, std::span<char> out, BlockSource& src) {
    if (file.size > kMaxWholeInMemory)
      return Status(Errc::kNoSpace, "the cache has no room for " + src.name() + " (" + std::to_string(file.size) +
                                        " bytes), which must be verified before it is served");
    if (Status s = recent_corruption(file.key); !s) return s;
    Status last;
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::unique_ptr<char[]> buf(new char[file.size]);
      bump(c_.fetches);
      if (Status s = fetch_span(src, 0, std::span<char>(buf.get(), file.size)); !s) return s;
      bump(c_.miss_bytes, file.size);
      usage_->add(UsageSlot::kMissBytes, file.size);
      ContentHasher h(file.kind, file.size);
      h.update(buf.get(), file.size);
      std::string digest = h.hex_digest();
      if (digest == file.key) {
        std::memcpy(out.data(), buf.get() + offset, out.size());
        return out.size();
      }
      bump(c_.corrupt_files);
      last = Status(Errc::kCorrupt, "content from " + src.name() + " hashes to " + digest + ", not to its key " +
                                        file.key);
      src.refresh();
      if (attempt == 0) spdlog::warn("cache: {}; fetching it again from a fresh location", last.message());
    }
    remember_corruption(file.key, last);
    spdlog::error("cache: {} (after a fetch from a fresh location too); reads of it answer EIO for {} s, then it "
                  "is fetched again", last.message(), cfg_.corrupt_retry_after.count() / 1000);
    return last;
  }

  std::shared_ptr<std::mutex> whole_lock(const std::string& key) {
    std::lock_guard lk(whole_mu_);
    if (whole_locks_.size() > 4096)
      std::erase_if(whole_locks_, [](const auto& kv) { return kv.second.use_count() == 1; });
    auto& m = whole_locks_[key];
    if (!m) m = std::make_shared<std::mutex>();
    return m;
  }

  Status recent_corruption(const std::string& key) {
    std::lock_guard lk(whole_mu_);
    auto it = failed_.find(key);
    if (it == failed_.end()) return Status::ok();
    if (std::chrono::steady_clock::now() < it->second.first) return it->second.second;
    failed_.erase(it);
    return Status::ok();
  }

  void remember_corruption(const std::string& key, const Status& s) {
    bump(c_.verify_failures);
    std::lock_guard lk(whole_mu_);
    if (failed_.size() > 4096) failed_.clear();
    failed_[key] = {std::chrono::steady_clock::now() + cfg_.corrupt_retry_after, s};
  }

  // The cache cannot even create the file (disk full): serve straight from the source, keep nothing.
  Result<size_t> read_uncached(const FileRef& file, uint64_t offset, std::span<char> out, BlockSource& src,
                               const Status& why) {
    bump(c_.write_errors);
    spdlog::debug("cache: serving {} bytes of {} uncached: {}", out.size(), file.key, why.message());  // warned once by OpenFiles
    bump(c_.fetches);
    if (auto s = fetch_span(src, offset, out); !s) return s;
    bump(c_.miss_bytes, out.size());
    usage_->add(UsageSlot::kMissBytes, out.size());
    // Nothing is kept, so the file is judged from the bytes served, if they come in order.
    if (auto s = stream_verdict(verifier_.offer_uncached(file, offset, out, &src), src); !s) return s;
    return out.size();
  }

  // Serves req's range of f, which lies within the file, into req.out. Without out: makes the
  // range present without copying a byte out (present blocks are skipped, blocks another reader
  // is fetching are left to it unless req.follow, missing ones are fetched and stored).
  Status read_blocks(const std::shared_ptr<CacheFile>& fp, const ReadReq& req, BlockSource& src) {
    CacheFile& f = *fp;
    char* out = req.out;
    const uint64_t bs = cfg_.block_size, offset = req.offset, end = req.offset + req.len;
    const uint64_t first = offset / bs, nb = (end - 1) / bs - first + 1;
    std::vector<char> done(nb, 0);
    uint64_t remaining = nb;

    for (int round = 0; remaining > 0; ++round) {
      if (round == kMaxRounds) return Status(Errc::kIo, "blocks of " + f.key + " keep being dropped while read");
      // 1. Present blocks, one pread per run. Seqlock on the drop generation: a block dropped
      //    (verification, eviction) while we read is read again rather than served as a hole.
      for (uint64_t i = 0; i < nb;) {
        uint32_t gen = f.map->generation();
        if (done[i] || !f.map->present(first + i)) {
          ++i;
          continue;
        }
        uint64_t j = i + 1;
        while (j < nb && !done[j] && f.map->present(first + j)) ++j;
        uint64_t lo = std::max((first + i) * bs, offset), hi = std::min((first + j) * bs, end);
        if (!out) {  // present is all it needs, and its pages on their way into memory
          ::posix_fadvise(f.data_fd, static_cast<off_t>(lo), static_cast<off_t>(hi - lo), POSIX_FADV_WILLNEED);
          std::fill(done.begin() + static_cast<ptrdiff_t>(i), done.begin() + static_cast<ptrdiff_t>(j), 1);
          remaining -= j - i;
          i = j;
          continue;
        }
        if (auto s = f.pread_all(std::span<char>(out + (lo - offset), hi - lo), lo); !s) return s;
        // The pread syscall orders the loads below after the data read (the compiler cannot move
        // them across the call; the kernel entry serialises the CPU).
        bool stable = f.map->generation() == gen;
        for (uint64_t k = i; k < j && stable; ++k) stable = f.map->present(first + k);
        if (stable) {
          std::fill(done.begin() + static_cast<ptrdiff_t>(i), done.begin() + static_cast<ptrdiff_t>(j), 1);
          remaining -= j - i;
          bump(c_.hit_bytes, hi - lo);
          usage_->add(UsageSlot::kHitBytes, hi - lo);
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
        } else if (!out && !req.follow) {
          done[i] = 1;  // read-ahead: another reader is fetching it; nothing to wait for
          --remaining;
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
          err = fetch_run(fp, src, first, run, req, done, remaining);
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
        } else if (o.kind == FlightOutcome::kFilled && o.run && out) {
          uint64_t b = first + c.i;
          uint64_t lo = std::max(b * bs, offset), hi = std::min((b + 1) * bs, end);
          std::memcpy(out + (lo - offset), o.run->data.get() + (lo - o.run->offset), hi - lo);
          done[c.i] = 1;
          --remaining;
          bump(c_.shared_bytes, hi - lo);
        }
        // Filled on disk (by us or another process) or abandoned: the next round reads or claims it.
      }
      if (!err) return err;
    }
    return Status::ok();
  }

  // Fetches the led blocks `run` (consecutive) under the OFD lock on their map bytes, skipping
  // any another process filled meanwhile. Copies into req.out, completes every flight.
  Status fetch_run(const std::shared_ptr<CacheFile>& fp, BlockSource& src, uint64_t first, std::span<Claimed> run,
                   const ReadReq& req, std::vector<char>& done, uint64_t& remaining) {
    CacheFile& f = *fp;
    char* out = req.out;
    const uint64_t bs = cfg_.block_size, offset = req.offset, end = req.offset + req.len;
    const uint64_t b0 = first + run[0].i, n = run.size();
    Status result;
    bool kept_any = false;
    std::vector<std::shared_ptr<FetchedRun>> unkept;  // offered to the stream hash once unlocked
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
        auto abandon = [&] {
          for (size_t k = a; k < e; ++k)
            flights_.complete(f.key, b0 + k, run[k].flight, {FlightOutcome::kAbandoned, {}, {}});
          a = e;
        };
        if (!result.is_ok()) {
          abandon();
          continue;
        }
        const uint64_t run_off = f.block_offset(b0 + a);
        const uint64_t run_len = f.block_offset(b0 + e - 1) + f.block_len(b0 + e - 1) - run_off;
        bump(c_.fetches);
        // Straight into the file when it can keep the run; through memory (served, maybe not
        // kept) when it cannot, or when writing it failed.
        std::shared_ptr<FetchedRun> fetched;
        Status s;
        Direct d = fetch_into_file(f, src, run_off, run_len, offset, req.len, out, s);
        if (d == Direct::kFetched) {
          if (s) {
            // Data first (written, synced when durable), then the map bytes: a process killed at
            // any point leaves blocks either absent or correct. Counted as each byte flips: only
            // a real absent->present transition adds (a failed OFD lock may let two writers mark
            // the same block).
            for (uint64_t b = b0 + a; b < b0 + e; ++b)
              if (f.map->promote(b, kAbsent, kPresent)) usage_->add(UsageSlot::kPresentBytes, f.block_len(b));
            kept_any = true;
          }
        } else if (req.keep_only) {
          // The caller needs the blocks on disk (to verify them there): it deals with kNoSpace.
          result = Status(Errc::kNoSpace, "the cache cannot keep " + std::to_string(run_len) + " bytes of " + f.key);
          abandon();
          continue;
        } else if (!out) {
          // Read-ahead of a run the cache cannot keep would be fetched for nothing (the reader
          // would fetch it again): leave it to the reader.
          for (size_t k = a; k < e; ++k) {
            done[run[k].i] = 1;
            --remaining;
          }
          abandon();
          continue;
        } else {
          // Nothing of it is kept: fetch only the part the reader asked for, not whole blocks
          // (a 1 MiB read that straddles two blocks would otherwise fetch 2 MiB).
          fetched = std::make_shared<FetchedRun>();
          fetched->offset = std::max(run_off, offset);
          fetched->len = static_cast<size_t>(std::min(run_off + run_len, end) - fetched->offset);
          fetched->data.reset(new char[fetched->len]);
          s = fetch_span(src, fetched->offset, std::span<char>(fetched->data.get(), fetched->len));
        }
        if (!s) {
          result = s;
          for (size_t k = a; k < e; ++k) flights_.complete(f.key, b0 + k, run[k].flight, {FlightOutcome::kFailed, s, {}});
          a = e;
          continue;
        }
        const uint64_t got = fetched ? fetched->len : run_len;
        if (fetched) unkept.push_back(fetched);
        bump(c_.miss_bytes, got);
        usage_->add(UsageSlot::kMissBytes, got);
        for (size_t k = a; k < e; ++k) {
          uint64_t b = b0 + k;
          uint64_t lo = std::max(b * bs, offset), hi = std::min((b + 1) * bs, end);
          if (out && fetched) std::memcpy(out + (lo - offset), fetched->data.get() + (lo - fetched->offset), hi - lo);
          done[run[k].i] = 1;
          --remaining;
          // Without `fetched` the blocks are on disk: waiters read them from there. An in-memory
          // run that does not hold the whole block is no use to them: they fetch their own part.
          bool whole_block = !fetched || (fetched->offset <= f.block_offset(b) &&
                                          fetched->offset + fetched->len >= f.block_offset(b) + f.block_len(b));
          flights_.complete(f.key, b, run[k].flight,
                            whole_block ? FlightOutcome{FlightOutcome::kFilled, {}, fetched}
                                        : FlightOutcome{FlightOutcome::kAbandoned, {}, {}});
        }
        a = e;
      }
    }
    if (kept_any) {
      // Re-check after counting (and after our block locks are gone): if we found another
      // evictor busy before storing, it may have finished before our bytes were counted.
      auto [max, floor] = limits();
      if (usage_->get(UsageSlot::kPresentBytes) > max) run_evictor(0, 0, /*wait=*/false);
      // The stream hash follows the lowest missing block; a file completed here is judged in the
      // background too, in case no reader comes back to it.
      // (A file being filled to be verified first is judged by its filler: never advanced or queued.)
      if (!req.keep_only) (void)stream_verdict(verifier_.advance(f, &src), src);
      if (cfg_.verify != VerifyMode::kOff && !req.keep_only && f.all_present()) verifier_.queue(fp, true);
    }
    // A run the cache could not keep is hashed now or never (the reader's settle() offers its own
    // part again; this covers the rest of the run). Waiting is safe: no block lock is held.
    if (cfg_.verify != VerifyMode::kOff && !req.keep_only)
      for (const auto& r : unkept)
        (void)stream_verdict(verifier_.offer(f, r->offset, std::span<const char>(r->data.get(), r->len),
                                             /*kept=*/false, /*wait=*/true, &src, req.epoch,
                                             /*forward=*/false),
                             src);
    return result;
  }

  // Fetches the run [run_off, run_off + run_len) of f straight into its data file (RunWriter),
  // copying the part of [offset, offset + len) it covers into `out`. kFetched: `s` is the
  // fetch's outcome; on success the data is written (and synced when durable) and the caller
  // marks the blocks present. kCannotKeep (no room, pair deleted: nothing fetched) and
  // kWriteFailed (a write or the durable fdatasync failed; logged, counted): the caller fetches
  // the run through memory and serves it, keeping nothing (failure to keep is not a read
  // failure). Called under the OFD lock of the run's blocks: an evictor or deleter cannot touch
  // them.
  enum class Direct { kFetched, kCannotKeep, kWriteFailed };
  Direct fetch_into_file(CacheFile& f, BlockSource& src, uint64_t run_off, uint64_t run_len, uint64_t offset,
                       uint64_t len, char* out, Status& s) {
    if (f.map->retired()) return Direct::kCannotKeep;  // the pair is being deleted
    if (!make_room(run_len)) {
      bump(c_.unkept_bytes, run_len);
      return Direct::kCannotKeep;
    }
    RunWriter w(f, run_off, run_len, out, offset, len);
    s = src.fetch(run_off, run_len, w);
    if (s) w.finish();
    Status kept = w.error();  // our own failure to write (or to sync) the run
    if (s && kept && cfg_.durable && ::fdatasync(f.data_fd) != 0)
      kept = errno_status(errno, "fdatasync " + f.paths.data.string());
    if (s && kept) return Direct::kFetched;
    // Bytes written for blocks that stay absent would take space nobody counts: give it back.
    (void)::fallocate(f.data_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(run_off),
                      static_cast<off_t>(run_len));
    if (kept) return Direct::kFetched;  // the source failed: `s` says why
    bump(c_.write_errors);
    spdlog::warn("cache: serving {} bytes of {} at {} without keeping them: {}", run_len, f.key, run_off,
                 kept.message());
    s = Status::ok();
    return Direct::kWriteFailed;
  }

  void touch(CacheFile& f) {
    int64_t now = now_ms(), last = f.last_touch_ms.load(std::memory_order_relaxed);
    if (now - last < static_cast<int64_t>(cfg_.touch_interval_ms) && last != 0) return;
    if (f.last_touch_ms.compare_exchange_strong(last, now, std::memory_order_relaxed)) f.map->touch();
  }

  void compute_limits() {
    auto sp = cfg_.statfs(root_);
    FsSpace fs = sp ? *sp : FsSpace{};
    uint64_t floor = cfg_.min_free.is_set() ? cfg_.min_free.resolve(fs.total)
                                            : std::min<uint64_t>(uint64_t{1} << 30, fs.total / 20);
    uint64_t max;
    if (cfg_.max_size.is_set()) {
      max = cfg_.max_size.resolve(fs.total);
    } else {
      uint64_t have = usage_->get(UsageSlot::kPresentBytes) + fs.avail;
      max = std::min<uint64_t>(fs.total / 2, have > floor ? have - floor : 0);
      max = std::max<uint64_t>(max, uint64_t{64} * cfg_.block_size);
    }
    std::lock_guard lk(lim_mu_);
    max_bytes_ = std::max<uint64_t>(max, 1);
    min_free_ = floor;
  }

  std::pair<uint64_t, uint64_t> limits() {
    std::lock_guard lk(lim_mu_);
    return {max_bytes_, min_free_};
  }

  // Before storing `len` bytes: evicts if the bound or the floor would be crossed. False when
  // the floor cannot be kept even so (the bytes are then served without being kept).
  bool make_room(uint64_t len) {
    auto [max, floor] = limits();
    if (len > max) return false;  // a run bigger than the whole cache is only served
    bool over = usage_->get(UsageSlot::kPresentBytes) + len > max;
    uint64_t short_by = free_shortfall(len, floor);
    if (!over && short_by == 0) return true;
    run_evictor(len, short_by, /*wait=*/true);
    return free_shortfall(len, floor) == 0;
  }

  uint64_t free_shortfall(uint64_t len, uint64_t floor) {
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
  void run_evictor(uint64_t len, uint64_t short_by, bool wait) {
    for (int pass = 0; pass < 4; ++pass) {
      FileLock el(evict_lock_path(root_), true, wait);
      if (!el.locked()) return;
      evict_locked(len, short_by);
      el.unlock();
      auto [max, floor] = limits();
      short_by = free_shortfall(0, floor);
      if (usage_->get(UsageSlot::kPresentBytes) <= max && short_by == 0) return;
    }
  }

  // Caller holds evict.lock.
  EvictTotals evict_locked(uint64_t len, uint64_t short_by) {
    auto [max, floor] = limits();
    uint64_t low = max - max / 10;
    if (len < max) low = std::min(low, max - len);
    else low = 0;
    uint64_t now = usage_->get(UsageSlot::kPresentBytes);
    uint64_t target = low;
    if (short_by > 0) target = std::min(target, now > short_by ? now - short_by : 0);
    (void)floor;
    auto t = evict_lru(root_, cfg_.block_size, *usage_,
                       [&] { return usage_->get(UsageSlot::kPresentBytes) <= target; });
    bump(c_.evictions);
    bump(c_.evicted_bytes, t.bytes);
    if (t.bytes) spdlog::debug("cache: evicted {} bytes ({} blocks, {} files removed, {} busy)", t.bytes, t.blocks,
                               t.files_removed, t.busy_blocks);
    return t;
  }

 public:
  void enforce_bound() override {
    auto [max, floor] = limits();
    if (usage_->get(UsageSlot::kPresentBytes) > max || free_shortfall(0, floor) > 0)
      run_evictor(0, free_shortfall(0, floor), /*wait=*/true);
  }

  Result<CacheUsage> usage() override {
    CacheUsage u;
    for (const auto& e : list_maps(root_)) {
      struct stat st {};
      if (::stat(e.data.c_str(), &st) != 0) continue;
      uint64_t size = static_cast<uint64_t>(st.st_size);
      std::string bytes;
      if (!read_map_bytes(e, bytes)) continue;
      ++u.files;
      u.disk_bytes += static_cast<uint64_t>(st.st_blocks) * 512;
      bool complete = true, verified = true;
      for (uint64_t b = 0; b < e.nblocks; ++b) {
        auto v = static_cast<uint8_t>(bytes[b]);
        if (v == kAbsent) {
          complete = verified = false;
          continue;
        }
        uint64_t len = std::min<uint64_t>(cfg_.block_size, size - b * cfg_.block_size);
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
    u.counted_bytes = usage_->get(UsageSlot::kPresentBytes);
    std::tie(u.max_bytes, u.min_free_bytes) = limits();
    if (auto sp = cfg_.statfs(root_)) u.fs = *sp;
    u.hit_bytes = usage_->get(UsageSlot::kHitBytes);
    u.miss_bytes = usage_->get(UsageSlot::kMissBytes);
    u.evicted_bytes = usage_->get(UsageSlot::kEvictedBytes);
    return u;
  }

  Result<GcReport> gc() override {
    GcReport r;
    FileLock el(evict_lock_path(root_), true, /*wait=*/true);
    if (!el.locked()) return Status(Errc::kIo, "cannot lock " + evict_lock_path(root_).string());
    r.temp_files = remove_stale_temps();
    remove_orphans(r);
    // Recount: the counter may have drifted (a process killed between marking a block and
    // counting it). Marks racing with the scan make the correction approximate by at most what
    // was stored meanwhile.
    uint64_t before = usage_->get(UsageSlot::kPresentBytes);
    EvictTotals t;
    uint64_t sum = 0;
    for (const auto& e : list_maps(root_)) {
      evict_pair(e, cfg_.block_size, *usage_, [] { return true; }, /*remove_empty=*/true, /*punch_unmarked=*/true, t);
      sum += present_bytes_of(e, cfg_.block_size);
    }
    r.empty_files = t.files_removed;
    r.punched_bytes = t.punched_bytes;
    r.usage_drift = static_cast<int64_t>(sum) - static_cast<int64_t>(before);
    usage_->adjust(UsageSlot::kPresentBytes, r.usage_drift);
    compute_limits();
    auto [max, floor] = limits();
    uint64_t short_by = free_shortfall(0, floor);
    if (usage_->get(UsageSlot::kPresentBytes) > max || short_by > 0) {
      auto ev = evict_locked(0, short_by);
      r.evicted_bytes = ev.bytes;
      r.busy_blocks = ev.busy_blocks;
    }
    return r;
  }

  Result<GcReport> clear() override {
    GcReport r;
    FileLock el(evict_lock_path(root_), true, /*wait=*/true);
    if (!el.locked()) return Status(Errc::kIo, "cannot lock " + evict_lock_path(root_).string());
    r.temp_files = remove_stale_temps();
    remove_orphans(r);
    EvictTotals t;
    for (const auto& e : list_maps(root_))
      evict_pair(e, cfg_.block_size, *usage_, [] { return false; }, /*remove_empty=*/true, /*punch_unmarked=*/true, t);
    r.evicted_bytes = t.bytes;
    r.empty_files = t.files_removed;
    r.busy_blocks = t.busy_blocks;
    // Whatever is left is being fetched right now: recount exactly what remains.
    uint64_t before = usage_->get(UsageSlot::kPresentBytes);
    r.usage_drift = static_cast<int64_t>(recount_present(root_, cfg_.block_size)) - static_cast<int64_t>(before);
    usage_->adjust(UsageSlot::kPresentBytes, r.usage_drift);
    return r;
  }

  Result<VerifyReport> verify_all(const SourceFor& source_for) override {
    VerifyReport v;
    for (const auto& e : list_maps(root_)) {
      struct stat st {};
      if (::stat(e.data.c_str(), &st) != 0) continue;
      FileRef ref{e.key, e.key.size() == 40 ? HashKind::kGitSha1 : HashKind::kSha256, static_cast<uint64_t>(st.st_size)};
      auto f = files_.get(ref, false);
      if (!f) {
        ++v.errors;
        continue;
      }
      if (!(*f)->all_present()) {
        std::unique_ptr<BlockSource> src = source_for ? source_for(ref) : nullptr;
        Status filled = src ? fill(*f, *src) : Status(Errc::kInvalidInput, "no source");
        if (!filled) {
          if (src) spdlog::warn("cache: completing {}: {}", src->name(), filled.message());
          ++v.incomplete;
          for (uint64_t b = 0; b < (*f)->nblocks; ++b)
            if ((*f)->map->state(b) == kPresent) v.unverified_bytes += (*f)->block_len(b);
          continue;
        }
        ++v.completed;
      }
      ++v.checked;
      Status s = verifier_.judge(**f, /*force=*/true, nullptr, /*served=*/false);
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

 private:
  static bool read_map_bytes(const MapEntry& e, std::string& out) {
    int fd = ::open(e.map.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    out.assign(e.nblocks, '\0');
    ssize_t n = e.nblocks ? ::pread(fd, out.data(), out.size(), static_cast<off_t>(kMapHeaderSize)) : 0;
    ::close(fd);
    return n == static_cast<ssize_t>(out.size());
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
        if (!valid_key(key)) continue;
        KeyPaths p = key_paths(root_, key);
        struct stat ds {}, ms {};
        bool has_data = ::stat(p.data.c_str(), &ds) == 0, has_map = ::stat(p.map.c_str(), &ms) == 0;
        if (is_map) {
          bool bad = !has_data;
          if (has_data) {
            uint64_t nb = block_count(static_cast<uint64_t>(ds.st_size), cfg_.block_size);
            bad = !BlockMap::open(p.map, nb, cfg_.block_size, false).ok();
          }
          if (bad && ::unlink(p.map.c_str()) == 0) {
            ++r.orphan_maps;
            if (has_data && ::unlink(p.data.c_str()) == 0) ++r.orphan_data;
          }
        } else if (!has_map && ::unlink(p.data.c_str()) == 0) {
          ++r.orphan_data;
        }
      }
    }
  }

  CacheConfig cfg_;
  std::filesystem::path root_;
  OpenFiles files_;
  std::unique_ptr<UsageFile> usage_;
  std::mutex lim_mu_;  // leaf
  uint64_t max_bytes_ = 0, min_free_ = 0;
  SingleFlight flights_;
  Counters c_;

  std::mutex whole_mu_;  // leaf: whole_locks_ and failed_
  std::unordered_map<std::string, std::shared_ptr<std::mutex>> whole_locks_;  // one whole fetch per file
  std::unordered_map<std::string, std::pair<std::chrono::steady_clock::time_point, Status>> failed_;
  Verifier verifier_;  // last: its thread stops before the rest goes away
};

}  // namespace

Result<std::unique_ptr<BlockCache>> BlockCache::open(const CacheConfig& cfg) {
  auto root = open_cache_root(cfg.dir, cfg.block_size);
  if (!root) return root.status();
  auto usage = UsageFile::open(*root, cfg.block_size);
  if (!usage) return usage.status();
  return std::unique_ptr<BlockCache>(std::make_unique<BlockCacheImpl>(cfg, std::move(*root), std::move(*usage)));
}

Result<SizeSpec> parse_size(const std::string& text) {
  SizeSpec s;
  if (text.empty()) return Status(Errc::kInvalidInput, "empty size");
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  std::string unit(end);
  if (end == text.c_str() || !(v > 0)) return Status(Errc::kInvalidInput, "size '" + text + "' is not a positive number");
  if (unit == "%") {
    if (v > 100) return Status(Errc::kInvalidInput, "size '" + text + "' is more than 100%");
    s.percent = v;
    return s;
  }
  if (unit.size() == 3 && (unit[1] == 'i' || unit[1] == 'I') && (unit[2] == 'B' || unit[2] == 'b')) unit.resize(1);
  if (unit.size() == 2 && (unit[1] == 'B' || unit[1] == 'b')) unit.resize(1);
  double mul = 1;
  if (unit.empty() || unit == "B" || unit == "b") mul = 1;
  else if (unit == "K" || unit == "k") mul = 1024.0;
  else if (unit == "M" || unit == "m") mul = 1024.0 * 1024;
  else if (unit == "G" || unit == "g") mul = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "t") mul = 1024.0 * 1024 * 1024 * 1024;
  else return Status(Errc::kInvalidInput, "size '" + text + "': unknown unit (use K, M, G, T or %)");
  s.bytes = static_cast<uint64_t>(v * mul);
  if (s.bytes == 0) return Status(Errc::kInvalidInput, "size '" + text + "' is zero");
  return s;
}

}  // namespace hffs::cache

namespace hffs::cache {

Result<VerifyMode> parse_verify_mode(const std::string& text) {
  if (text == "auto") return VerifyMode::kAuto;
  if (text == "strict") return VerifyMode::kStrict;
  if (text == "off") return VerifyMode::kOff;
  return Status(Errc::kInvalidInput, "verify mode '" + text + "': use auto or strict");
}

}  // namespace hffs::cache
