#include "cache/verifier.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

namespace hffs::cache {

namespace {
constexpr size_t kHashChunk = 1u << 20;  // read size while hashing (the data is mostly in the page cache)

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

void Verifier::hash_forward(CacheFile& f, HashKind kind) {
  auto& st = f.hash;
  uint32_t gen = f.map->generation();
  if (!st.h || st.gen != gen || st.kind != kind) {
    st.h = std::make_unique<ContentHasher>(kind, f.size);
    st.kind = kind;
    st.gen = gen;
    st.off = 0;
  }
  char* buf = hash_buffer();
  while (st.off < f.size) {
    uint64_t b = st.off / f.block_size;
    if (!f.map->present(b)) return;
    // Hash up to the end of the run of present blocks, a chunk at a time.
    size_t n = static_cast<size_t>(std::min<uint64_t>({kHashChunk, f.size - st.off, f.block_offset(b) + f.block_len(b) - st.off}));
    if (n < kHashChunk) {
      uint64_t e = b + 1;
      while (e < f.nblocks && f.block_offset(e) < st.off + kHashChunk && f.map->present(e)) ++e;
      uint64_t run_end = e < f.nblocks ? f.block_offset(e) : f.size;
      n = static_cast<size_t>(std::min<uint64_t>(kHashChunk, run_end - st.off));
    }
    if (!f.pread_all(std::span<char>(buf, n), st.off)) {
      st.h.reset();
      return;
    }
    // Seqlock: a block dropped while we read it may have been a hole; start over at its generation.
    if (f.map->generation() != gen) {
      st.h.reset();
      return;
    }
    st.h->update(buf, n);
    st.off += n;
  }
}

void Verifier::advance(CacheFile& f) {
  if (cfg_.verify == VerifyMode::kOff) return;
  std::unique_lock lk(f.hash.mu, std::try_to_lock);
  if (!lk.owns_lock() || all_verified(f)) return;
  hash_forward(f, f.kind);
}

Status Verifier::judge(CacheFile& f, bool force, std::string_view source, bool served, HashKind kind) {
  std::unique_lock lk(f.hash.mu);
  if (!force && all_verified(f)) return Status::ok();
  if (force) f.hash.h.reset();
  hash_forward(f, kind);
  if (!f.hash.h || f.hash.off < f.size) return Status(Errc::kInvalidInput, f.key + " is not fully cached");
  uint32_t gen = f.hash.gen;
  std::string digest = f.hash.h->hex_digest();
  f.hash.h.reset();  // a digest is taken once; the next judge starts over
  if (f.map->generation() != gen) return Status(Errc::kInvalidInput, f.key + " changed while being verified");
  if (digest == f.key) {
    for (uint64_t b = 0; b < f.nblocks; ++b) f.map->promote(b, kPresent, kVerified);
    bump(c_.verified_files);
    lk.unlock();
    if (cfg_.on_verified) cfg_.on_verified(FileRef{f.key, f.kind, f.size});
    return Status::ok();
  }
  drop(f);
  bump(c_.corrupt_files);
  if (served) {
    std::lock_guard el(epoch_mu_);
    ++epochs_[f.key];
    any_corrupt_.store(true, std::memory_order_release);
  }
  lk.unlock();
  std::string from = source.empty() ? std::string() : " from " + std::string(source);
  if (cfg_.on_corrupt) cfg_.on_corrupt(FileRef{f.key, f.kind, f.size});
  return Status(Errc::kCorrupt, "content" + from + " hashes to " + digest + ", not to its key " + f.key);
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
    Status s = judge(*f, /*force=*/false, {}, served);
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
    if (::fallocate(f.data_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(f.size)) != 0)
      spdlog::debug("cache: punching {}: {}", f.paths.data.string(), std::strerror(errno));
  }
  f.scan_hint.store(0);
  f.verified_gen.store(0);
}

}  // namespace hffs::cache
