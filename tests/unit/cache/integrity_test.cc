// Never a wrong byte: content that does not hash to its key is not served (small files, strict
// mode), fails the read that completes it (large files), and is fetched again from a fresh
// location before the file answers EIO.
#include <fstream>

#include "cache_fixture.h"

namespace hffs::cache::test {
namespace {

using IntegrityTest = CacheTest;
constexpr uint64_t kWhole = 1u << 20;  // "small file" threshold for these tests

std::string map_bytes(const std::filesystem::path& p) {
  std::ifstream m(p, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(m)), std::istreambuf_iterator<char>());
  return s.size() >= 16 ? s.substr(16) : std::string();
}

// A cache in auto mode with the test's threshold, adjusted by `tweak`.
std::unique_ptr<BlockCache> open_auto(const std::filesystem::path& dir, const std::function<void(CacheConfig&)>& tweak) {
  CacheConfig cfg;
  cfg.dir = dir;
  cfg.block_size = 4096;  // CacheTest::kBlock
  cfg.verify = VerifyMode::kAuto;
  cfg.whole_file_max = kWhole;
  tweak(cfg);
  auto c = BlockCache::open(cfg);
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c ? std::move(*c) : nullptr;
}

Status read_status(BlockCache& c, const FileRef& f, BlockSource& src, uint64_t off, size_t len) {
  std::string buf(len, '\0');
  auto r = c.read(f, off, std::span<char>(buf.data(), len), src);
  return r ? Status::ok() : r.status();
}

TEST_F(IntegrityTest, SmallFileIsFetchedWholeAndVerifiedBeforeItsFirstByte) {
  auto c = open_cache(kBlock, true, kWhole);
  FileRef f = gen_file(3 * kBlock + 77);
  GenSource src(f.size);
  expect_read(*c, f, src, f.size - 10, 10);  // a footer read: the whole file comes, verified
  ASSERT_EQ(src.ranges.size(), 1u);
  EXPECT_EQ(src.ranges[0], std::make_pair(uint64_t{0}, size_t{f.size}));
  EXPECT_EQ(map_bytes(map_path(f)), std::string(4, '\2')) << "verified before the read returned";
  expect_read(*c, f, src, 0, f.size);
  EXPECT_EQ(src.calls.load(), 1u);
}

TEST_F(IntegrityTest, SmallFileWithWrongBytesIsNeverServed) {
  auto c = open_cache(kBlock, true, kWhole);
  FileRef f = gen_file(2 * kBlock + 5);
  GenSource liar(f.size);
  liar.lies = 1000;  // every fetch: right length, wrong bytes
  Status s = read_status(*c, f, liar, 0, 16);
  EXPECT_EQ(s.code(), Errc::kCorrupt) << s.to_string();
  EXPECT_EQ(liar.calls.load(), 2u) << "fetched again from a fresh location, then EIO";
  EXPECT_GE(liar.refreshes.load(), 1);
  EXPECT_EQ(corrupt_calls.load(), 2) << "each mismatch drops the kernel's copies too";
  EXPECT_FALSE(c->contains(f, 0, 1)) << "no bad block stays";
  EXPECT_EQ(c->stats().verify_failures, 1u);
  // Within the back-off the file answers at once, without fetching.
  EXPECT_EQ(read_status(*c, f, liar, kBlock, 16).code(), Errc::kCorrupt);
  EXPECT_EQ(liar.calls.load(), 2u);
}

TEST_F(IntegrityTest, SmallFileWrongOnceIsFetchedAgainAndServedRight) {
  auto c = open_cache(kBlock, true, kWhole);
  FileRef f = gen_file(2 * kBlock + 5);
  GenSource src(f.size);
  src.lies = 1;  // a CDN node with a bad copy, then a good one
  expect_read(*c, f, src, 100, 300);
  EXPECT_EQ(src.calls.load(), 2u);
  EXPECT_EQ(src.refreshes.load(), 1);
  EXPECT_EQ(c->stats().verify_refetches, 1u);
  EXPECT_EQ(map_bytes(map_path(f)), std::string(3, '\2'));
}

TEST_F(IntegrityTest, LargeFileMismatchFailsTheReadThatCompletesIt) {
  auto c = open_cache(kBlock, true, /*whole_max=*/0);
  FileRef f = gen_file(4 * kBlock);
  GenSource src(f.size);
  src.lies = 4;  // the first four fetches (the whole file, block by block) are bad
  for (int b = 0; b < 3; ++b) ASSERT_TRUE(read_status(*c, f, src, b * kBlock, kBlock).is_ok()) << b;
  EXPECT_EQ(c->corrupt_epoch(f), 0u);
  Status s = read_status(*c, f, src, 3 * kBlock, kBlock);
  EXPECT_EQ(s.code(), Errc::kCorrupt) << "the read that completes a bad file fails: " << s.to_string();
  EXPECT_EQ(c->corrupt_epoch(f), 1u);
  EXPECT_EQ(corrupt_calls.load(), 1);
  EXPECT_FALSE(c->contains(f, 0, 1));
  EXPECT_EQ(src.refreshes.load(), 1);
  // From now on the file is served only once fetched whole and verified.
  uint64_t before = src.calls.load();
  expect_read(*c, f, src, kBlock, 10);
  EXPECT_EQ(src.calls.load(), before + 1);
  EXPECT_EQ(map_bytes(map_path(f)), std::string(4, '\2'));
}

TEST_F(IntegrityTest, LargeFileIsHashedAsItArrives) {
  auto c = open_cache(kBlock, true, /*whole_max=*/0);
  FileRef f = gen_file(6 * kBlock + 3);
  GenSource src(f.size);
  for (uint64_t off = 0; off < f.size; off += kBlock) expect_read(*c, f, src, off, kBlock);
  // No quiesce: the read that completed the file judged it.
  EXPECT_EQ(map_bytes(map_path(f)), std::string(7, '\2'));
  EXPECT_EQ(c->stats().verified_files, 1u);
}

TEST_F(IntegrityTest, StrictServesNothingBeforeTheWholeFileIsVerified) {
  auto c = open_cache(kBlock, true, /*whole_max=*/0, VerifyMode::kStrict);
  FileRef f = gen_file(5 * kBlock);
  GenSource liar(f.size);
  liar.lies = 1000;
  EXPECT_EQ(read_status(*c, f, liar, 0, 1).code(), Errc::kCorrupt);
  EXPECT_FALSE(c->contains(f, 0, 1));
  FileRef g = gen_file(5 * kBlock, 3);
  GenSource honest(g.size, 3);
  expect_read(*c, g, honest, 2 * kBlock, 1, 3);
  EXPECT_EQ(map_bytes(map_path(g)), std::string(5, '\2')) << "one byte asked, the whole file verified first";
}

TEST_F(IntegrityTest, UnverifiedBlocksOfAnEarlierMountAreCheckedBeforeServed) {
  FileRef f = gen_file(3 * kBlock);
  {
    auto off = open_cache(kBlock, false);  // an earlier mount that did not verify
    GenSource liar(f.size);
    liar.lies = 1;
    ASSERT_TRUE(read_status(*off, f, liar, 0, kBlock).is_ok());
    auto v = maint().verify_all();
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->incomplete, 1u);
    EXPECT_EQ(v->unverified_bytes, kBlock) << "cache verify says how much is unverified";
  }
  auto c = open_cache(kBlock, true, kWhole);
  GenSource src(f.size);
  expect_read(*c, f, src, 0, f.size);  // the bad block 0 is caught, dropped and fetched again
  EXPECT_EQ(map_bytes(map_path(f)), std::string(3, '\2'));
}

TEST_F(IntegrityTest, VerifyCompleteFetchesWhatIsMissingAndChecks) {
  FileRef good = gen_file(3 * kBlock), bad = gen_file(3 * kBlock, 5);
  auto c = open_cache(kBlock, false);
  GenSource g(good.size), b(bad.size, 5);
  b.lies = 1;
  ASSERT_TRUE(read_status(*c, good, g, 0, kBlock).is_ok());
  ASSERT_TRUE(read_status(*c, bad, b, 0, kBlock).is_ok());  // a bad block from an earlier fetch
  auto v = maint().verify_all([&](const FileRef& f) -> std::unique_ptr<BlockSource> {
    return std::make_unique<GenSource>(f.size, f.key == bad.key ? 5 : 0);
  });
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->completed, 2u);
  EXPECT_EQ(v->ok, 1u);
  EXPECT_EQ(v->corrupt, 1u) << "the bad block is dropped with its file";
  EXPECT_FALSE(c->contains(bad, 0, 1));
  EXPECT_EQ(map_bytes(map_path(good)), std::string(3, '\2'));
}

TEST_F(IntegrityTest, SpliceAndPinOnlyServeWhatThePolicyAllows) {
  auto c = open_cache(kBlock, true, /*whole_max=*/0);
  FileRef f = gen_file(2 * kBlock);
  {
    auto off = open_cache(kBlock, false);
    GenSource src(f.size);
    expect_read(*off, f, src, 0, f.size);  // complete, not verified
  }
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  PipeFds pipe{p[0], p[1]};
  auto r = c->splice_present(f, 0, 100, pipe);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 0u) << "a complete unverified file is judged by read(), not spliced";
  // (Refusing the pin queues the file for verification: checked after the splice.)
  EXPECT_EQ(c->pin_complete(f), nullptr) << "the kernel only reads verified files";
  GenSource src(f.size);
  expect_read(*c, f, src, 0, 100);
  EXPECT_EQ(src.calls.load(), 0u);
  EXPECT_EQ(map_bytes(map_path(f)), std::string(2, '\2'));
  r = c->splice_present(f, 0, 100, pipe);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 100u);
  EXPECT_NE(c->pin_complete(f), nullptr);
  ::close(p[0]);
  ::close(p[1]);
}

TEST_F(IntegrityTest, SmallFileTheCacheCannotKeepIsVerifiedInMemory) {
  auto c = open_auto(dir_, [](CacheConfig& cfg) { cfg.max_size.bytes = kBlock; });  // nothing can be kept
  ASSERT_NE(c, nullptr);
  FileRef f = gen_file(3 * kBlock);
  GenSource src(f.size);
  src.lies = 1;
  expect_read(*c, f, src, kBlock, 50);
  EXPECT_EQ(src.calls.load(), 2u);
  GenSource liar(f.size);
  liar.lies = 100;
  FileRef g = gen_file(3 * kBlock, 8);
  EXPECT_EQ(read_status(*c, g, liar, 0, 10).code(), Errc::kCorrupt);
}

TEST_F(IntegrityTest, ReadAheadOfARunTheCacheCannotKeepFetchesNothing) {
  auto c = open_auto(dir_, [](CacheConfig& cfg) {
    cfg.verify = VerifyMode::kOff;
    cfg.max_size.bytes = 2 * kBlock;
  });
  ASSERT_NE(c, nullptr);
  FileRef f = gen_file(8 * kBlock);
  GenSource src(f.size);
  ASSERT_TRUE(c->prefetch(f, 0, f.size, src).is_ok());
  EXPECT_EQ(src.calls.load(), 0u) << "the reader would have fetched it again";
  // Reads that straddle blocks the cache cannot keep fetch what they ask, not whole blocks.
  for (uint64_t off = 0; off < f.size; off += kBlock + kBlock / 2)
    expect_read(*c, f, src, off, kBlock + kBlock / 2);
  EXPECT_EQ(src.bytes.load(), f.size) << "each byte fetched once";
}

TEST_F(IntegrityTest, AfterTheBackOffTheNextReadFetchesAgainAndAVerifiedFetchEndsTheEio) {
  auto c = open_auto(dir_, [](CacheConfig& cfg) {
    cfg.corrupt_retry_after = std::chrono::milliseconds(0);  // no back-off: every read tries again
  });
  ASSERT_NE(c, nullptr);
  FileRef f = gen_file(2 * kBlock);
  GenSource src(f.size);
  src.lies = 2;  // both fetches of the first read are bad
  EXPECT_EQ(read_status(*c, f, src, 0, 10).code(), Errc::kCorrupt);
  EXPECT_EQ(src.calls.load(), 2u);
  expect_read(*c, f, src, 0, f.size);  // the source is right again: served
  EXPECT_EQ(src.calls.load(), 3u);
}

TEST_F(IntegrityTest, ConcurrentReadersOfABadSmallFileShareOneWholeFetch) {
  auto c = open_cache(kBlock, true, kWhole);
  FileRef f = gen_file(4 * kBlock);
  GenSource src(f.size);
  src.lies = 1;
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&, t] {
      std::string buf(100, '\0');
      auto r = c->read(f, static_cast<uint64_t>(t) * 300, std::span<char>(buf.data(), buf.size()), src);
      if (!r) return;
      for (size_t i = 0; i < buf.size(); ++i)
        if (buf[i] != gen_byte(static_cast<uint64_t>(t) * 300 + i)) return;
      ok.fetch_add(1);
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 8) << "every reader gets the right bytes";
  EXPECT_EQ(src.calls.load(), 2u) << "one bad whole fetch, one good one, whatever the readers";
}

TEST_F(IntegrityTest, LargeFileTheCacheCannotKeepIsHashedFromTheBytesServed) {
  // Nothing of the file stays on disk (a bound of one block), so it never is "complete": the hash
  // follows the bytes served, and the read that completes it fails on a mismatch.
  auto c = open_auto(dir_, [](CacheConfig& cfg) {
    cfg.whole_file_max = 0;
    cfg.max_size.bytes = kBlock;
  });
  ASSERT_NE(c, nullptr);
  FileRef f = gen_file(6 * kBlock + 11);
  GenSource liar(f.size);
  liar.lies = 1000;
  Status last;
  for (uint64_t off = 0; off < f.size && last.is_ok(); off += kBlock + 100)
    last = read_status(*c, f, liar, off, kBlock + 100);
  EXPECT_EQ(last.code(), Errc::kCorrupt) << "a front-to-back reader never ends with bad bytes";
  EXPECT_EQ(c->corrupt_epoch(f), 1u);

  FileRef g = gen_file(6 * kBlock + 11, 4);
  GenSource honest(g.size, 4);
  for (uint64_t off = 0; off < g.size; off += kBlock + 100) expect_read(*c, g, honest, off, kBlock + 100, 4);
  EXPECT_EQ(c->corrupt_epoch(g), 0u) << "no false alarm";
}

TEST_F(IntegrityTest, LargeFileEvictedWhileStreamedIsStillJudged) {
  auto c = open_auto(dir_, [](CacheConfig& cfg) {
    cfg.whole_file_max = 0;
    cfg.max_size.bytes = 3 * kBlock;  // blocks read early are evicted before the end
  });
  ASSERT_NE(c, nullptr);
  FileRef f = gen_file(12 * kBlock);
  GenSource liar(f.size);
  liar.lies = 1;  // only the first block is bad
  Status last;
  for (uint64_t off = 0; off < f.size && last.is_ok(); off += kBlock) last = read_status(*c, f, liar, off, kBlock);
  EXPECT_EQ(last.code(), Errc::kCorrupt);
}

TEST_F(IntegrityTest, LargeFileWithNoCachePairIsJudgedFromTheBytesServed) {
  auto c = open_cache(kBlock, true, /*whole_max=*/0);
  std::filesystem::remove_all(dir_);
  { std::ofstream(dir_.string()) << "x"; }  // nothing can be created: every read is served uncached
  FileRef f = gen_file(5 * kBlock);
  GenSource liar(f.size);
  liar.lies = 1000;
  Status last;
  for (uint64_t off = 0; off < f.size && last.is_ok(); off += kBlock) last = read_status(*c, f, liar, off, kBlock);
  EXPECT_EQ(last.code(), Errc::kCorrupt) << "the read that completes a bad stream fails";
  EXPECT_EQ(c->corrupt_epoch(f), 1u);
  FileRef g = gen_file(5 * kBlock, 6);
  GenSource honest(g.size, 6);
  for (uint64_t off = 0; off < g.size; off += kBlock) expect_read(*c, g, honest, off, kBlock, 6);
  std::filesystem::remove(dir_);
}

}  // namespace
}  // namespace hffs::cache::test
