// Filesystem reads through a faulty source (tests/unit/support/fault_source.h): fetches that fail
// on a schedule, short reads, wrong bytes, a stalled fetch under concurrent readers. Real sha256
// keys, so that the cache verifies what it serves (CacheConfig::verify = kAuto).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/sha.h"
#include "fs/errno_map.h"
#include "fs/filesystem.h"
#include "unit/support/repo_fakes.h"

using namespace hffs;
using hffs::hubapi::TreeEntry;
namespace ht = hffs::testing;

namespace {

constexpr uint32_t kBlock = 64 << 10;
constexpr uint64_t kBigSize = 9 * kBlock + 100;  // streamed: hashed as its blocks arrive
constexpr uint64_t kSmallSize = 3 * kBlock + 5;  // fetched whole and verified before it is served
constexpr uint32_t kBigSeed = 11, kSmallSeed = 12;

class SourceFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hffs-faults-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    cache::CacheConfig cc;
    cc.dir = dir_;
    cc.block_size = kBlock;
    cc.verify = cache::VerifyMode::kAuto;
    cc.whole_file_max = 4 * kBlock;
    auto c = cache::BlockCache::open(cc);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    cache_ = std::move(*c);
    gen_.piece = 16 << 10;  // pieces like TLS records: the cache's streaming path
    auto ns = fs::Namespace::build({file("big.bin", kBigSize, kBigSeed), file("small.bin", kSmallSize, kSmallSeed)});
    ASSERT_TRUE(ns.ok()) << ns.status().to_string();
    fs::FsConfig cfg;
    cfg.failure_memory = std::chrono::milliseconds(0);  // a retry fetches again at once
    fs_ = std::make_unique<fs::Filesystem>(std::move(*ns), *cache_, repo_, cfg);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  TreeEntry file(std::string path, uint64_t size, uint32_t seed) {
    TreeEntry e;
    e.type = TreeEntry::Type::kFile;
    e.path = std::move(path);
    e.size = size;
    e.oid = std::string(40, 'a');
    e.lfs_sha256 = ht::gen_sha256(size, seed);
    gen_.seeds[*e.lfs_sha256] = seed;
    return e;
  }
  uint64_t ino(const char* p) { return fs_->ns().find_path(p)->ino; }
  Result<std::string> read(const char* path, uint64_t off, size_t len) {
    std::string buf(len, '\x55');
    auto r = fs_->read(ino(path), off, std::span<char>(buf.data(), buf.size()));
    if (!r) return r.status();
    buf.resize(*r);
    return buf;
  }
  // The whole file in `chunk`-sized reads, each retried (at most 8 times) after an error, which
  // must be EIO; counts the errors.
  std::string read_all_retrying(const char* path, size_t chunk, int& errors) {
    std::string all;
    const uint64_t size = fs_->ns().find_path(path)->size;
    for (uint64_t off = 0; off < size; off += chunk) {
      auto r = read(path, off, chunk);
      for (int tries = 0; !r && tries < 8; ++tries) {
        EXPECT_EQ(fs::to_errno(r.status().code()), EIO) << r.status().to_string();
        ++errors;
        r = read(path, off, chunk);
      }
      EXPECT_TRUE(r.ok()) << "the retry at " << off << ": " << r.status().to_string();
      if (!r) return all;
      all += *r;
    }
    return all;
  }
  std::string cached_bytes(const char* path) { return *fs_->getxattr(ino(path), "user.hffs.cached_bytes"); }

  std::filesystem::path dir_;
  std::unique_ptr<cache::BlockCache> cache_;
  ht::GenRepo gen_;
  ht::FaultPlan plan_;
  ht::FaultRepo repo_{gen_, plan_};
  std::unique_ptr<fs::Filesystem> fs_;
};

TEST_F(SourceFaultsTest, StreamsThroughASourceThatFailsEveryThirdFetch) {
  plan_.fail(ht::When::every_nth(3));
  int errors = 0;
  std::string all = read_all_retrying("big.bin", kBlock, errors);
  EXPECT_EQ(sha256_hex(all), ht::gen_sha256(kBigSize, kBigSeed));
  // 10 block reads; fetches 3, 6, 9, 12 fail (each read's retry is the next fetch, which works).
  EXPECT_EQ(errors, 4);
  EXPECT_EQ(plan_.calls, 14u);
  EXPECT_EQ(plan_.failures, 4u);
  EXPECT_EQ(fs_->stats().read_errors, 4u);
  EXPECT_EQ(fs_->stats().errors_by_code[static_cast<size_t>(Errc::kNetwork)], 4u);
  EXPECT_EQ(cached_bytes("big.bin"), std::to_string(kBigSize));
  // All of it is kept and verified: a second pass fetches nothing.
  EXPECT_EQ(*read("big.bin", 0, kBigSize), all);
  EXPECT_EQ(plan_.calls, 14u);
  EXPECT_EQ(cache_->stats().verify_failures, 0u);
}

TEST_F(SourceFaultsTest, FailuresByProbabilityAreDeterministic) {
  // The same seed hits the same fetch numbers, whatever the timing.
  ht::When w = ht::When::chance(0.3, 42);
  std::vector<uint64_t> hits;
  for (uint64_t k = 1; k <= 200; ++k)
    if (w.matches(k)) hits.push_back(k);
  EXPECT_GT(hits.size(), 30u);
  EXPECT_LT(hits.size(), 90u);
  plan_.fail(w);
  int errors = 0;
  std::string all = read_all_retrying("big.bin", kBlock / 2, errors);
  EXPECT_EQ(sha256_hex(all), ht::gen_sha256(kBigSize, kBigSeed));
  uint64_t expected = 0;
  for (uint64_t k : hits) expected += k <= plan_.calls ? 1 : 0;
  EXPECT_EQ(plan_.failures, expected);
  EXPECT_EQ(static_cast<uint64_t>(errors), expected);
}

TEST_F(SourceFaultsTest, AShortReadThatFailsIsEioAndKeepsNothing) {
  plan_.short_read(ht::When::nth({1}), 1000);  // 1000 bytes, then the connection is gone
  auto r = read("big.bin", 0, kBlock);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(fs::to_errno(r.status().code()), EIO);
  EXPECT_EQ(plan_.bytes_passed, 1000u);
  EXPECT_EQ(cached_bytes("big.bin"), "0") << "no block of a short fetch is kept";
  auto again = read("big.bin", 0, kBlock);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(*again, ht::gen_content(kBlock, kBigSeed));
  EXPECT_EQ(plan_.calls, 2u);
}

TEST_F(SourceFaultsTest, AShortReadClaimedCompleteIsAnErrorNotData) {
  // A source that says ok after half the bytes: the cache does not trust the ok (whatever the
  // verification mode), the read fails, nothing is kept, and the next read fetches it right.
  plan_.short_read(ht::When::nth({1}), kSmallSize / 2, Status::ok());
  auto r = read("small.bin", kSmallSize - 100, 100);
  ASSERT_FALSE(r.ok()) << "served a fetch that was short";
  EXPECT_EQ(fs::to_errno(r.status().code()), EIO);
  r = read("small.bin", kSmallSize - 100, 100);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, ht::gen_content(kSmallSize, kSmallSeed).substr(kSmallSize - 100));
  EXPECT_EQ(plan_.calls, 2u) << "the short fetch, then one whole fetch";
  EXPECT_EQ(cache_->stats().corrupt_files, 0u) << "a short fetch is not content that failed its hash";
}

TEST_F(SourceFaultsTest, WrongBytesOfASmallFileAreNeverServed) {
  plan_.flip(ht::When::nth({1}), 12345);
  auto r = read("small.bin", 0, kSmallSize);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(sha256_hex(*r), ht::gen_sha256(kSmallSize, kSmallSeed));
  EXPECT_EQ(plan_.flips, 1u);
  EXPECT_EQ(plan_.calls, 2u);
  EXPECT_EQ(plan_.refreshes, 1u);
}

TEST_F(SourceFaultsTest, WrongBytesOfAStreamedFileFailTheReadThatCompletesIt) {
  plan_.flip(ht::When::nth({4}), 7);  // block 3's fetch
  int errors = 0;
  const uint64_t size = kBigSize;
  for (uint64_t off = 0; off < size; off += kBlock) {
    auto r = read("big.bin", off, kBlock);
    if (off + kBlock < size) {
      ASSERT_TRUE(r.ok()) << off << ": " << r.status().to_string();  // not judged before it is complete
    } else {
      ASSERT_FALSE(r.ok()) << "the read that completes a bad file fails";
      EXPECT_EQ(fs::to_errno(r.status().code()), EIO);
      ++errors;
    }
  }
  EXPECT_EQ(errors, 1);
  EXPECT_EQ(plan_.refreshes, 1u);
  EXPECT_EQ(cache_->stats().corrupt_files, 1u);
  EXPECT_EQ(fs_->content_epoch(ino("big.bin")), 1u) << "the kernel's copies are dropped";
  // Later reads get the file fetched whole and verified.
  auto r = read("big.bin", 0, size);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(sha256_hex(*r), ht::gen_sha256(kBigSize, kBigSeed));
}

TEST_F(SourceFaultsTest, ConcurrentReadersOfAStalledFetchMakeOneFetch) {
  plan_.stall(ht::When::nth({1}));
  std::vector<std::thread> ts;
  std::vector<std::string> got(8);
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([&, i] {
      auto r = read("big.bin", 2 * kBlock + 100 * i, 1000);
      if (r) got[i] = *r;
    });
  ASSERT_TRUE(plan_.wait_stalled(1));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (cache_->stats().waits < 7 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ(cache_->stats().waits, 7u) << "the other readers wait on the stalled fetch";
  plan_.release();
  for (auto& t : ts) t.join();
  const std::string want = ht::gen_content(3 * kBlock, kBigSeed);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(got[i], want.substr(2 * kBlock + 100 * i, 1000)) << i;
  EXPECT_EQ(plan_.calls, 1u);
  // First readers racing may each open a source; one is kept, and only it ever fetches.
  EXPECT_GE(gen_.opens, 1u);
  const uint64_t opens = gen_.opens;
  ASSERT_TRUE(read("big.bin", 0, 10).ok());
  EXPECT_EQ(gen_.opens, opens) << "later reads reuse the kept source";
}

}  // namespace
