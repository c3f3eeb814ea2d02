// The errno of every reply the adapter makes (fs/errno_map.h).
#include "fs/errno_map.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace hffs::fs {
namespace {

TEST(ErrnoMap, ErrorsThatMeanTheBytesCouldNotBeHadAreEio) {
  for (Errc e : {Errc::kRateLimited, Errc::kServer, Errc::kNetwork, Errc::kTimeout, Errc::kProtocol, Errc::kOffline,
                 Errc::kIo, Errc::kCorrupt})
    EXPECT_EQ(to_errno(e), EIO) << errc_name(e);
  EXPECT_EQ(to_errno(Errc::kOk), 0);
  EXPECT_EQ(to_errno(Errc::kEntryNotFound), ENOENT);
  EXPECT_EQ(to_errno(Errc::kReadOnly), EROFS);
}

TEST(ErrnoMap, SpecialCasesOfLookupXattrAndNotifications) {
  EXPECT_TRUE(negative_entry(Errc::kEntryNotFound));
  EXPECT_FALSE(negative_entry(Errc::kNetwork)) << "a failed repo open is an error, not a cached miss";
  EXPECT_EQ(xattr_errno(Errc::kEntryNotFound), ENODATA);
  EXPECT_EQ(xattr_errno(Errc::kIo), EIO);
  EXPECT_EQ(xattr_size_errno(0, 100), 0) << "size 0 asks for the length";
  EXPECT_EQ(xattr_size_errno(99, 100), ERANGE);
  EXPECT_EQ(xattr_size_errno(100, 100), 0);
  EXPECT_FALSE(notify_failed(0));
  EXPECT_FALSE(notify_failed(-ENOENT));
  EXPECT_TRUE(notify_failed(-EBADF));
  EXPECT_EQ(backing_open_result(3, 0), 3);
  EXPECT_EQ(backing_open_result(0, 0), -EIO);
  EXPECT_EQ(backing_open_result(-1, EPERM), -EPERM);
}

}  // namespace
}  // namespace hffs::fs
