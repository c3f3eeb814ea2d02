#include "cache/verify_first.h"

#include <cstring>

#include <spdlog/spdlog.h>

#include "cache/block_map.h"
#include "common/sha.h"

namespace hffs::cache {

namespace {
constexpr int kMaxRounds = 32;  // a block dropped under a reader this often is an error
// A file that must be verified before it is served, but that the cache cannot keep, is verified
// in memory: up to this size (larger ones are refused with kNoSpace).
constexpr uint64_t kMaxWholeInMemory = uint64_t{256} << 20;
}  // namespace

bool VerifyFirst::verified_first(const FileRef& file) const {
  switch (cfg_.verify) {
    case VerifyMode::kOff: return false;
    case VerifyMode::kStrict: return true;
    case VerifyMode::kAuto: return file.size <= cfg_.whole_file_max || verifier_.corrupt_epoch(file.key) > 0;
  }
  return true;
}

bool VerifyFirst::spliceable(const FileRef& file, CacheFile& f, uint64_t first, uint64_t last) {
  if (verified_first(file)) return verifier_.range_verified(f, first, last);
  if (!f.blocks_present(first, last)) return false;
  return cfg_.verify == VerifyMode::kOff || verifier_.all_verified(f) || !f.all_present();
}

Status VerifyFirst::settle(CacheFile& f, uint64_t offset, std::span<const char> served, BlockSource& src,
                           uint64_t epoch) {
  if (verifier_.all_verified(f)) return Status::ok();
  const uint64_t bs = cfg_.block_size;
  const bool on_disk = f.blocks_present(offset / bs, (offset + served.size() - 1) / bs);
  // Bytes that are not on disk can be hashed only now: wait for the hash if need be.
  Status s = verifier_.offer(f, Verifier::Offer{offset, served, /*kept=*/on_disk, /*wait=*/!on_disk, &src, epoch,
                                                /*forward=*/false});
  if (s && f.all_present() && !verifier_.all_verified(f)) s = verifier_.judge(f, /*force=*/false, &src, /*served=*/true);
  return stream_verdict(s, src);
}

Status VerifyFirst::read_verified(const std::shared_ptr<CacheFile>& fp, const ReadReq& req, BlockSource& src) {
  for (int round = 0; round < kMaxRounds; ++round) {
    if (!verifier_.all_verified(*fp))
      if (Status s = ensure_verified(fp, src); !s) return s;
    auto r = read_if_verified(*fp, req);
    if (!r) return r.status();
    if (*r) return Status::ok();
  }
  return Status(Errc::kIo, "blocks of " + fp->key + " keep being dropped while read");
}

Result<bool> VerifyFirst::read_if_verified(CacheFile& f, const ReadReq& req) {
  const uint64_t bs = cfg_.block_size, first = req.offset / bs, last = (req.offset + req.len - 1) / bs;
  uint32_t gen = f.map->generation();
  if (!verifier_.range_verified(f, first, last)) return false;
  if (auto s = f.pread_all(std::span<char>(req.out, req.len), req.offset); !s) return s;
  if (f.map->generation() != gen || !verifier_.range_verified(f, first, last)) return false;
  bump(c_.hit_bytes, req.len);
  usage_.add(UsageSlot::kHitBytes, req.len);
  return true;
}

Status VerifyFirst::ensure_verified(const std::shared_ptr<CacheFile>& fp, BlockSource& src) {
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
      // a drop waits for no pin. A file of one block has no first blocks to lose: one run, filled
      // under its block's OFD lock, needs no pin (and spares a small file an open of its map).
      Result<std::unique_ptr<BlockMap>> pin = Status(Errc::kInvalidInput, "not pinned");
      if (f.nblocks > 1) pin = BlockMap::open(f.paths.map, f.nblocks, cfg_.block_size, false);
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
  log_failure(last);
  return last;
}

Status VerifyFirst::fill(const std::shared_ptr<CacheFile>& fp, BlockSource& src) {
  // In pieces, so that room is made as it goes and a big file (strict mode) is not one request;
  // read-ahead workers fetch ahead in parallel meanwhile, and their fetches are followed.
  constexpr uint64_t kPiece = uint64_t{64} << 20;
  // A file the bound cannot hold whole would be evicted while filled: say so at once.
  if (fp->size > space_.limits().max) return Status(Errc::kNoSpace, "the cache bound is smaller than " + fp->key);
  for (int round = 0; round < 4; ++round) {
    if (fp->all_present()) return Status::ok();
    for (uint64_t off = 0; off < fp->size; off += kPiece) {
      ReadReq req{off, std::min(kPiece, fp->size - off), nullptr, /*follow=*/true, /*keep_only=*/true};
      if (Status s = reads_.read_blocks(fp, req, src); !s) return s;
    }
  }
  // The cache cannot hold it whole long enough (evicted as fast as it is filled): the caller
  // verifies it in memory.
  return Status(Errc::kNoSpace, "blocks of " + fp->key + " keep being evicted while fetched");
}

Result<size_t> VerifyFirst::read_whole_uncached(const FileRef& file, uint64_t offset, std::span<char> out,
                                                BlockSource& src) {
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
    usage_.add(UsageSlot::kMissBytes, file.size);
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
  log_failure(last);
  return last;
}

void VerifyFirst::log_failure(const Status& last) const {
  spdlog::error("cache: {} (after a fetch from a fresh location too); reads of it answer EIO for {} s, then it "
                "is fetched again", last.message(), cfg_.corrupt_retry_after.count() / 1000);
}

std::shared_ptr<std::mutex> VerifyFirst::whole_lock(const std::string& key) {
  std::lock_guard lk(whole_mu_);
  if (whole_locks_.size() > 4096)
    std::erase_if(whole_locks_, [](const auto& kv) { return kv.second.use_count() == 1; });
  auto& m = whole_locks_[key];
  if (!m) m = std::make_shared<std::mutex>();
  return m;
}

Status VerifyFirst::recent_corruption(const std::string& key) {
  std::lock_guard lk(whole_mu_);
  auto it = failed_.find(key);
  if (it == failed_.end()) return Status::ok();
  if (std::chrono::steady_clock::now() < it->second.first) return it->second.second;
  failed_.erase(it);
  return Status::ok();
}

void VerifyFirst::remember_corruption(const std::string& key, const Status& s) {
  bump(c_.verify_failures);
  std::lock_guard lk(whole_mu_);
  if (failed_.size() > 4096) failed_.clear();
  failed_[key] = {std::chrono::steady_clock::now() + cfg_.corrupt_retry_after, s};
}

}  // namespace hffs::cache
