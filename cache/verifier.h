// Whole-file content verification for BlockCache: the hash of a file is computed as its blocks
// arrive (a stream hash that follows the lowest missing block), judged when the file is complete,
// and a mismatch drops every block of the file. Private to cache/. See docs/CACHE.md "Verification".
//
// Locking: CacheFile::hash.mu is taken with no block lock (OFD) held, except that fetchers holding
// their run's block locks only try_lock it; under it a drop may wait for block locks. vmu_ and
// epoch_mu_ are leaves.
//
// `source` (may be null) names the file and its host in a mismatch's message; its name() is only
// built then: the offers run on every read of a file being hashed.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "cache/block_cache.h"
#include "cache/counters.h"
#include "cache/disk_store.h"
#include "cache/usage.h"

namespace hffs::cache {

// A file hashed as it streamed in did not match (whoever completed the hash: the reader, a
// read-ahead worker): one log line, and the next fetch comes from a fresh location. Other
// outcomes (ok, or an error that is not a mismatch) are not the reader's failure: ok.
Status stream_verdict(const Status& s, BlockSource& src);

class Verifier {
 public:
  Verifier(const CacheConfig& cfg, UsageFile& usage, Counters& counters)
      : cfg_(cfg), usage_(usage), c_(counters) {}
  ~Verifier();

  // Every block of f is verified (cached per drop generation: O(1) once true).
  bool all_verified(CacheFile& f);
  // Every block of [first, last] is verified.
  bool range_verified(CacheFile& f, uint64_t first, uint64_t last);

  // Bytes [offset, offset + data.size()) of a file's content, just fetched or served, offered to
  // its stream hash.
  struct Offer {
    uint64_t offset = 0;
    std::span<const char> data;
    bool kept = true;   // they are the cache file's bytes
    bool wait = false;  // false: do nothing when another thread is hashing the file (a thread that
                        // holds block locks must never wait for it)
    const BlockSource* source = nullptr;
    uint64_t epoch = 0;  // the key's corrupt epoch when the bytes were obtained: bytes from before
                         // a mismatch are not taken (they would start a new hash with what was dropped)
    bool forward = false;  // also hash the present blocks after them (a read-ahead worker may; a
                           // reader must not: its read would wait for hashing everything fetched ahead of it)
  };
  // The hash takes o's bytes if they reach its frontier, then extends over the present blocks
  // that follow (with o.forward). When that completes the hash the file is judged as by
  // judge(served=true): kCorrupt on a mismatch.
  Status offer(CacheFile& f, const Offer& o);
  // offer() of nothing, without waiting: the hash follows the blocks present.
  Status advance(CacheFile& f, const BlockSource* source) {
    return offer(f, Offer{0, {}, true, false, source, corrupt_epoch(f.key), /*forward=*/true});
  }
  // Judges a complete file: finishes its stream hash (from the start with `force`, even if every
  // block is verified already) and compares it with the key. Match: every block is marked
  // verified. Mismatch: every block is dropped and CacheConfig::on_corrupt is called; with
  // `served` (unverified blocks of it may have been served) the key's corrupt epoch is bumped
  // too. kCorrupt naming `source`. Not complete (a block was dropped meanwhile): kInvalidInput,
  // nothing changes. `kind`: hash as the caller's FileRef says rather than as the file was opened.
  Status judge(CacheFile& f, bool force, const BlockSource* source, bool served, HashKind kind);
  Status judge(CacheFile& f, bool force, const BlockSource* source, bool served) {
    return judge(f, force, source, served, f.kind);
  }
  // For a file the cache cannot hold at all (no cache pair: directory gone, read-only, full): the
  // bytes served, in order, feed an in-memory stream hash; the read that completes it fails with
  // kCorrupt on a mismatch (and the key's epoch is bumped). Out-of-order bytes are not hashed.
  Status offer_uncached(const FileRef& file, uint64_t offset, std::span<const char> data, const BlockSource* source);
  // Queues judge() of a complete, unverified file on the background thread (nice 19).
  void queue(const std::shared_ptr<CacheFile>& f, bool served);
  // Waits until everything queued so far was judged.
  void quiesce();

  // How many times content `key` failed verification in this process (0: never).
  uint64_t corrupt_epoch(const std::string& key) const;

  // Clears every map byte of f and frees its data (drop generation bumped first). Refused, with
  // a log line, while the file is pinned for passthrough.
  void drop(CacheFile& f);

 private:
  struct Verdict {
    Status status;
    bool marked = false;  // the blocks were marked verified
  };
  // Caller holds f.hash.mu for all three; finish() may release it (callbacks run unlocked).
  void start(CacheFile& f, HashKind kind);
  void hash_forward(CacheFile& f);
  Verdict finish(std::unique_lock<std::mutex>& lk, CacheFile& f, const BlockSource* source, bool served);
  void loop();

  const CacheConfig& cfg_;
  UsageFile& usage_;
  Counters& c_;

  struct LooseHash {  // offer_uncached's state of one key
    std::mutex mu;
    std::unique_ptr<ContentHasher> h;
    uint64_t off = 0;
  };
  std::mutex loose_mu_;  // leaf: the table; each LooseHash::mu is taken after releasing it
  std::unordered_map<std::string, std::shared_ptr<LooseHash>> loose_;
  void note_corrupt(const FileRef& file);

  mutable std::mutex epoch_mu_;
  std::unordered_map<std::string, uint64_t> epochs_;
  std::atomic<bool> any_corrupt_{false};

  std::mutex vmu_;
  std::condition_variable vcv_;
  std::deque<std::pair<std::shared_ptr<CacheFile>, bool>> queue_;  // file, served
  bool busy_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace hffs::cache
