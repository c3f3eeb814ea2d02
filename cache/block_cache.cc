// BlockCache over the on-disk format (cache_dir.h, block_map.h, disk_store.h): the read path.
// A read serves the blocks present, claims the missing ones (single_flight.h), fetches the runs
// it leads under OFD locks on their map bytes (fetch_run.cc) and waits for the rest. Files served
// only once verified go through VerifyFirst (verify_first.h); space is Space's (space.h). Lock
// order: cache_core.h.
#include "cache/block_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "cache/block_map.h"
#include "cache/cache_core.h"
#include "cache/cache_dir.h"

namespace hffs::cache {

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

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A block-cache file: the pin also holds its own open of the map, whose shared pin lock keeps
// evictors and deleters off until it is closed.
class Pin final : public FilePin {
 public:
  Pin(std::unique_ptr<BlockMap> map, UniqueFd fd) : FilePin(std::move(fd)), map_(std::move(map)) {}

 private:
  std::unique_ptr<BlockMap> map_;
};

class BlockCacheImpl final : public BlockCache {
 public:
  explicit BlockCacheImpl(std::unique_ptr<CacheCore> core)
      : k_(std::move(core)), cfg_(k_->cfg), files_(k_->files), verifier_(k_->verifier), whole_(k_->whole) {}

  Result<size_t> read(const FileRef& file, uint64_t offset, std::span<char> out, BlockSource& src) override {
    if (!valid_key(file.key)) return Status(Errc::kInvalidInput, "invalid content key '" + file.key + "'");
    if (offset >= file.size || out.empty()) return size_t{0};
    size_t len = static_cast<size_t>(std::min<uint64_t>(out.size(), file.size - offset));
    const bool whole = whole_.verified_first(file);
    const uint64_t epoch = verifier_.corrupt_epoch(file.key);
    auto f = files_.get(file, true);
    if (!f && cannot_keep(f.status())) {
      if (whole) return whole_.read_whole_uncached(file, offset, out.first(len), src);
      return read_uncached(file, offset, out.first(len), src, f.status());
    }
    if (!f) return f.status();
    touch(**f);
    const ReadReq req{offset, len, out.data(), false, false, epoch};
    if (whole) {
      Status s = whole_.read_verified(*f, req, src);
      if (s.code() == Errc::kNoSpace) return whole_.read_whole_uncached(file, offset, out.first(len), src);
      if (!s) return s;
      return len;
    }
    if (auto s = k_->reads.read_blocks(*f, req, src); !s) return s;
    if (cfg_.verify == VerifyMode::kOff) return len;
    // The bytes served feed the stream hash; the read that completes it (or finds the file
    // complete) judges the file; one that raced with a mismatch found by another thread fails
    // too: it may have copied bytes that were dropped as bad.
    if (auto s = whole_.settle(**f, offset, std::span<const char>(out.data(), len), src, epoch); !s) return s;
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
    if (whole_.verified_first(file) && file.size <= cfg_.whole_file_max) {
      Status s = whole_.ensure_verified(*f, src);  // a small file is fetched whole and verified
      return s.code() == Errc::kNoSpace ? Status::ok() : s;
    }
    return k_->reads.read_blocks(*f, ReadReq{offset, len, nullptr, false, false, verifier_.corrupt_epoch(file.key)},
                                 src);
  }

  Result<size_t> splice_present(const FileRef& file, uint64_t offset, size_t len, const PipeFds& pipe) override {
    if (!valid_key(file.key) || offset >= file.size || len == 0) return size_t{0};
    len = static_cast<size_t>(std::min<uint64_t>(len, file.size - offset));
    auto fr = files_.get(file, false);
    if (!fr) return size_t{0};
    CacheFile& f = **fr;
    const uint64_t bs = cfg_.block_size, first = offset / bs, last = (offset + len - 1) / bs;
    uint32_t gen = f.map->generation();
    if (!whole_.spliceable(file, f, first, last)) return size_t{0};
    size_t done = 0;
    while (done < len) {
      loff_t pos = static_cast<loff_t>(offset + done);
      ssize_t n = ::splice(f.data_fd.get(), &pos, pipe.wr, nullptr, len - done, SPLICE_F_MOVE);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    // The pipe holds references to the pages that were in the file: a later hole punch removes
    // them from the file but does not change them, so only a drop that began before they were
    // taken can have put holes in the pipe, and it bumps the generation first.
    if (done < len || f.map->generation() != gen || !whole_.spliceable(file, f, first, last)) {
      drain_pipe(pipe, done);
      return size_t{0};
    }
    touch(f);
    bump(k_->c.hit_bytes, len);
    k_->usage->add(UsageSlot::kHitBytes, len);
    return len;
  }

  std::unique_ptr<FilePin> pin_complete(const FileRef& file) override {
    if (!valid_key(file.key) || file.size == 0) return nullptr;
    auto fr = files_.get(file, false);
    if (!fr || !(*fr)->all_present()) return nullptr;
    CacheFile& f = **fr;
    if (cfg_.verify != VerifyMode::kOff && !verifier_.all_verified(f)) {
      // The kernel reads only verified files: a later open may be pinned.
      verifier_.queue(*fr, !whole_.verified_first(file));
      return nullptr;
    }
    // Our own open of the map: its OFD lock is ours alone, released when the pin closes it.
    auto own = BlockMap::open(f.paths.map, f.nblocks, cfg_.block_size, false);
    if (!own || (*own)->retired() || !(*own)->try_pin(false)) return nullptr;
    // Checked under the pin: from here nothing clears a block of this file.
    if (!(*own)->present_range(0, f.nblocks - 1)) return nullptr;
    UniqueFd fd(::open(f.paths.data.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return nullptr;
    touch(f);
    return std::make_unique<Pin>(std::move(*own), std::move(fd));
  }

  bool contains(const FileRef& file, uint64_t offset, uint64_t len) override {
    if (!valid_key(file.key) || offset > file.size || len > file.size - offset) return false;
    if (len == 0) return true;
    auto f = files_.get(file, false);
    if (!f) return false;
    const uint64_t bs = cfg_.block_size;
    return (*f)->blocks_present(offset / bs, (offset + len - 1) / bs);
  }

  CacheStats stats() const override { return snapshot(k_->c); }
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

  void record_bound() { k_->space.record_bound(); }

 private:
  // The cache cannot even create the file (disk full): serve straight from the source, keep nothing.
  Result<size_t> read_uncached(const FileRef& file, uint64_t offset, std::span<char> out, BlockSource& src,
                               const Status& why) {
    bump(k_->c.write_errors);
    spdlog::debug("cache: serving {} bytes of {} uncached: {}", out.size(), file.key, why.message());  // warned once by OpenFiles
    bump(k_->c.fetches);
    if (auto s = fetch_span(src, offset, out); !s) return s;
    bump(k_->c.miss_bytes, out.size());
    k_->usage->add(UsageSlot::kMissBytes, out.size());
    // Nothing is kept, so the file is judged from the bytes served, if they come in order.
    if (auto s = stream_verdict(verifier_.offer_uncached(file, offset, out, &src), src); !s) return s;
    return out.size();
  }

  void touch(CacheFile& f) {
    int64_t now = now_ms(), last = f.last_touch_ms.load(std::memory_order_relaxed);
    if (now - last < static_cast<int64_t>(cfg_.touch_interval_ms) && last != 0) return;
    if (f.last_touch_ms.compare_exchange_strong(last, now, std::memory_order_relaxed)) f.map->touch();
  }

  std::unique_ptr<CacheCore> k_;
  const CacheConfig& cfg_;
  OpenFiles& files_;
  Verifier& verifier_;
  VerifyFirst& whole_;
};

}  // namespace

Result<std::unique_ptr<BlockCache>> BlockCache::open(const CacheConfig& cfg) {
  auto core = CacheCore::open(cfg, /*maintenance=*/false);
  if (!core) return core.status();
  auto c = std::make_unique<BlockCacheImpl>(std::move(*core));
  c->record_bound();
  return std::unique_ptr<BlockCache>(std::move(c));
}

// --- ReadPath::read_blocks (the rest of ReadPath is in fetch_run.cc) ---

Status ReadPath::read_blocks(const std::shared_ptr<CacheFile>& fp, const ReadReq& req, BlockSource& src) {
  const uint64_t bs = cfg_.block_size, first = req.offset / bs, nb = (req.offset + req.len - 1) / bs - first + 1;
  Job j{fp, *fp, req, src, first, nb, std::vector<char>(nb, 0), nb};
  for (int round = 0; j.remaining > 0; ++round) {
    if (round == kMaxRounds) return Status(Errc::kIo, "blocks of " + j.f.key + " keep being dropped while read");
    if (Status s = read_present(j); !s) return s;
    if (j.remaining == 0) break;
    std::vector<Claimed> leads, follows;
    claim(j, leads, follows);
    // Fetch our runs of consecutive led blocks; every led flight is completed here.
    Status err;
    for (size_t a = 0; a < leads.size();) {
      size_t b = a + 1;
      while (b < leads.size() && leads[b].i == leads[b - 1].i + 1) ++b;
      std::span<Claimed> run(leads.data() + a, b - a);
      if (err.is_ok()) {
        err = fetch_run(j, run);
      } else {
        for (auto& c : run) flights_.complete(j.f.key, first + c.i, c.flight, {FlightOutcome::kAbandoned, {}, {}});
      }
      a = b;
    }
    // Only now (leading nothing) wait on other readers' fetches.
    if (Status s = follow(j, follows, std::move(err)); !s) return s;
  }
  return Status::ok();
}

Status ReadPath::read_present(Job& j) {
  CacheFile& f = j.f;
  char* out = j.req.out;
  const uint64_t bs = cfg_.block_size, offset = j.req.offset, end = j.end(), first = j.first;
  // Seqlock on the drop generation: a block dropped (verification, eviction) while we read is
  // read again rather than served as a hole.
  for (uint64_t i = 0; i < j.nb;) {
    uint32_t gen = f.map->generation();
    if (j.done[i] || !f.map->present(first + i)) {
      ++i;
      continue;
    }
    uint64_t e = i + 1;
    while (e < j.nb && !j.done[e] && f.map->present(first + e)) ++e;
    uint64_t lo = std::max((first + i) * bs, offset), hi = std::min((first + e) * bs, end);
    if (!out) {  // present is all it needs, and its pages on their way into memory
      ::posix_fadvise(f.data_fd.get(), static_cast<off_t>(lo), static_cast<off_t>(hi - lo), POSIX_FADV_WILLNEED);
      std::fill(j.done.begin() + static_cast<ptrdiff_t>(i), j.done.begin() + static_cast<ptrdiff_t>(e), 1);
      j.remaining -= e - i;
      i = e;
      continue;
    }
    if (auto s = f.pread_all(std::span<char>(out + (lo - offset), hi - lo), lo); !s) return s;
    // The pread syscall orders the loads below after the data read (the compiler cannot move
    // them across the call; the kernel entry serialises the CPU).
    bool stable = f.map->generation() == gen;
    for (uint64_t k = i; k < e && stable; ++k) stable = f.map->present(first + k);
    if (stable) {
      std::fill(j.done.begin() + static_cast<ptrdiff_t>(i), j.done.begin() + static_cast<ptrdiff_t>(e), 1);
      j.remaining -= e - i;
      bump(c_.hit_bytes, hi - lo);
      usage_.add(UsageSlot::kHitBytes, hi - lo);
    }
    i = e;
  }
  return Status::ok();
}

void ReadPath::claim(Job& j, std::vector<Claimed>& leads, std::vector<Claimed>& follows) {
  for (uint64_t i = 0; i < j.nb; ++i) {
    if (j.done[i]) continue;
    auto c = flights_.claim(j.f.key, j.first + i);
    if (c.leader) {
      leads.push_back({i, std::move(c.flight)});
    } else if (!j.req.out && !j.req.follow) {
      j.mark(i);  // read-ahead: another reader is fetching it; nothing to wait for
    } else {
      bump(c_.waits);
      follows.push_back({i, std::move(c.flight)});
    }
  }
}

Status ReadPath::follow(Job& j, std::span<Claimed> follows, Status err) {
  const uint64_t bs = cfg_.block_size, offset = j.req.offset, end = j.end();
  for (auto& c : follows) {
    const FlightOutcome& o = c.flight->wait();
    if (o.kind == FlightOutcome::kFailed) {
      if (err.is_ok()) err = o.status;
    } else if (o.kind == FlightOutcome::kFilled && o.run && j.req.out) {
      uint64_t b = j.first + c.i;
      uint64_t lo = std::max(b * bs, offset), hi = std::min((b + 1) * bs, end);
      std::memcpy(j.req.out + (lo - offset), o.run->data.get() + (lo - o.run->offset), hi - lo);
      j.mark(c.i);
      bump(c_.shared_bytes, hi - lo);
    }
    // Filled on disk (by us or another process) or abandoned: the next round reads or claims it.
  }
  return err;
}

}  // namespace hffs::cache
