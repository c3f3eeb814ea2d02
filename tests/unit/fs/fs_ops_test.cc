// Filesystem through FsOps as the FUSE adapter drives it (no /dev/fuse): one read call that
// splices present blocks and copies the rest, handles that carry the open mode and the content
// epoch, passthrough of whole local files, and readdir pages.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fs/errno_map.h"
#include "fs/filesystem.h"
#include "fs/open_files.h"
#include "unit/support/tree_entries.h"
#include "unit/support/repo_fakes.h"
#include "unit/fs/ops_fakes.h"

using namespace hffs;
using hffs::hubapi::TreeEntry;

namespace {

constexpr uint32_t kBlock = 4096;

TreeEntry file(std::string p, uint64_t size, char key) { return hffs::testing::tree_file(std::move(p), size, key); }

class FsOpsTest : public ::testing::Test {
 protected:
  void make(cache::VerifyMode verify) {
    fs_.reset();
    cache_.reset();
    dir_ = std::filesystem::temp_directory_path() /
           ("hffs-fsops-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    cache::CacheConfig cc;
    cc.dir = dir_ / "cache";
    cc.block_size = kBlock;
    cc.verify = verify;
    cc.whole_file_max = 0;  // every file is hashed as it arrives
    auto c = cache::BlockCache::open(cc);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    cache_ = std::move(*c);
    auto ns = fs::Namespace::build({file("a.bin", 4 * kBlock, 'a'), file("b.bin", 3 * kBlock + 5, 'b'),
                                    file("local.bin", 100, 'c'), file("d/x", 1, 'd'), file("d/y", 2, 'e')});
    ASSERT_TRUE(ns.ok());
    fs_ = std::make_unique<fs::Filesystem>(std::move(*ns), *cache_, origin_, fs::FsConfig{});
  }
  void SetUp() override { make(cache::VerifyMode::kOff); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  uint64_t ino(const char* p) { return fs_->ns().find_path(p)->ino; }
  std::string expected(const char* p, uint64_t off, size_t len) {
    std::string s;
    const uint32_t seed = origin_.seed_of(fs_->ns().key_hex(*fs_->ns().find_path(p)));
    for (size_t i = 0; i < len; ++i) s.push_back(hffs::testing::gen_byte(off + i, seed));
    return s;
  }
  fs::OpenReply open(const char* p) {
    auto r = fs_->open(ino(p), O_RDONLY, kernel_);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r ? *r : fs::OpenReply{};
  }

  std::filesystem::path dir_;
  std::unique_ptr<cache::BlockCache> cache_;
  hffs::testing::GenRepo origin_;
  test::FakeKernel kernel_;
  std::unique_ptr<fs::Filesystem> fs_;
};

TEST_F(FsOpsTest, AMissIsCopiedAndTheSameRangeIsThenSplicedWithoutACopy) {
  fs::OpenReply h = open("a.bin");
  test::FakeTarget miss(true);
  auto r = fs_->read(ino("a.bin"), h.fh, kBlock - 10, 2 * kBlock, miss);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_FALSE(r->spliced);
  EXPECT_EQ(r->bytes, 2u * kBlock);
  EXPECT_EQ(std::string(miss.buf.data(), r->bytes), expected("a.bin", kBlock - 10, 2 * kBlock));
  const uint64_t calls = origin_.totals.calls;

  test::FakeTarget hit(true);
  auto s = fs_->read(ino("a.bin"), h.fh, kBlock - 10, 2 * kBlock, hit);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_TRUE(s->spliced);
  EXPECT_EQ(hit.buffer_asks, 0) << "a spliced read never grows a buffer";
  EXPECT_EQ(hit.take(s->bytes), expected("a.bin", kBlock - 10, 2 * kBlock));
  EXPECT_EQ(origin_.totals.calls, calls);
  EXPECT_EQ(fs_->stats().spliced_bytes, 2u * kBlock);
  EXPECT_EQ(fs_->stats().reads, 2u);
  EXPECT_EQ(fs_->stats().read_bytes, 4u * kBlock);
  fs_->release(ino("a.bin"), h.fh);
}

TEST_F(FsOpsTest, WithoutAPipePresentBytesAreCopiedAndAtEofNothingIsAsked) {
  fs::OpenReply h = open("b.bin");
  test::FakeTarget first(false);
  ASSERT_TRUE(fs_->read(ino("b.bin"), h.fh, 0, 3 * kBlock + 5, first).ok());
  test::FakeTarget again(false);
  auto r = fs_->read(ino("b.bin"), h.fh, 3 * kBlock, 100, again);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->spliced);
  EXPECT_EQ(r->bytes, 5u) << "short at EOF";
  EXPECT_EQ(std::string(again.buf.data(), 5), expected("b.bin", 3 * kBlock, 5));
  test::FakeTarget eof(true);
  auto e = fs_->read(ino("b.bin"), h.fh, 3 * kBlock + 5, 100, eof);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->bytes, 0u);
  EXPECT_EQ(eof.pipe_asks + eof.buffer_asks, 0);
  auto dir = fs_->read(ino("d"), h.fh, 0, 100, eof);
  EXPECT_EQ(fs::to_errno(dir.status().code()), EINVAL);
}

TEST_F(FsOpsTest, ALocalCopyIsCopiedNeverSplicedAndPassesThroughWhole) {
  std::filesystem::create_directories(dir_);
  auto path = dir_ / "blob";
  std::ofstream(path, std::ios::binary) << expected("local.bin", 0, 100);
  fs_->add_local_copy(ino("local.bin"), path.string());
  test::FakeTarget to(true);
  auto r = fs_->read(ino("local.bin"), fs::OpenFiles::kFhNone, 10, 50, to);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_FALSE(r->spliced);
  EXPECT_EQ(to.pipe_asks, 0);
  EXPECT_EQ(std::string(to.buf.data(), 50), expected("local.bin", 10, 50));
  EXPECT_EQ(fs_->stats().local_bytes, 50u);
  EXPECT_EQ(origin_.totals.calls, 0u);

  fs::OpenReply h = open("local.bin");
  EXPECT_EQ(h.fh, fs::OpenFiles::kFhPassthrough);
  EXPECT_GT(h.backing_id, 0);
  EXPECT_EQ(fs_->stats().passthrough_pins, 1u);
  fs_->release(ino("local.bin"), h.fh);
  EXPECT_EQ(kernel_.closed.size(), 1u);
  EXPECT_EQ(fs_->open_inodes(), 0u);
}

TEST_F(FsOpsTest, AFileCompleteInTheCachePassesThroughAndAPartialOneIsCached) {
  fs::OpenReply partial = open("a.bin");
  EXPECT_EQ(partial.fh, fs::OpenFiles::kFhEpochBase);
  EXPECT_TRUE(partial.keep_cache);
  test::FakeTarget to(true);
  ASSERT_TRUE(fs_->read(ino("a.bin"), partial.fh, 0, 4 * kBlock, to).ok());
  EXPECT_EQ(open("a.bin").fh, fs::OpenFiles::kFhEpochBase) << "a caching open is still there";
  EXPECT_EQ(kernel_.opens, 0);
  fs::OpenReply whole = open("b.bin");
  EXPECT_EQ(whole.fh, fs::OpenFiles::kFhEpochBase);
  test::FakeTarget t2(false);
  ASSERT_TRUE(fs_->read(ino("b.bin"), whole.fh, 0, 3 * kBlock + 5, t2).ok());
  fs_->release(ino("b.bin"), whole.fh);
  fs::OpenReply pt = open("b.bin");
  EXPECT_EQ(pt.fh, fs::OpenFiles::kFhPassthrough);
  EXPECT_EQ(pt.backing_id, 1);
  EXPECT_FALSE(pt.keep_cache);
}

TEST_F(FsOpsTest, AnOpenMadeBeforeTheContentFailedVerificationReadsNothingMore) {
  make(cache::VerifyMode::kAuto);  // the fake's bytes never hash to their key
  fs::OpenReply h = open("a.bin");
  test::FakeTarget to(true);
  for (uint64_t b = 0; b < 3; ++b) ASSERT_TRUE(fs_->read(ino("a.bin"), h.fh, b * kBlock, kBlock, to).ok()) << b;
  auto bad = fs_->read(ino("a.bin"), h.fh, 3 * kBlock, kBlock, to);
  EXPECT_EQ(bad.status().code(), Errc::kCorrupt) << "the read that completes a bad file fails";
  EXPECT_EQ(fs_->content_epoch(ino("a.bin")), 1u);
  const uint64_t reads = fs_->stats().reads, calls = origin_.totals.calls;
  auto stale = fs_->read(ino("a.bin"), h.fh, 0, 10, to);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(fs::to_errno(stale.status().code()), EIO);
  EXPECT_NE(stale.status().message().find("reopen"), std::string::npos) << stale.status().to_string();
  EXPECT_EQ(fs_->stats().reads, reads) << "a stale handle is refused before the read";
  EXPECT_EQ(origin_.totals.calls, calls);
  fs::OpenReply fresh = open("a.bin");
  EXPECT_EQ(fresh.fh, fs::OpenFiles::kFhEpochBase + 1);
  EXPECT_FALSE(fresh.keep_cache) << "the kernel's pages of the bad content must not be reused";
}

TEST_F(FsOpsTest, ReaddirComesInPagesThatResumeWhereTheLastOneStopped) {
  test::PageFiller first(3);
  ASSERT_TRUE(fs_->readdir(fs::kRootIno, 0, first).is_ok());
  EXPECT_EQ(first.names(), (std::vector<std::string>{".", "..", "a.bin"}));
  test::PageFiller rest(100);
  ASSERT_TRUE(fs_->readdir(fs::kRootIno, first.items.back().next, rest).is_ok());
  EXPECT_EQ(rest.names(), (std::vector<std::string>{"b.bin", "d", "local.bin"}));
  EXPECT_EQ(rest.items.back().next, 6u);
  test::PageFiller past(100);
  ASSERT_TRUE(fs_->readdir(fs::kRootIno, 6, past).is_ok());
  EXPECT_TRUE(past.items.empty());
  for (auto& i : first.items) EXPECT_FALSE(i.entry) << "plain readdir: names and types only";
  EXPECT_EQ(first.items[2].attr.mode, static_cast<uint32_t>(S_IFREG));
  EXPECT_EQ(rest.items[1].attr.mode, static_cast<uint32_t>(S_IFDIR));
  test::PageFiller file_page(10);
  EXPECT_EQ(fs::to_errno(fs_->readdir(ino("a.bin"), 0, file_page).code()), EINVAL);
}

TEST_F(FsOpsTest, ReaddirplusGivesChildrenTheirAttributesAndDotsOnlyTheirType) {
  test::PageFiller page(100, /*plus=*/true);
  ASSERT_TRUE(fs_->readdir(ino("d"), 0, page).is_ok());
  ASSERT_EQ(page.names(), (std::vector<std::string>{".", "..", "x", "y"}));
  EXPECT_FALSE(page.items[0].entry);
  EXPECT_EQ(page.items[0].attr.ino, ino("d"));
  EXPECT_EQ(page.items[1].attr.ino, fs::kRootIno);
  EXPECT_EQ(page.items[1].attr.mode, static_cast<uint32_t>(S_IFDIR));
  EXPECT_TRUE(page.items[3].entry);
  EXPECT_EQ(page.items[3].attr.ino, ino("d/y"));
  EXPECT_EQ(page.items[3].attr.size, 2u);
  EXPECT_EQ(page.items[3].attr.mode, S_IFREG | 0444u);
}

TEST_F(FsOpsTest, AccessIsReadOnly) {
  EXPECT_TRUE(fs_->access(ino("a.bin"), R_OK).is_ok());
  EXPECT_EQ(fs::to_errno(fs_->access(ino("a.bin"), W_OK).code()), EROFS);
  EXPECT_EQ(fs::to_errno(fs_->access(999, R_OK).code()), ENOENT);
}

}  // namespace
