// The read path's side of verification (docs/CACHE.md "Verification"): which files are served
// only once verified whole, filling and judging such a file before its first byte is served,
// verifying in memory a file the cache cannot keep, and the verdict on a file hashed as it
// streamed in. The hashing itself, the background queue and the drop of bad content are the
// Verifier's (verifier.h). Private to cache/.
//
// Locking: one mutex per key being filled and judged (whole_lock) is held across the fill, so
// across fetches from the source: it is taken with no other lock held, and under it the read
// path takes single-flight claims, OFD locks and CacheFile::hash.mu as any reader does. whole_mu_
// (the table of those mutexes and of recent failures) is a leaf.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>

#include "cache/block_cache.h"
#include "cache/counters.h"
#include "cache/disk_store.h"
#include "cache/read_path.h"
#include "cache/space.h"
#include "cache/usage.h"
#include "cache/verifier.h"

namespace hffs::cache {

class VerifyFirst {
 public:
  VerifyFirst(const CacheConfig& cfg, ReadPath& reads, Space& space, Verifier& verifier, UsageFile& usage,
              Counters& c)
      : cfg_(cfg), reads_(reads), space_(space), verifier_(verifier), usage_(usage), c_(c) {}

  // Whether `file` is served only once the whole of it is verified.
  bool verified_first(const FileRef& file) const;
  // Whether blocks [first, last] may be spliced as they are: present (verified, for a file served
  // only verified), and not the read that must judge a complete file first.
  bool spliceable(const FileRef& file, CacheFile& f, uint64_t first, uint64_t last);
  // After a read of a file hashed as it arrives: the bytes served go into the stream hash (so it
  // completes even when the cache cannot keep them), a complete file is judged now, and a
  // mismatch fails this read. The next reads fetch the file whole and verify it before serving it.
  Status settle(CacheFile& f, uint64_t offset, std::span<const char> served, BlockSource& src, uint64_t epoch);
  // Serves req's range (req.out set) of a file that must be verified first.
  Status read_verified(const std::shared_ptr<CacheFile>& fp, const ReadReq& req, BlockSource& src);
  // Fetches every missing block of the file and judges it. A mismatch drops it and fetches it
  // again from a fresh location; a second one fails (kCorrupt), and reads fail at once for
  // corrupt_retry_after. kNoSpace: the cache cannot keep the file (the caller verifies in memory).
  Status ensure_verified(const std::shared_ptr<CacheFile>& fp, BlockSource& src);
  // Makes every block of the file present, fetching what is missing (waiting for other readers'
  // fetches). kNoSpace when the cache cannot keep a run.
  Status fill(const std::shared_ptr<CacheFile>& fp, BlockSource& src);
  // A file that must be verified first, and that the cache cannot keep: fetched whole into
  // memory, hashed, served from there (twice at most, as ensure_verified).
  Result<size_t> read_whole_uncached(const FileRef& file, uint64_t offset, std::span<char> out, BlockSource& src);

 private:
  // pread under the drop-generation seqlock; false when a block is not verified (or was dropped).
  Result<bool> read_if_verified(CacheFile& f, const ReadReq& req);
  std::shared_ptr<std::mutex> whole_lock(const std::string& key);
  Status recent_corruption(const std::string& key);
  void remember_corruption(const std::string& key, const Status& s);
  void log_failure(const Status& last) const;

  const CacheConfig& cfg_;
  ReadPath& reads_;
  Space& space_;
  Verifier& verifier_;
  UsageFile& usage_;
  Counters& c_;

  std::mutex whole_mu_;  // leaf: whole_locks_ and failed_
  std::unordered_map<std::string, std::shared_ptr<std::mutex>> whole_locks_;  // one whole fetch per file
  std::unordered_map<std::string, std::pair<std::chrono::steady_clock::time_point, Status>> failed_;
};

}  // namespace hffs::cache
