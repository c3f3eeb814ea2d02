// Sequential read-ahead: per-inode stream detection and a pool of workers that keep several
// parts of a file in flight ahead of the reader, under a global budget of bytes in flight.
//
// Access is tracked per inode, not per handle: page faults of many processes mmapping one file
// share a stream. Each inode keeps a few streams (`kStreams`), so readers of one file at different
// places (several loaders, a reader beside a random one) each keep theirs. A read near a stream's
// frontier (within `slack`, which absorbs the kernel's slightly out-of-order async reads) belongs
// to it; a read that matches no stream starts a new one (replacing the least recently used).
// Read-ahead starts only once a stream is confirmed: it began at offset 0 of a file not read
// before, or reads that extended its frontier brought `confirm_bytes` (a count of bytes, not of
// reads: the kernel splits one 1 MiB read into two FUSE requests when max_write is a little under
// 1 MiB). Random readers (fio, a far seek, one page fault of a sparse mmap, a 2 MiB tensor) thus
// fetch only what they ask for: a read that happens to land near another's end starts nothing.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/status.h"

namespace hffs::fs {

// Bytes of read-ahead in flight (queued or being fetched), bounded. One per mount: in `--hub`
// mode every repo's Prefetcher shares it, so the bound holds across repos.
class InflightBudget {
 public:
  explicit InflightBudget(uint64_t limit) : limit_(limit) {}
  bool try_take(uint64_t n) {
    uint64_t cur = used_.load(std::memory_order_relaxed);
    do {
      if (cur + n > limit_) return false;
    } while (!used_.compare_exchange_weak(cur, cur + n, std::memory_order_relaxed));
    return true;
  }
  void give(uint64_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  uint64_t limit() const { return limit_; }
  // Files reading ahead (with parts in flight or wanting some), across every Prefetcher using
  // this budget: each may hold limit() / files().
  void add_files(int64_t d) { files_.fetch_add(d, std::memory_order_relaxed); }
  uint64_t files() const {
    int64_t f = files_.load(std::memory_order_relaxed);
    return f > 0 ? static_cast<uint64_t>(f) : 0;
  }

 private:
  const uint64_t limit_;
  std::atomic<uint64_t> used_{0};
  std::atomic<int64_t> files_{0};
};

struct PrefetchConfig {
  uint64_t part_size = 8ull << 20;           // one range request per part
  uint64_t max_inflight_bytes = 128ull << 20;  // budget across all files, when `budget` is unset
  std::shared_ptr<InflightBudget> budget;      // shared across Prefetchers (--hub); else own
  uint64_t first_window = 8ull << 20;        // read-ahead once a stream is seen to be sequential
  uint64_t max_window = 256ull << 20;
  uint64_t slack = 4ull << 20;
  uint64_t confirm_bytes = 4ull << 20;  // read in a stream away from offset 0 before it reads ahead
  unsigned workers = 16;
  bool enabled = true;

  static PrefetchConfig off() {
    PrefetchConfig c;
    c.enabled = false;
    return c;
  }
};

struct PrefetchStats {
  uint64_t parts_issued = 0;
  uint64_t parts_failed = 0;
  uint64_t budget_waits = 0;  // parts not issued because the budget was exhausted
  uint64_t share_waits = 0;   // parts not issued because the file had its share of the budget
};

class Prefetcher {
 public:
  // warm(ino, size, off, len): make [off, off+len) of inode `ino` present in the cache.
  using WarmFn = std::function<Status(uint64_t ino, uint64_t off, uint64_t len)>;

  Prefetcher(PrefetchConfig cfg, WarmFn warm);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // Called before a read of [off, off+len) of a file of `size` bytes is served.
  void on_read(uint64_t ino, uint64_t size, uint64_t off, uint64_t len);
  PrefetchStats stats() const;

 private:
  struct Stream {
    uint64_t frontier = 0;  // end of the furthest read
    uint64_t issued = 0;    // read-ahead issued up to here
    uint64_t window = 0;    // 0 until the stream is confirmed sequential
    uint64_t used = 0;      // last use (the inode's tick), 0 = free slot
    uint64_t seen = 0;      // bytes of the reads that extended the frontier
  };
  static constexpr size_t kStreams = 8;
  struct Streams {
    Stream s[kStreams];
    uint64_t tick = 0;
  };
  // The stream `off` continues, or null.
  Stream* match(Streams& ss, uint64_t off);
  // Queues the read-ahead of a confirmed stream whose frontier moved; true if any part was queued.
  bool issue(uint64_t ino, uint64_t size, Stream& s);
  // What one file may have in flight: the budget split evenly between the files reading ahead
  // (at least one part; every repo's files of a --hub mount count), so 8 loaders of 8 files each keep parts in flight, and the first stream
  // to grow its window does not take the whole budget while the others fetch 1 MiB at a time.
  // A file reads ahead while it has parts in flight, or was refused some within the last
  // `kWantMemory` reads of the mount (a reader that stopped is forgotten then).
  uint64_t fair_share(uint64_t ino);
  // Counts ino in the budget's files() while it has parts in flight or wants some.
  void refresh(uint64_t ino);
  static constexpr uint64_t kWantMemory = 1024;
  struct Part {
    uint64_t ino, off, len;
  };
  void worker();

  const PrefetchConfig cfg_;
  WarmFn warm_;
  mutable std::mutex mu_;  // guards everything below; never held across warm_()
  std::condition_variable cv_;
  std::unordered_map<uint64_t, Streams> streams_;
  std::deque<Part> queue_;
  std::unordered_map<uint64_t, uint64_t> inflight_;  // bytes queued or running, per inode (> 0)
  std::unordered_map<uint64_t, uint64_t> wanting_;   // inode -> reads_ when it was last refused parts
  uint64_t reads_ = 0;                               // on_read calls so far
  std::unordered_set<uint64_t> active_;              // counted in budget_->files()
  std::shared_ptr<InflightBudget> budget_;  // queued + running bytes
  bool stop_ = false;
  PrefetchStats stats_;
  std::vector<std::thread> threads_;
};

}  // namespace hffs::fs
