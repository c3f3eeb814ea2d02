// BlockCache::prefetch (ranges made present without copying out, only what is missing fetched,
// never waiting on another reader's fetch), splice_present and pin_complete.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

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


// A pipe big enough for the test's reads.
struct TestPipe {
  PipeFds p;
  TestPipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    p = {fds[0], fds[1]};
    EXPECT_GE(::fcntl(p.wr, F_SETPIPE_SZ, 1 << 20), 1 << 20);
  }
  ~TestPipe() {
    ::close(p.rd);
    ::close(p.wr);
  }
  size_t pending() const {
    int n = 0;
    EXPECT_EQ(::ioctl(p.rd, FIONREAD, &n), 0);
    return static_cast<size_t>(n);
  }
  std::string take(size_t n) const {
    std::string s(n, '\0');
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::read(p.rd, s.data() + got, n - got);
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
    s.resize(got);
    return s;
  }
};

using SpliceTest = CacheTest;

TEST_F(SpliceTest, PresentRangesArriveByteExactMissingOnesAreLeftToRead) {
  auto c = open_cache();
  FileRef f = gen_file(6 * kBlock + 500);
  GenSource src(f.size);
  TestPipe pipe;
  auto r = c->splice_present(f, 0, kBlock, pipe.p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 0u) << "nothing cached yet";
  ASSERT_TRUE(c->prefetch(f, 0, 3 * kBlock, src).is_ok());
  r = c->splice_present(f, 2 * kBlock + 7, 2 * kBlock, pipe.p);  // block 3 missing
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 0u);
  EXPECT_EQ(pipe.pending(), 0u) << "a refused splice leaves the pipe empty";
  r = c->splice_present(f, 100, 2 * kBlock + 3, pipe.p);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(*r, 2 * kBlock + 3);
  std::string got = pipe.take(*r);
  ASSERT_EQ(got.size(), *r);
  EXPECT_EQ(sha256_hex(got), sha256_hex(gen_content(f.size).substr(100, *r)));
  // The tail, clamped at EOF.
  ASSERT_TRUE(c->prefetch(f, 0, f.size, src).is_ok());
  r = c->splice_present(f, 6 * kBlock, 1 << 20, pipe.p);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(*r, 500u);
  EXPECT_EQ(pipe.take(500), gen_content(f.size).substr(6 * kBlock));
  EXPECT_EQ(src.bytes.load(), f.size);
  EXPECT_EQ(c->stats().hit_bytes, 2 * kBlock + 3 + 500);
}

TEST_F(SpliceTest, DroppedBlocksAreNotSpliced) {
  auto c = open_cache();
  std::string content = gen_content(4 * kBlock);
  FileRef f{sha256_hex("not this content"), HashKind::kSha256, content.size()};  // key will not match
  GenSource src(f.size);
  ASSERT_TRUE(c->prefetch(f, 0, f.size, src).is_ok());
  EXPECT_EQ(c->verify_file(f).code(), Errc::kCorrupt);  // drops every block
  TestPipe pipe;
  auto r = c->splice_present(f, 0, f.size, pipe.p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 0u);
  EXPECT_EQ(pipe.pending(), 0u);
}


using PinTest = CacheTest;

TEST_F(PinTest, OnlyCompleteFilesArePinnedAndPinnedFilesSurviveClearAndDrop) {
  auto c = open_cache();
  FileRef f = gen_file(3 * kBlock + 9);
  GenSource src(f.size);
  ASSERT_TRUE(c->prefetch(f, 0, 2 * kBlock, src).is_ok());
  EXPECT_EQ(c->pin_complete(f), nullptr) << "incomplete";
  ASSERT_TRUE(c->prefetch(f, 0, f.size, src).is_ok());
  auto pin = c->pin_complete(f);
  ASSERT_NE(pin, nullptr);
  auto again = c->pin_complete(f);
  ASSERT_NE(again, nullptr) << "pins are shared";
  // The pinned fd reads the whole content.
  std::string got(f.size, '\0');
  ASSERT_EQ(::pread(pin->data_fd(), got.data(), got.size(), 0), static_cast<ssize_t>(f.size));
  EXPECT_EQ(sha256_hex(got), f.key);
  auto r = maint().clear();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->busy_blocks, 4u) << "every block of the pinned file is in use";
  EXPECT_TRUE(c->contains(f, 0, f.size));
  pin.reset();
  EXPECT_TRUE(maint().clear().ok());
  EXPECT_TRUE(c->contains(f, 0, f.size)) << "still pinned once";
  again.reset();
  r = maint().clear();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->busy_blocks, 0u);
  EXPECT_FALSE(c->contains(f, 0, 1)) << "unpinned: cleared";
}

TEST_F(PinTest, APinnedCorruptFileIsNotDroppedUnderTheKernel) {
  auto c = open_cache();
  std::string content = gen_content(2 * kBlock);
  FileRef f{sha256_hex("something else"), HashKind::kSha256, content.size()};
  GenSource src(f.size);
  ASSERT_TRUE(c->prefetch(f, 0, f.size, src).is_ok());
  auto pin = c->pin_complete(f);
  ASSERT_NE(pin, nullptr);
  EXPECT_EQ(c->verify_file(f).code(), Errc::kCorrupt);
  EXPECT_TRUE(c->contains(f, 0, f.size)) << "blocks stay while the kernel may read them";
  pin.reset();
  EXPECT_EQ(c->verify_file(f).code(), Errc::kCorrupt);
  EXPECT_FALSE(c->contains(f, 0, 1)) << "dropped once unpinned";
}

}  // namespace
}  // namespace hffs::cache::test
