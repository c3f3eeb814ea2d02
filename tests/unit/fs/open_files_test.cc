// The per-inode open mode policy (fs/open_files.h) with a fake kernel: which open passes
// through, which handle and page-cache mode each gets, and when backing files are closed.
#include "fs/open_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include "unit/fs/ops_fakes.h"

namespace hffs::fs {
namespace {

// A pin over /dev/null (the policy only hands its fd to the kernel); counts how often it is asked.
struct Pins {
  int asked = 0;
  bool have = true;
  OpenFiles::PinFn fn() {
    return [this]() -> std::unique_ptr<cache::FilePin> {
      ++asked;
      if (!have) return nullptr;
      return std::make_unique<cache::FilePin>(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    };
  }
};

TEST(OpenFiles, AWholeLocalFileNobodyHasOpenPassesThrough) {
  OpenFiles t;
  test::FakeKernel k;
  Pins pins;
  OpenReply r = t.open(7, 0, k, pins.fn());
  EXPECT_EQ(r.fh, OpenFiles::kFhPassthrough);
  EXPECT_EQ(r.backing_id, 1);
  EXPECT_FALSE(r.keep_cache) << "the kernel refuses passthrough opens with keep_cache";
  EXPECT_GE(k.last_fd, 0);
  // A second open shares the backing file: no second pin, no second registration.
  OpenReply r2 = t.open(7, 0, k, pins.fn());
  EXPECT_EQ(r2.fh, OpenFiles::kFhPassthrough);
  EXPECT_EQ(r2.backing_id, 1);
  EXPECT_EQ(pins.asked, 1);
  EXPECT_EQ(k.opens, 1);
  t.release(7, r.fh);
  EXPECT_TRUE(k.closed.empty()) << "another passthrough open remains";
  t.release(7, r2.fh);
  EXPECT_EQ(k.closed, std::vector<int>{1});
  EXPECT_EQ(t.inodes(), 0u);
}

TEST(OpenFiles, AFileNotAllLocalIsCachedWithItsEpochInTheHandle) {
  OpenFiles t;
  test::FakeKernel k;
  Pins pins;
  pins.have = false;
  OpenReply r = t.open(7, 0, k, pins.fn());
  EXPECT_EQ(r.fh, OpenFiles::kFhEpochBase);
  EXPECT_TRUE(r.keep_cache) << "immutable content keeps its page cache across opens";
  EXPECT_EQ(r.backing_id, 0);
  EXPECT_EQ(k.opens, 0);
  t.release(7, r.fh);
  EXPECT_EQ(t.inodes(), 0u);
}

TEST(OpenFiles, ACachingOpenKeepsLaterOpensCachingUntilItIsReleased) {
  OpenFiles t;
  test::FakeKernel k;
  Pins pins;
  pins.have = false;
  OpenReply cached = t.open(7, 0, k, pins.fn());
  pins.have = true;  // the file became complete meanwhile
  OpenReply second = t.open(7, 0, k, pins.fn());
  EXPECT_EQ(second.fh, OpenFiles::kFhEpochBase) << "one mode per inode: the caching open decides";
  EXPECT_EQ(pins.asked, 1) << "no pin is taken while a caching open exists";
  t.release(7, cached.fh);
  t.release(7, second.fh);
  EXPECT_EQ(t.open(7, 0, k, pins.fn()).fh, OpenFiles::kFhPassthrough) << "all closed: passthrough again";
  EXPECT_EQ(t.open(8, 0, k, pins.fn()).fh, OpenFiles::kFhPassthrough) << "inodes are independent";
}

TEST(OpenFiles, ARefusedBackingFileMakesTheOpenCachingAndPassthroughStopsBeingTried) {
  OpenFiles t;
  test::FakeKernel k;
  k.refuse = true;
  Pins pins;
  OpenReply r = t.open(7, 0, k, pins.fn());
  EXPECT_EQ(r.fh, OpenFiles::kFhEpochBase);
  EXPECT_EQ(r.backing_id, 0);
  EXPECT_FALSE(k.on);
  t.release(7, r.fh);
  t.open(9, 0, k, pins.fn());
  EXPECT_EQ(k.opens, 1);
  EXPECT_EQ(pins.asked, 1) << "not negotiated: no pin is taken";
}

TEST(OpenFiles, AfterAMismatchOpensStartWithAnEmptyPageCacheAndOldHandlesAreStale) {
  OpenFiles t;
  test::FakeKernel k;
  Pins pins;
  pins.have = false;
  OpenReply before = t.open(7, 0, k, pins.fn());
  OpenReply after = t.open(7, 1, k, pins.fn());
  EXPECT_EQ(after.fh, OpenFiles::kFhEpochBase + 1);
  EXPECT_FALSE(after.keep_cache);
  EXPECT_FALSE(OpenFiles::current(before.fh, 1));
  EXPECT_TRUE(OpenFiles::current(after.fh, 1));
  EXPECT_TRUE(OpenFiles::current(OpenFiles::kFhNone, 5)) << "a read without an open has no epoch";
  EXPECT_TRUE(OpenFiles::current(OpenFiles::kFhPassthrough, 5));
}

TEST(OpenFiles, AReleaseWithoutAnOpenChangesNothing) {
  OpenFiles t;
  test::FakeKernel k;
  Pins pins;
  t.release(3, OpenFiles::kFhEpochBase);
  t.release(3, OpenFiles::kFhPassthrough);
  OpenReply r = t.open(3, 0, k, pins.fn());
  t.release(3, OpenFiles::kFhEpochBase);  // a caching release of a passthrough-only inode
  EXPECT_TRUE(k.closed.empty());
  t.release(3, r.fh);
  EXPECT_EQ(k.closed.size(), 1u);
  EXPECT_EQ(t.inodes(), 0u);
}

}  // namespace
}  // namespace hffs::fs
