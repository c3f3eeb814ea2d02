// The FUSE-free core over a fake repo source: block boundaries, EOF, zero-length reads, single-flight.
#include "fs/filesystem.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "fs/errno_map.h"
#include "unit/support/tree_entries.h"
#include "unit/fs/ops_fakes.h"
#include "unit/support/repo_fakes.h"

using namespace hffs;
using hffs::hubapi::TreeEntry;
namespace ht = hffs::testing;

namespace {

constexpr uint32_t kBlock = 1u << 20;

TreeEntry file(std::string p, uint64_t size, char key) { return hffs::testing::tree_file(std::move(p), size, key); }

class FsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hffs-fs-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    auto c = cache::BlockCache::open({dir_, kBlock});
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    cache_ = std::move(*c);
    auto ns = fs::Namespace::build({file("big.bin", 3 * kBlock + 123, '1'), file("exact.bin", 2 * kBlock, '2'),
                                    file("empty", 0, '3'), file("one", 1, '4'), file("d/e/f.txt", 5000, '5')});
    ASSERT_TRUE(ns.ok());
    fs::FsConfig cfg;
    cfg.mtime = 1700000000;
    cfg.commit = std::string(40, 'f');
    cfg.failure_memory = failure_memory_;
    fs_ = std::make_unique<fs::Filesystem>(std::move(*ns), *cache_, repo_, cfg);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  uint64_t ino(const char* p) { return fs_->ns().find_path(p)->ino; }
  void expect_bytes(const char* path, uint64_t off, size_t len) {
    std::vector<char> buf(len + 16);
    auto r = fs_->read(ino(path), off, std::span<char>(buf.data(), len));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    const auto* n = fs_->ns().find_path(path);
    size_t want = off >= n->size ? 0 : std::min<uint64_t>(len, n->size - off);
    ASSERT_EQ(*r, want);
    for (size_t i = 0; i < want; ++i)
      ASSERT_EQ(buf[i], ht::gen_byte(off + i, gen_.seed_of(fs_->ns().key_hex(*n)))) << path << " at " << off + i;
  }

  std::chrono::milliseconds failure_memory_{0};
  std::filesystem::path dir_;
  std::unique_ptr<cache::BlockCache> cache_;
  // Every file's bytes are those of seed <its key's character>; every fetch goes through plan_.
  ht::GenRepo gen_;
  ht::FaultPlan plan_;
  ht::FaultRepo repo_{gen_, plan_};
  std::unique_ptr<fs::Filesystem> fs_;
};

}  // namespace

TEST_F(FsTest, AttributesAreReadOnlyAndExact) {
  auto a = fs_->getattr(ino("big.bin"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->size, 3u * kBlock + 123);
  EXPECT_EQ(a->mode, S_IFREG | 0444u);
  EXPECT_EQ(a->mtime, 1700000000);
  auto d = fs_->getattr(fs::kRootIno);
  EXPECT_EQ(d->mode, S_IFDIR | 0555u);
  auto l = fs_->lookup(fs::kRootIno, "nope");
  EXPECT_EQ(fs::to_errno(l.status().code()), ENOENT);
  EXPECT_EQ(plan_.calls, 0u) << "metadata must never touch the source";
  EXPECT_EQ(gen_.opens, 0u);
}

TEST_F(FsTest, OpenForWriteIsErofs) {
  test::FakeKernel k;
  EXPECT_TRUE(fs_->open(ino("one"), O_RDONLY, k).ok());
  EXPECT_EQ(fs::to_errno(fs_->open(ino("one"), O_WRONLY, k).status().code()), EROFS);
  EXPECT_EQ(fs::to_errno(fs_->open(ino("one"), O_RDWR, k).status().code()), EROFS);
  EXPECT_EQ(fs::to_errno(fs_->open(ino("one"), O_RDONLY | O_TRUNC, k).status().code()), EROFS);
}

TEST_F(FsTest, ReaddirListsChildrenInOrder) {
  test::PageFiller page(100);
  ASSERT_TRUE(fs_->readdir(fs::kRootIno, 0, page).is_ok());
  EXPECT_EQ(page.names(), (std::vector<std::string>{".", "..", "big.bin", "d", "empty", "exact.bin", "one"}));
}

TEST_F(FsTest, ReadsAcrossBlockBoundariesAndAtEof) {
  expect_bytes("big.bin", kBlock - 10, 20);         // spans blocks 0 and 1
  expect_bytes("big.bin", kBlock - 1, 2 * kBlock);  // spans three blocks
  expect_bytes("big.bin", 3 * kBlock + 100, 4096);  // short read at EOF
  expect_bytes("big.bin", 3 * kBlock + 123, 10);    // exactly at EOF: 0 bytes
  expect_bytes("big.bin", 10 * kBlock, 10);         // far past EOF: 0 bytes
  expect_bytes("exact.bin", 2 * kBlock - 1, 1);
  expect_bytes("exact.bin", 0, 2 * kBlock);
  expect_bytes("one", 0, 100);
  expect_bytes("d/e/f.txt", 4999, 1);
}

TEST_F(FsTest, ZeroLengthAndEmptyFileReadsFetchNothing) {
  expect_bytes("empty", 0, 4096);
  expect_bytes("big.bin", 5, 0);
  EXPECT_EQ(plan_.calls, 0u);
}

TEST_F(FsTest, SecondReadIsServedFromCache) {
  expect_bytes("big.bin", 0, 3 * kBlock + 123);
  uint64_t calls = plan_.calls;
  uint64_t bytes = gen_.totals.bytes;
  EXPECT_GE(calls, 1u);
  EXPECT_EQ(bytes, 3u * kBlock + 123) << "each byte fetched exactly once";
  expect_bytes("big.bin", 0, 3 * kBlock + 123);
  expect_bytes("big.bin", kBlock + 7, 77);
  EXPECT_EQ(plan_.calls, calls);
  EXPECT_EQ(gen_.opens, 1u) << "one source per file, opened on its first read";
}

TEST_F(FsTest, ThirtyTwoConcurrentReadersCauseOneFetch) {
  plan_.stall(ht::When::always());
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < 32; ++i) {
    ts.emplace_back([&, i] {
      std::vector<char> buf(4096);
      auto r = fs_->read(ino("big.bin"), kBlock + 64 * i, buf);
      if (r.ok() && *r == 4096 && buf[0] == ht::gen_byte(kBlock + 64 * i, '1')) ok++;
    });
  }
  // Wait (bounded) until one fetch is stalled and the other 31 readers wait on it.
  EXPECT_TRUE(plan_.wait_stalled(1));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (cache_->stats().waits < 31 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  plan_.release();
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok, 32);
  EXPECT_EQ(plan_.calls, 1u);
  EXPECT_EQ(plan_.stalls, 1u);
}

TEST_F(FsTest, FetchErrorIsEioAndLaterReadRetries) {
  plan_.fail(ht::When::nth({1}));
  std::vector<char> buf(100);
  auto r = fs_->read(ino("one"), 0, buf);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(fs::to_errno(r.status().code()), EIO);
  EXPECT_EQ(fs_->stats().read_errors, 1u);
  expect_bytes("one", 0, 1);
}

class FsFailureMemoryTest : public FsTest {
 protected:
  FsFailureMemoryTest() { failure_memory_ = std::chrono::hours(1); }
};

TEST_F(FsFailureMemoryTest, KernelRetryOfAFailedRangeFailsAtOnce) {
  plan_.fail(ht::When::nth({1}));
  std::vector<char> buf(100);
  ASSERT_FALSE(fs_->read(ino("big.bin"), 10, buf).ok());
  uint64_t calls = plan_.calls;
  auto again = fs_->read(ino("big.bin"), 20, buf);  // same block: remembered
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(fs::to_errno(again.status().code()), EIO);
  EXPECT_EQ(plan_.calls, calls) << "no second wait on the network";
  expect_bytes("big.bin", kBlock + 5, 10);  // another block is unaffected
}

TEST_F(FsTest, XattrsDescribeTheFile) {
  auto h = fs_->getxattr(ino("big.bin"), "user.hffs.hash");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, "sha256:" + std::string(64, '1'));
  EXPECT_EQ(*fs_->getxattr(ino("big.bin"), "user.hffs.cached_bytes"), "0");
  expect_bytes("big.bin", 0, 10);
  EXPECT_EQ(*fs_->getxattr(ino("big.bin"), "user.hffs.cached_bytes"), std::to_string(kBlock));
  EXPECT_EQ(*fs_->getxattr(fs::kRootIno, "user.hffs.commit"), std::string(40, 'f'));
  EXPECT_EQ(*fs_->getxattr(ino("big.bin"), "user.hffs.source"), "gen://big.bin");
  EXPECT_FALSE(fs_->getxattr(ino("one"), "user.other").ok());
}
