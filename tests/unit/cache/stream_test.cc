// Runs fetched straight into the cache file as the source streams them (RunWriter): pieces
// smaller and larger than its buffer, a resume that sends bytes again, a reader's part copied on
// the way, and a write that fails mid-stream (served, nothing kept, no space left taken).
#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>

#include "cache_fixture.h"

namespace hffs::cache::test {
namespace {

// 300 blocks of 4 KiB: more than one 256 KiB buffer, ending in a partial block.
constexpr uint64_t kSize = 300 * 4096 + 1234;

class StreamTest : public CacheTest {
 protected:
  // After one fetch: every block kept, a re-read served from the file, and the verifier's sha256
  // of the file as written equal to its key.
  void expect_kept_and_verified(BlockCache& c, const FileRef& f, GenSource& src) {
    EXPECT_EQ(src.calls.load(), 1u);
    EXPECT_EQ(c.stats().write_errors, 0u);
    EXPECT_TRUE(c.contains(f, 0, f.size));
    uint64_t hits = c.stats().hit_bytes;
    expect_read(c, f, src, 0, f.size);
    EXPECT_EQ(src.calls.load(), 1u);
    EXPECT_EQ(c.stats().hit_bytes, hits + f.size);
    c.quiesce();
    EXPECT_EQ(c.stats().verified_files, 1u);
    EXPECT_EQ(c.stats().corrupt_files, 0u);
  }
};

TEST_F(StreamTest, SmallPiecesAreWrittenAndEveryByteIsRight) {
  auto c = open_cache(kBlock, /*verify_on_complete=*/true);
  FileRef f = gen_file(kSize);
  GenSource src(f.size);
  src.piece = 16384 + 7;  // TLS-record sized, never aligned to a block or the buffer
  expect_read(*c, f, src, 0, f.size);  // the reader's copy, made as the pieces pass
  expect_kept_and_verified(*c, f, src);
}

TEST_F(StreamTest, PiecesLargerThanTheBufferAreWrittenAsTheyAre) {
  auto c = open_cache(kBlock, true);
  FileRef f = gen_file(kSize);
  GenSource src(f.size);
  src.piece = 512 << 10;  // plain HTTP: curl hands over up to 512 KiB at once
  ASSERT_TRUE(c->prefetch(f, 0, f.size, src).is_ok());
  expect_kept_and_verified(*c, f, src);
}

TEST_F(StreamTest, ResumeThatSendsBytesAgainLeavesTheRightBytes) {
  auto c = open_cache(kBlock, true);
  FileRef f = gen_file(kSize);
  GenSource src(f.size);
  src.piece = 10'000;
  src.rewind_at = 700'000;  // past two buffer flushes, with a part of one buffered
  src.rewind_to = 123'457;  // back into bytes already written
  expect_read(*c, f, src, 0, f.size);
  expect_kept_and_verified(*c, f, src);
}

TEST_F(StreamTest, ReadersPartIsCopiedOnTheWayAcrossAResume) {
  auto c = open_cache();
  FileRef f = gen_file(kSize);
  GenSource src(f.size);
  src.piece = 10'000;
  src.rewind_at = 400'000;
  src.rewind_to = 5'000;
  expect_read(*c, f, src, 4096, 600'000);  // one run of 147 blocks; the part is all of it but 4096 + tail
  EXPECT_EQ(src.calls.load(), 1u);
  EXPECT_TRUE(c->contains(f, 4096, 600'000));
}

TEST_F(StreamTest, WriteFailingMidStreamServesTheBytesKeepsNoneAndGivesTheSpaceBack) {
  auto c = open_cache();
  FileRef f = gen_file(kSize);
  GenSource src(f.size);
  src.piece = 16384;
  expect_read(*c, f, src, 0, 1);  // creates the file; block 0 kept
  // Writes past 100 blocks fail with EFBIG (as ENOSPC would): SIGXFSZ ignored for the test.
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto prev = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = old;
  lim.rlim_cur = 100 * kBlock;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
  expect_read(*c, f, src, kBlock, f.size - kBlock);  // served in full all the same
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, prev);
  EXPECT_EQ(c->stats().write_errors, 1u);
  EXPECT_EQ(src.calls.load(), 3u) << "block 0, the failed stream, the fetch through memory";
  EXPECT_TRUE(c->contains(f, 0, kBlock));
  EXPECT_FALSE(c->contains(f, kBlock, 1));
  // The 99 blocks written before the failure were punched out again.
  struct stat st {};
  ASSERT_EQ(::stat(data_path(f).c_str(), &st), 0);
  EXPECT_LE(static_cast<uint64_t>(st.st_blocks) * 512, 2 * kBlock);
  expect_read(*c, f, src, kBlock, f.size - kBlock);  // refetched and kept this time
  EXPECT_TRUE(c->contains(f, 0, f.size));
}

}  // namespace
}  // namespace hffs::cache::test
