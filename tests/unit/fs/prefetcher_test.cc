#include "fs/prefetcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <chrono>
#include <set>
#include <thread>

using namespace hffs;
using fs::PrefetchConfig;
using fs::Prefetcher;

namespace {
constexpr uint64_t MiB = 1 << 20;

// Records parts; can hold workers until released, so budgets can be observed deterministically.
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  bool hold = false;
  std::vector<std::pair<uint64_t, uint64_t>> parts;
  std::atomic<uint64_t> running{0}, max_running_bytes{0}, running_bytes{0};
  Status warm(uint64_t, uint64_t off, uint64_t len) {
    uint64_t rb = running_bytes += len;
    uint64_t prev = max_running_bytes.load();
    while (rb > prev && !max_running_bytes.compare_exchange_weak(prev, rb)) {
    }
    std::unique_lock lk(mu);
    parts.emplace_back(off, len);
    cv.wait(lk, [&] { return !hold; });
    running_bytes -= len;
    return Status::ok();
  }
  void release() {
    {
      std::lock_guard lk(mu);
      hold = false;
    }
    cv.notify_all();
  }
};

PrefetchConfig cfg(uint64_t budget = 64 * MiB) {
  PrefetchConfig c;
  c.part_size = 8 * MiB;
  c.first_window = 8 * MiB;
  c.max_window = 64 * MiB;
  c.max_inflight_bytes = budget;
  c.workers = 4;
  return c;
}
}  // namespace

TEST(Prefetcher, SequentialFromStartReadsAheadAndGrows) {
  Recorder rec;
  uint64_t issued_after_first;
  {
    Prefetcher p(cfg(1024 * MiB), [&](uint64_t i, uint64_t o, uint64_t l) { return rec.warm(i, o, l); });
    p.on_read(1, 1024 * MiB, 0, MiB);
    issued_after_first = p.stats().parts_issued;
    EXPECT_EQ(issued_after_first, 1u);  // [1 MiB, 8 MiB)
    for (uint64_t off = MiB; off < 64 * MiB; off += MiB) p.on_read(1, 1024 * MiB, off, MiB);
    EXPECT_GT(p.stats().parts_issued, 8u) << "window must grow past the first part";
  }
  // Every part is aligned to part_size after the first, none overlaps, none passes EOF.
  std::set<uint64_t> starts;
  for (auto& [o, l] : rec.parts) {
    EXPECT_TRUE(starts.insert(o).second) << "part at " << o << " issued twice";
    EXPECT_LE(o + l, 1024 * MiB);
    EXPECT_LE(l, 8 * MiB);
  }
}

TEST(Prefetcher, FarSeekFetchesNothingAhead) {
  Recorder rec;
  Prefetcher p(cfg(), [&](uint64_t i, uint64_t o, uint64_t l) { return rec.warm(i, o, l); });
  p.on_read(7, 1024 * MiB, 500 * MiB, 4096);
  p.on_read(7, 1024 * MiB, 100 * MiB, 4096);
  p.on_read(7, 1024 * MiB, 900 * MiB, 4096);
  EXPECT_EQ(p.stats().parts_issued, 0u);
  // The next contiguous read confirms a pattern and starts read-ahead.
  p.on_read(7, 1024 * MiB, 900 * MiB + 4096, 4096);
  EXPECT_GE(p.stats().parts_issued, 1u);
  std::lock_guard lk(rec.mu);
  for (auto& [o, l] : rec.parts) {
    EXPECT_GE(o, 900 * MiB);
    EXPECT_LE(o + l, 900 * MiB + 8192 + 8 * MiB);
  }
}

TEST(Prefetcher, MmapReadAroundKeepsTheStreamAndItsWindow) {
  // What page faults on a mapping look like: each miss reads 16 MiB centred on the fault, so most
  // requests start up to 8 MiB behind the frontier, and arrive in no particular order.
  Recorder rec;
  Prefetcher p(cfg(1024 * MiB), [&](uint64_t i, uint64_t o, uint64_t l) { return rec.warm(i, o, l); });
  p.on_read(5, 1024 * MiB, 0, MiB);
  for (uint64_t fault = 8 * MiB; fault < 256 * MiB; fault += 8 * MiB) {
    for (uint64_t off = fault; off < fault + 8 * MiB; off += MiB) p.on_read(5, 1024 * MiB, off, MiB);
    for (uint64_t off = fault - 8 * MiB; off < fault; off += 2 * MiB) p.on_read(5, 1024 * MiB, off, MiB);
  }
  // Workers record a part when they run it: wait (yielding, with a deadline) for all issued parts.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    {
      std::lock_guard lk(rec.mu);
      if (rec.parts.size() >= p.stats().parts_issued) break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), until) << "workers did not run the issued parts";
    std::this_thread::yield();
  }
  std::lock_guard lk(rec.mu);
  uint64_t furthest = 0;
  for (auto& [o, l] : rec.parts) furthest = std::max(furthest, o + l);
  EXPECT_GE(furthest, 256 * MiB + 32 * MiB) << "the window grew although reads went back and forth";
  std::set<uint64_t> starts;
  for (auto& [o, l] : rec.parts) EXPECT_TRUE(starts.insert(o).second) << "part at " << o << " issued twice";
}

TEST(Prefetcher, StaysWithinBudgetAndClampsAtEof) {
  Recorder rec;
  rec.hold = true;
  {
    Prefetcher p(cfg(16 * MiB), [&](uint64_t i, uint64_t o, uint64_t l) { return rec.warm(i, o, l); });
    for (uint64_t off = 0; off < 40 * MiB; off += MiB) p.on_read(3, 41 * MiB, off, MiB);
    EXPECT_LE(rec.max_running_bytes.load(), 16 * MiB);
    EXPECT_GT(p.stats().budget_waits, 0u);
    rec.release();
  }
  for (auto& [o, l] : rec.parts) EXPECT_LE(o + l, 41 * MiB);
}

TEST(Prefetcher, PrefetchersSharingABudgetStayWithinItTogether) {
  // --hub mode: one Prefetcher per repo, one budget per mount.
  Recorder rec;
  rec.hold = true;
  auto budget = std::make_shared<hffs::fs::InflightBudget>(24 * MiB);
  PrefetchConfig c = cfg();
  c.budget = budget;
  {
    auto warm = [&](uint64_t i, uint64_t o, uint64_t l) { return rec.warm(i, o, l); };
    Prefetcher a(c, warm), b(c, warm);
    for (uint64_t off = 0; off < 40 * MiB; off += MiB) {
      a.on_read(1, 100 * MiB, off, MiB);
      b.on_read(1, 100 * MiB, off, MiB);
    }
    EXPECT_EQ(budget->used(), 24 * MiB) << "filled, and not past the shared limit";
    EXPECT_GT(a.stats().parts_issued, 0u);
    EXPECT_GT(b.stats().parts_issued, 0u);
    EXPECT_GT(b.stats().budget_waits, 0u);
    rec.release();
  }
  EXPECT_LE(rec.max_running_bytes.load(), 24 * MiB);
  EXPECT_EQ(budget->used(), 0u) << "every part, fetched or dropped at shutdown, gave its bytes back";
}

TEST(Prefetcher, StreamsAreTrackedPerInode) {
  Recorder rec;
  Prefetcher p(cfg(1024 * MiB), [&](uint64_t i, uint64_t o, uint64_t l) { return rec.warm(i, o, l); });
  p.on_read(1, 100 * MiB, 0, MiB);
  p.on_read(2, 100 * MiB, 50 * MiB, MiB);  // another file's seek must not reset file 1
  p.on_read(1, 100 * MiB, MiB, MiB);
  // file 1: [1,8) on its first read; its second read is still inside that window (parts end on
  // part boundaries); file 2's seek adds none and does not reset file 1.
  EXPECT_EQ(p.stats().parts_issued, 1u);
  p.on_read(1, 100 * MiB, 2 * MiB, 6 * MiB);  // frontier 8: the window doubles and moves on
  EXPECT_EQ(p.stats().parts_issued, 3u);
}
