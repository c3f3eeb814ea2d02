#include "cache/verifier.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

namespace hffs::cache {

namespace {
// Read size while hashing (the data is mostly in the page cache). Every thread that hashes keeps
// one such buffer (up to 64 FUSE workers and the read-ahead workers): small enough not to count.
constexpr size_t kHashChunk = 256u << 10;

char* hash_buffer() {
  thread_local std::unique_ptr<char[]> buf(new char[kHashChunk]);
  return buf.get();
}
}  // namespace

Verifier::~Verifier() {
  {
    std::lock_guard lk(vmu_);
    stop_ = true;
  }
  vcv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Verifier::all_verified(CacheFile& f) {
  uint32_t gen = f.map->generation();
  if (f.verified_gen.load(std::memory_order_acquire) == uint64_t{gen} + 1) return true;
  for (uint64_t b = 0; b < f.nblocks; ++b)
    if (f.map->state(b) != kVerified) return false;
  if (f.map->generation() != gen) return false;
  f.verified_gen.store(uint64_t{gen} + 1, std::memory_order_release);
  return true;
}

bool Verifier::range_verified(CacheFile& f, uint64_t first, uint64_t last) {
  if (all_verified(f)) return true;
  for (uint64_t b = first; b <= last; ++b)
    if (f.map->state(b) != kVerified) return false;
  return true;
}

void Verifier::start(CacheFile& f, HashKind kind) {
  auto& st = f.hash;
  st.h = std::make_unique<ContentHasher>(kind, f.size);
  st.kind = kind;
  st.start_gen = f.map->generation();
  st.exact = true;
  st.off.store(0, std::memory_order_relaxed);
}

void Verifier::hash_forward(CacheFile& f) {
  auto& st = f.hash;
  char* buf = hash_buffer();
  uint64_t off = st.off.load(std::memory_order_relaxed);
  while (off < f.size) {
    const uint64_t b = off / f.block_size;
    // Hash up to the end of the run of present blocks, a chunk at a time.
    uint64_t e = b;
    while (e < f.nblocks && f.block_offset(e) < off + kHashChunk && f.map->present(e)) ++e;
    if (e == b) break;  // the frontier's block is not here (yet): bytes offered later may pass it
    uint64_t run_end = e < f.nblocks ? f.block_offset(e) : f.size;
    size_t n = static_cast<size_t>(std::min<uint64_t>(kHashChunk, run_end - off));
    // Seqlock: a block dropped while we read it may have been a hole; read it again.
    uint32_t gen = f.map->generation();
    if (!f.pread_all(std::span<char>(buf, n), off)) break;
    if (f.map->generation() != gen) {
      st.exact = false;
      if (++st.retries > 8) break;
      continue;
    }
    st.h->update(buf, n);
    off += n;
    st.off.store(off, std::memory_order_relaxed);
  }
}

Status stream_verdict(const Status& s, BlockSource& src) {
  if (s.code() != Errc::kCorrupt) return Status::ok();
  src.refresh();
  spdlog::error("cache: {}; dropped it: the read that completed it fails, later reads wait for a whole "
                "fetch that verifies", s.message());
  return s;
}

Status Verifier::offer(CacheFile& f, const Offer& o) {
  if (cfg_.verify == VerifyMode::kOff) return Status::ok();
  const uint64_t offset = o.offset;
  const std::span<const char> data = o.data;
  auto& st = f.hash;
  // Nothing to do when the hash is past these bytes, or the frontier is not in them and the blocks
  // after it are not here: no lock taken on the common path of a reader behind read-ahead.
  uint64_t off = st.off.load(std::memory_order_relaxed);
  if (!data.empty() && offset + data.size() <= off) return Status::ok();
  std::unique_lock lk(st.mu, std::defer_lock);
  if (o.wait) {
    lk.lock();
  } else if (!lk.try_lock()) {
    return Status::ok();
  }
  if (all_verified(f)) return Status::ok();
  if (!st.h) start(f, f.kind);
  off = st.off.load(std::memory_order_relaxed);
  // The epoch is bumped under this lock (finish), so this check cannot race with a mismatch.
  if (offset <= off && off < offset + data.size() && corrupt_epoch(f.key) == o.epoch) {
    st.h->update(data.data() + (off - offset), data.size() - (off - offset));
    st.off.store(offset + data.size(), std::memory_order_relaxed);
    if (!o.kept) st.exact = false;  // these bytes are not (all) the cache file's
  }
  st.retries = 0;
  if (o.forward) hash_forward(f);
  if (st.off.load(std::memory_order_relaxed) < f.size) return Status::ok();
  Verdict v = finish(lk, f, o.source, /*served=*/true);
  return v.status;
}

Verifier::Verdict Verifier::finish(std::unique_lock<std::mutex>& lk, CacheFile& f, const BlockSource* source,
                                   bool served) {
  auto& st = f.hash;
  std::string digest = st.h->hex_digest();
  const bool exact = st.exact && f.map->generation() == st.start_gen;
  st.h.reset();  // a digest is taken once; the next hash starts over
  st.off.store(0, std::memory_order_relaxed);
  if (digest == f.key) {
    // Every byte hashed was right. The blocks are marked verified only if they are the bytes that
    // were hashed: all present, none dropped since the hash began, none hashed from memory.
    if (!exact || !f.all_present()) return {Status::ok(), false};
    for (uint64_t b = 0; b < f.nblocks; ++b) f.map->promote(b, kPresent, kVerified);
    bump(c_.verified_files);
    lk.unlock();
    if (cfg_.on_verified) cfg_.on_verified(FileRef{f.key, f.kind, f.size});
    return {Status::ok(), true};
  }
  drop(f);
  bump(c_.corrupt_files);
  if (served) {
    std::lock_guard el(epoch_mu_);
    ++epochs_[f.key];
    any_corrupt_.store(true, std::memory_order_release);
  }
  lk.unlock();
  std::string from = source ? " from " + source->name() : std::string();
  if (cfg_.on_corrupt) cfg_.on_corrupt(FileRef{f.key, f.kind, f.size});
  return {Status(Errc::kCorrupt, "content" + from + " hashes to " + digest + ", not to its key " + f.key), false};
}

Status Verifier::judge(CacheFile& f, bool force, const BlockSource* source, bool served, HashKind kind) {
  std::unique_lock lk(f.hash.mu);
  if (!force && all_verified(f)) return Status::ok();
  auto& st = f.hash;
  // Twice at most: a stream hash that matched but cannot vouch for the blocks on disk (some bytes
  // came from memory, or blocks were dropped since) is redone from the cache file.
  for (int pass = 0; pass < 2; ++pass) {
    if (force || pass > 0 || !st.h || st.kind != kind) start(f, kind);
    st.retries = 0;
    hash_forward(f);
    if (st.off.load(std::memory_order_relaxed) < f.size)
      return Status(Errc::kInvalidInput, f.key + " is not fully cached");
    Verdict v = finish(lk, f, source, served);
    if (!v.status || v.marked) return v.status;
    if (!lk.owns_lock()) lk.lock();
  }
  return Status(Errc::kInvalidInput, f.key + " changed while being verified");
}

void Verifier::note_corrupt(const FileRef& file) {
  bump(c_.corrupt_files);
  {
    std::lock_guard el(epoch_mu_);
    ++epochs_[file.key];
    any_corrupt_.store(true, std::memory_order_release);
  }
  if (cfg_.on_corrupt) cfg_.on_corrupt(file);
}

Status Verifier::offer_uncached(const FileRef& file, uint64_t offset, std::span<const char> data,
                                const BlockSource* source) {
  if (cfg_.verify == VerifyMode::kOff || data.empty()) return Status::ok();
  std::shared_ptr<LooseHash> lh;
  {
    std::lock_guard lk(loose_mu_);
    auto& slot = loose_[file.key];
    if (!slot) {
      if (offset != 0) {  // only a stream from the start can be judged
        loose_.erase(file.key);
        return Status::ok();
      }
      if (loose_.size() > 256) std::erase_if(loose_, [](const auto& kv) { return kv.second.use_count() == 1; });
      slot = std::make_shared<LooseHash>();
    }
    lh = loose_[file.key];
  }
  std::lock_guard hl(lh->mu);
  if (!lh->h) lh->h = std::make_unique<ContentHasher>(file.kind, file.size);
  if (offset > lh->off || offset + data.size() <= lh->off) return Status::ok();
  lh->h->update(data.data() + (lh->off - offset), data.size() - (lh->off - offset));
  lh->off = offset + data.size();
  if (lh->off < file.size) return Status::ok();
  std::string digest = lh->h->hex_digest();
  lh->h.reset();
  lh->off = 0;
  {
    std::lock_guard lk(loose_mu_);
    loose_.erase(file.key);
  }
  if (digest == file.key) return Status::ok();
  note_corrupt(file);
  std::string from = source ? " from " + source->name() : std::string();
  return Status(Errc::kCorrupt, "content" + from + " hashes to " + digest + ", not to its key " + file.key);
}

uint64_t Verifier::corrupt_epoch(const std::string& key) const {
  if (!any_corrupt_.load(std::memory_order_acquire)) return 0;
  std::lock_guard lk(epoch_mu_);
  auto it = epochs_.find(key);
  return it == epochs_.end() ? 0 : it->second;
}

void Verifier::queue(const std::shared_ptr<CacheFile>& f, bool served) {
  if (cfg_.verify == VerifyMode::kOff || all_verified(*f) || f->verify_pending.exchange(true)) return;
  std::lock_guard lk(vmu_);
  queue_.emplace_back(f, served);
  if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
  vcv_.notify_all();
}

void Verifier::quiesce() {
  std::unique_lock lk(vmu_);
  vcv_.wait(lk, [&] { return queue_.empty() && !busy_; });
}

void Verifier::loop() {
  // Hashing must not take CPU from the reads being served: on Linux a tid passed to setpriority
  // renices this thread only.
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
  std::unique_lock lk(vmu_);
  for (;;) {
    vcv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    auto [f, served] = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lk.unlock();
    f->verify_pending.store(false);
    Status s = judge(*f, /*force=*/false, nullptr, served);
    if (!s && s.code() == Errc::kCorrupt) spdlog::error("cache: {}", s.message());
    f.reset();
    lk.lock();
    busy_ = false;
    vcv_.notify_all();
  }
}

void Verifier::drop(CacheFile& f) {
  auto own = BlockMap::open(f.paths.map, f.nblocks, f.block_size, false);
  if (own && !(*own)->try_pin(true)) {
    spdlog::error("cache: {} is open for kernel passthrough; its blocks are dropped once it is closed and "
                  "verified again (hffs cache verify)", f.key);
    return;
  }
  BlockMap& m = own ? **own : *f.map;
  {
    std::unique_ptr<MapRangeLock> lock;
    if (own) lock = std::make_unique<MapRangeLock>(m, 0, f.nblocks);
    m.bump_generation();
    for (uint64_t b = 0; b < f.nblocks; ++b)
      if (m.exchange(b, kAbsent) != kAbsent) usage_.sub(UsageSlot::kPresentBytes, f.block_len(b));
    if (::fallocate(f.data_fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(f.size)) != 0)
      spdlog::debug("cache: punching {}: {}", f.paths.data.string(), std::strerror(errno));
  }
  f.scan_hint.store(0);
  f.verified_gen.store(0);
}

}  // namespace hffs::cache
