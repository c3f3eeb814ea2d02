// The block read path of BlockCache: serve a range of one cache file from the blocks present, and
// fetch the missing ones from the source, one fetch per block however many readers want it
// (single-flight in this process, OFD locks on map bytes across processes). Private to cache/.
//
// read_blocks is defined in block_cache.cc (present blocks, claims, waits), fetch_run and
// fetch_into_file in fetch_run.cc (the miss: one run of led blocks, fetched under its lock).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "cache/block_cache.h"
#include "cache/counters.h"
#include "cache/disk_store.h"
#include "cache/single_flight.h"
#include "cache/space.h"
#include "cache/usage.h"
#include "cache/verifier.h"

namespace hffs::cache {

// One read_blocks request: [offset, offset + len) of a file, within the file. out == nullptr:
// make the range present without copying a byte out (read-ahead, or filling a file before it is
// verified).
struct ReadReq {
  uint64_t offset = 0;
  uint64_t len = 0;
  char* out = nullptr;
  bool follow = false;     // without out: wait for blocks other readers are fetching (else leave them)
  bool keep_only = false;  // a run the cache cannot keep is not fetched: kNoSpace instead
  uint64_t epoch = 0;      // the key's corrupt epoch when the read began (see Verifier::offer)
};

class ReadPath {
 public:
  ReadPath(const CacheConfig& cfg, SingleFlight& flights, Counters& c, UsageFile& usage, Space& space,
           Verifier& verifier)
      : cfg_(cfg), flights_(flights), c_(c), usage_(usage), space_(space), verifier_(verifier) {}

  // Serves req's range of *fp into req.out. Without out: makes the range present without copying
  // a byte out (present blocks are skipped, blocks another reader is fetching are left to it
  // unless req.follow, missing ones are fetched and stored).
  Status read_blocks(const std::shared_ptr<CacheFile>& fp, const ReadReq& req, BlockSource& src);

 private:
  struct Claimed {
    uint64_t i;  // block index relative to the request's first block
    std::shared_ptr<Flight> flight;
  };
  // One read_blocks call: its request and which of its blocks are served (or left to others).
  struct Job {
    const std::shared_ptr<CacheFile>& fp;
    CacheFile& f;
    const ReadReq& req;
    BlockSource& src;
    uint64_t first;  // the request's first block
    uint64_t nb;     // its number of blocks
    std::vector<char> done;
    uint64_t remaining;
    uint64_t end() const { return req.offset + req.len; }
    void mark(uint64_t i) {
      done[i] = 1;
      --remaining;
    }
  };
  // What one fetch_run did besides its flights: passed between its steps.
  struct RunResult {
    Status status;
    bool kept_any = false;
    std::vector<std::shared_ptr<FetchedRun>> unkept;  // offered to the stream hash once unlocked
  };
  enum class Direct { kFetched, kCannotKeep, kWriteFailed };
  struct DirectResult {
    Direct kind;
    Status status;  // kFetched: the fetch's outcome
  };

  // Step 1: the present blocks, one pread per run (or only fadvise without out).
  Status read_present(Job& j);
  // Step 2: claims the missing blocks: leader of some, waiter on others.
  void claim(Job& j, std::vector<Claimed>& leads, std::vector<Claimed>& follows);
  // Step 4 (leading nothing): waits on other readers' fetches; the first failure, or `err`.
  Status follow(Job& j, std::span<Claimed> follows, Status err);

  // Step 3: fetches the led blocks `run` (consecutive) under the OFD lock on their map bytes,
  // skipping any another process filled meanwhile. Copies into req.out, completes every flight.
  Status fetch_run(Job& j, std::span<Claimed> run);
  // The blocks [b, b + sub.size()) of a run, all missing (their lock held).
  void fetch_missing(Job& j, std::span<Claimed> sub, uint64_t b, RunResult& rr);
  // Counts, copies out and completes the flights of a sub-run just fetched (`fetched`: through
  // memory; null: into the file).
  void deliver(Job& j, std::span<Claimed> sub, uint64_t b, const std::shared_ptr<FetchedRun>& fetched, uint64_t got);
  void abandon(Job& j, std::span<Claimed> sub, uint64_t b);
  // Fetches [run_off, run_off + run_len) of j.f straight into its data file (RunWriter).
  DirectResult fetch_into_file(Job& j, uint64_t run_off, uint64_t run_len);
  // After a run's locks are gone: the bound re-checked, the stream hash advanced.
  void after_run(Job& j, RunResult& rr);

  const CacheConfig& cfg_;
  SingleFlight& flights_;
  Counters& c_;
  UsageFile& usage_;
  Space& space_;
  Verifier& verifier_;
};

}  // namespace hffs::cache
