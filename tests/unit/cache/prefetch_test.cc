// BlockCache::prefetch: makes ranges present without copying out, fetches only what is missing,
// and never waits on (or duplicates) another reader's fetch.
#include <thread>

#include "cache_fixture.h"

namespace hffs::cache::test {
namespace {

using PrefetchTest = CacheTest;

TEST_F(PrefetchTest, FetchesMissingRunsOnceThenReadsHitDisk) {
  auto c = open_cache();
  FileRef f = gen_file(10 * kBlock + 77);
  GenSource src(f.size);
  expect_read(*c, f, src, 3 * kBlock, kBlock);  // block 3 present
  ASSERT_EQ(src.calls.load(), 1u);
  ASSERT_TRUE(c->prefetch(f, 0, f.size, src).is_ok());
  // Two runs: [0,3) and [4, end); the present block is not fetched again.
  EXPECT_EQ(src.calls.load(), 3u);
  EXPECT_EQ(src.bytes.load(), f.size);
  EXPECT_TRUE(c->contains(f, 0, f.size));
  uint64_t hits = c->stats().hit_bytes;
  EXPECT_EQ(hits, 0u) << "prefetch reads nothing back from disk";
  expect_read(*c, f, src, 0, f.size);
  EXPECT_EQ(src.calls.load(), 3u) << "every byte came from the cache";
  EXPECT_EQ(c->stats().hit_bytes, f.size);
  // Prefetching what is present costs nothing; past EOF and empty ranges are no-ops.
  ASSERT_TRUE(c->prefetch(f, 0, f.size, src).is_ok());
  ASSERT_TRUE(c->prefetch(f, f.size, 100, src).is_ok());
  ASSERT_TRUE(c->prefetch(f, 5, 0, src).is_ok());
  EXPECT_EQ(src.calls.load(), 3u);
}

TEST_F(PrefetchTest, ClampsAtEofAndStoresTheSha256OfEveryByte) {
  auto c = open_cache(kBlock, /*verify_on_complete=*/true);
  FileRef f = gen_file(6 * kBlock + 1);
  GenSource src(f.size);
  ASSERT_TRUE(c->prefetch(f, 2 * kBlock, 1ull << 30, src).is_ok());
  ASSERT_TRUE(c->prefetch(f, 0, 2 * kBlock, src).is_ok());
  std::lock_guard lk(src.mu);
  for (auto& [off, len] : src.ranges) EXPECT_LE(off + len, f.size) << "never fetched past EOF";
  c->quiesce();
  EXPECT_EQ(c->stats().verified_files, 1u) << "the prefetched file hashed to its key";
  EXPECT_EQ(c->stats().corrupt_files, 0u);
}

TEST_F(PrefetchTest, LeavesBlocksAnotherReaderIsFetchingToIt) {
  auto c = open_cache();
  FileRef f = gen_file(4 * kBlock);
  GenSource src(f.size);
  std::atomic<bool> in_fetch{false}, release{false};
  src.hook = [&](uint64_t off, size_t) {
    if (off == 0) {
      in_fetch = true;
      while (!release) std::this_thread::yield();
    }
    return Status::ok();
  };
  std::thread reader([&] { expect_read(*c, f, src, 0, 2 * kBlock); });
  ASSERT_TRUE(eventually([&] { return in_fetch.load(); }));
  // Blocks 0-1 are in flight for the reader: prefetch fetches 2-3 only and returns without waiting.
  ASSERT_TRUE(c->prefetch(f, 0, f.size, src).is_ok());
  EXPECT_EQ(src.calls.load(), 2u);
  EXPECT_TRUE(c->contains(f, 2 * kBlock, 2 * kBlock));
  EXPECT_FALSE(c->contains(f, 0, kBlock)) << "the reader's fetch is still held";
  release = true;
  reader.join();
  EXPECT_EQ(src.bytes.load(), f.size) << "no byte fetched twice";
  expect_read(*c, f, src, 0, f.size);
  EXPECT_EQ(src.calls.load(), 2u);
}

TEST_F(PrefetchTest, FailureIsReportedAndNothingIsMarked) {
  auto c = open_cache();
  FileRef f = gen_file(3 * kBlock);
  GenSource src(f.size);
  src.hook = [](uint64_t, size_t) { return Status(Errc::kNetwork, "down"); };
  Status s = c->prefetch(f, 0, f.size, src);
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), Errc::kNetwork);
  EXPECT_FALSE(c->contains(f, 0, 1));
  src.hook = nullptr;
  expect_read(*c, f, src, 0, f.size);
}

}  // namespace
}  // namespace hffs::cache::test
