#include "common/fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <cerrno>

namespace hffs {
namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

TEST(UniqueFd, ClosesOnceWhenItGoesAway) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  { UniqueFd fd(raw); EXPECT_TRUE(fd.valid()); EXPECT_EQ(fd.get(), raw); }
  EXPECT_FALSE(is_open(raw));
}

TEST(UniqueFd, MoveTransfersOwnershipAndReleaseGivesItUp) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  UniqueFd a(raw);
  UniqueFd b(std::move(a));
  EXPECT_FALSE(a.valid());
  EXPECT_EQ(b.get(), raw);
  UniqueFd c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  int back = c.release();
  EXPECT_FALSE(c.valid());
  EXPECT_TRUE(is_open(back));
  close_fd(back);
  EXPECT_FALSE(is_open(back));
}

TEST(UniqueFd, ResetClosesTheOldFd) {
  int r1 = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int r2 = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  UniqueFd fd(r1);
  fd.reset(r2);
  EXPECT_FALSE(is_open(r1));
  EXPECT_TRUE(is_open(r2));
  fd.reset();
  EXPECT_FALSE(is_open(r2));
}

}  // namespace
}  // namespace hffs
