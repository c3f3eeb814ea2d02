// Single-threaded read path: block boundaries, runs, hits, persistence, format checks.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "cache_fixture.h"

namespace hffs::cache::test {
namespace {

using ReadTest = CacheTest;

TEST_F(ReadTest, BoundariesAcrossBlocksAndPartialLastBlock) {
  auto c = open_cache();
  FileRef f = gen_file(3 * kBlock + 123);
  GenSource src(f.size);
  expect_read(*c, f, src, kBlock - 10, 20);               // spans blocks 0-1
  expect_read(*c, f, src, kBlock - 1, 2 * kBlock);        // spans 0-2 (0 and 1 now cached)
  expect_read(*c, f, src, 3 * kBlock + 100, 4096);        // short read in the partial last block
  expect_read(*c, f, src, 3 * kBlock, 123);               // ends exactly at EOF
  expect_read(*c, f, src, f.size, 10);                    // at EOF: 0 bytes
  expect_read(*c, f, src, 10 * kBlock, 10);               // far past EOF: 0 bytes
  expect_read(*c, f, src, 0, f.size);                     // everything
  EXPECT_EQ(src.bytes.load(), f.size) << "each byte fetched exactly once";
  EXPECT_EQ(c->stats().miss_bytes, f.size);
  // The last fetch was the partial last block, fetched short (never past EOF).
  std::lock_guard lk(src.mu);
  for (auto& [off, len] : src.ranges) EXPECT_LE(off + len, f.size);
}

TEST_F(ReadTest, SecondReadIsServedFromDisk) {
  auto c = open_cache();
  FileRef f = gen_file(5 * kBlock + 7);
  GenSource src(f.size);
  expect_read(*c, f, src, 0, f.size);
  uint64_t calls = src.calls.load();
  expect_read(*c, f, src, 0, f.size);
  expect_read(*c, f, src, 2 * kBlock + 5, 3000);
  EXPECT_EQ(src.calls.load(), calls) << "no fetch for cached blocks";
  EXPECT_EQ(c->stats().hit_bytes, f.size + 3000);
  EXPECT_TRUE(c->contains(f, 0, f.size));
}

TEST_F(ReadTest, RunOfMissingBlocksIsOneFetch) {
  auto c = open_cache();
  FileRef f = gen_file(8 * kBlock);
  GenSource src(f.size);
  expect_read(*c, f, src, 0, 8 * kBlock);
  EXPECT_EQ(src.calls.load(), 1u);
  EXPECT_EQ(c->stats().fetches, 1u);
}

TEST_F(ReadTest, HolesBetweenCachedBlocksAreFetchedAsRuns) {
  auto c = open_cache();
  FileRef f = gen_file(10 * kBlock);
  GenSource src(f.size);
  expect_read(*c, f, src, 2 * kBlock, 1);  // block 2
  expect_read(*c, f, src, 6 * kBlock, 1);  // block 6
  src.calls = 0;
  {
    std::lock_guard lk(src.mu);
    src.ranges.clear();
  }
  expect_read(*c, f, src, 0, 10 * kBlock);  // missing runs: 0-1, 3-5, 7-9
  EXPECT_EQ(src.calls.load(), 3u);
  std::lock_guard lk(src.mu);
  ASSERT_EQ(src.ranges.size(), 3u);
  EXPECT_EQ(src.ranges[0], std::make_pair(uint64_t{0}, size_t{2 * kBlock}));
  EXPECT_EQ(src.ranges[1], std::make_pair(uint64_t{3 * kBlock}, size_t{3 * kBlock}));
  EXPECT_EQ(src.ranges[2], std::make_pair(uint64_t{7 * kBlock}, size_t{3 * kBlock}));
}

TEST_F(ReadTest, ExactMultipleOfBlockSize) {
  auto c = open_cache();
  FileRef f = gen_file(2 * kBlock);
  GenSource src(f.size);
  expect_read(*c, f, src, 2 * kBlock - 1, 1);
  expect_read(*c, f, src, 0, 2 * kBlock);
  expect_read(*c, f, src, kBlock, kBlock + 50);  // asks past EOF: clamped
  EXPECT_EQ(src.bytes.load(), f.size);
  EXPECT_TRUE(c->contains(f, 0, f.size));
  EXPECT_FALSE(c->contains(f, 0, f.size + 1));
}

TEST_F(ReadTest, OneByteFile) {
  auto c = open_cache();
  FileRef f = gen_file(1);
  GenSource src(f.size);
  expect_read(*c, f, src, 0, 100);
  expect_read(*c, f, src, 0, 1);
  expect_read(*c, f, src, 1, 1);
  EXPECT_EQ(src.calls.load(), 1u);
  EXPECT_EQ(std::filesystem::file_size(data_path(f)), 1u);
  EXPECT_EQ(std::filesystem::file_size(map_path(f)), 16u + 1u);
}

TEST_F(ReadTest, EmptyFileNeverTouchesDisk) {
  auto c = open_cache();
  FileRef f = gen_file(0);
  GenSource src(0);
  expect_read(*c, f, src, 0, 10);
  EXPECT_EQ(src.calls.load(), 0u);
  EXPECT_TRUE(c->contains(f, 0, 0));
  EXPECT_FALSE(std::filesystem::exists(map_path(f)));
  EXPECT_FALSE(std::filesystem::exists(data_path(f)));
  EXPECT_TRUE(c->verify_file(f).is_ok());  // sha256 of nothing
}

TEST_F(ReadTest, OddBlockSize) {
  auto c = open_cache(1000);
  FileRef f = gen_file(4321);
  GenSource src(f.size);
  expect_read(*c, f, src, 999, 2);
  expect_read(*c, f, src, 3999, 400);
  expect_read(*c, f, src, 0, f.size);
  EXPECT_EQ(src.bytes.load(), f.size);
}

TEST_F(ReadTest, ContainsHasNoSideEffects) {
  auto c = open_cache();
  FileRef f = gen_file(3 * kBlock);
  EXPECT_FALSE(c->contains(f, 0, 1));
  EXPECT_FALSE(std::filesystem::exists(map_path(f)));
  GenSource src(f.size);
  expect_read(*c, f, src, kBlock, 1);
  EXPECT_TRUE(c->contains(f, kBlock, kBlock));
  EXPECT_FALSE(c->contains(f, kBlock, kBlock + 1));
  EXPECT_FALSE(c->contains(f, 0, 1));
}

TEST_F(ReadTest, InvalidKeysAreRejected) {
  auto c = open_cache();
  GenSource src(10);
  char b[4];
  for (const std::string& key : std::vector<std::string>{"", "../../etc/passwd", std::string(64, 'G'), std::string(63, 'a'), std::string(64, 'A')}) {
    FileRef f{key, HashKind::kSha256, 10};
    auto r = c->read(f, 0, b, src);
    ASSERT_FALSE(r.ok()) << key;
    EXPECT_EQ(r.status().code(), Errc::kInvalidInput);
    EXPECT_FALSE(c->contains(f, 0, 1));
  }
  EXPECT_EQ(src.calls.load(), 0u);
}

TEST_F(ReadTest, ReopenFindsBlocksPresent) {
  FileRef f = gen_file(4 * kBlock + 1);
  {
    auto c = open_cache();
    GenSource src(f.size);
    expect_read(*c, f, src, 0, 2 * kBlock + 1);  // blocks 0-2
  }
  auto c = open_cache();
  EXPECT_TRUE(c->contains(f, 0, 3 * kBlock));
  EXPECT_FALSE(c->contains(f, 3 * kBlock, 1));
  GenSource src(f.size);
  expect_read(*c, f, src, 0, f.size);
  EXPECT_EQ(src.calls.load(), 1u);
  EXPECT_EQ(src.bytes.load(), kBlock + 1u) << "only blocks 3-4 fetched";
}

TEST_F(ReadTest, BlockSizeMismatchOnReopenIsAClearError) {
  ASSERT_NE(open_cache(kBlock), nullptr);
  CacheConfig cfg;
  cfg.dir = dir_;
  cfg.block_size = 2 * kBlock;
  auto c = BlockCache::open(cfg);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Errc::kInvalidInput);
  EXPECT_NE(c.status().message().find("block size 4096"), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("8192"), std::string::npos) << c.status().message();
  std::ifstream fmt(dir_ / "hffs-v1" / "format");
  std::string line;
  std::getline(fmt, line);
  EXPECT_EQ(line, "hffs-cache-format 1");
}

TEST_F(ReadTest, MapFileFormat) {
  auto c = open_cache();
  FileRef f = gen_file(3 * kBlock);
  GenSource src(f.size);
  expect_read(*c, f, src, kBlock, 1);
  std::ifstream m(map_path(f), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(m)), std::istreambuf_iterator<char>());
  ASSERT_EQ(bytes.size(), 16u + 3u);
  EXPECT_EQ(bytes.substr(0, 8), "HFFSMAP1");
  uint32_t bs = 0;
  std::memcpy(&bs, bytes.data() + 8, 4);
  EXPECT_EQ(bs, kBlock);
  EXPECT_EQ(bytes[16], 0);
  EXPECT_EQ(bytes[17], 1);
  EXPECT_EQ(bytes[18], 0);
  // No temp files left behind by the atomic create.
  for (auto& e : std::filesystem::directory_iterator(map_path(f).parent_path()))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
}

TEST_F(ReadTest, TornBlockWithDataButNoMarkIsRefetched) {
  FileRef f = gen_file(2 * kBlock);
  {
    auto c = open_cache();
    GenSource src(f.size);
    expect_read(*c, f, src, 0, 1);  // creates both files, block 0 present
  }
  // A process killed between pwrite and marking: garbage (or even right) data, map byte 0.
  int fd = ::open(data_path(f).c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  std::string junk(kBlock, 'J');
  ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), kBlock), static_cast<ssize_t>(kBlock));
  ::close(fd);
  auto c = open_cache();
  GenSource src(f.size);
  expect_read(*c, f, src, 0, f.size);
  EXPECT_EQ(src.calls.load(), 1u);
  EXPECT_EQ(src.bytes.load(), kBlock);
  EXPECT_TRUE(c->verify_file(f).is_ok());
}

TEST_F(ReadTest, SizeMismatchForAKeyIsRejected) {
  auto c = open_cache();
  FileRef f = gen_file(2 * kBlock);
  GenSource src(f.size);
  expect_read(*c, f, src, 0, 1);
  FileRef wrong = f;
  wrong.size = 3 * kBlock;
  char b[4];
  auto r = c->read(wrong, 0, b, src);
  EXPECT_FALSE(r.ok());
  auto c2 = open_cache();  // fresh process view: the files on disk disagree
  auto r2 = c2->read(wrong, 0, b, src);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().code(), Errc::kCorrupt);
}

TEST_F(ReadTest, FdTableIsBounded) {
  CacheConfig cfg;
  cfg.dir = dir_;
  cfg.block_size = kBlock;
  cfg.max_open_files = 2;
  auto c = BlockCache::open(cfg);
  ASSERT_TRUE(c.ok());
  std::vector<FileRef> files;
  for (uint32_t salt = 1; salt <= 5; ++salt) files.push_back(gen_file(kBlock + salt, salt));
  for (int pass = 0; pass < 2; ++pass)
    for (auto& f : files) {
      GenSource src(f.size, static_cast<uint32_t>(&f - files.data()) + 1);
      expect_read(**c, f, src, 0, f.size, static_cast<uint32_t>(&f - files.data()) + 1);
      EXPECT_EQ(src.calls.load(), pass == 0 ? 1u : 0u);
    }
}

TEST_F(ReadTest, WriteErrorStillServesBytesButDoesNotKeepThem) {
  auto c = open_cache();
  FileRef f = gen_file(4 * kBlock);
  GenSource src(f.size);
  expect_read(*c, f, src, 0, 1);  // block 0 written while the limit allows it
  // Writes past 1 block now fail with EFBIG (as ENOSPC would): SIGXFSZ ignored for the test.
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto prev = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = old;
  lim.rlim_cur = kBlock;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
  expect_read(*c, f, src, 2 * kBlock, 10);
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, prev);
  EXPECT_EQ(c->stats().write_errors, 1u);
  EXPECT_FALSE(c->contains(f, 2 * kBlock, 1));
  uint64_t calls = src.calls.load();
  expect_read(*c, f, src, 2 * kBlock, 10);  // refetched and kept this time
  EXPECT_EQ(src.calls.load(), calls + 1);
  EXPECT_TRUE(c->contains(f, 2 * kBlock, kBlock));
}

TEST_F(ReadTest, FileThatCannotBeCreatedIsServedUncached) {
  auto c = open_cache();
  FileRef f = gen_file(4 * kBlock);
  GenSource src(f.size);
  struct rlimit old {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto prev = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = old;
  lim.rlim_cur = kBlock;  // the sparse data file cannot be sized: EFBIG, like a full disk
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
  expect_read(*c, f, src, kBlock + 3, 2 * kBlock);
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::signal(SIGXFSZ, prev);
  EXPECT_EQ(c->stats().write_errors, 1u);
  EXPECT_FALSE(c->contains(f, kBlock + 3, 1));
  expect_read(*c, f, src, 0, f.size);  // space is back: cached normally
  EXPECT_TRUE(c->contains(f, 0, f.size));
  EXPECT_TRUE(c->verify_file(f).is_ok());
}

}  // namespace
}  // namespace hffs::cache::test
