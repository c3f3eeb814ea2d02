// The one place where typed errors become errno values, and where every errno a reply carries
// is decided (the FUSE adapter spells none itself).
#pragma once
#include <cstddef>

#include "common/status.h"

namespace hffs::fs {

int to_errno(Errc e);

// lookup: a name that is not there is answered with a negative entry the kernel caches like any
// other (the pinned tree never changes) rather than with ENOENT.
bool negative_entry(Errc e);
// getxattr: an attribute that is not there is ENODATA (ENOENT would say the file is missing).
int xattr_errno(Errc e);
// getxattr/listxattr: a value of `len` bytes for a caller's buffer of `size` bytes (0: the caller
// asks for the length): 0 to reply, or ERANGE.
int xattr_size_errno(size_t size, size_t len);
// A kernel notification's negative result (-errno) worth a log line: not ENOENT, which only says
// the kernel had forgotten the inode already.
bool notify_failed(int neg_errno);
// FUSE_DEV_IOC_BACKING_OPEN's result `rc` (errno `err` when negative): the backing id (> 0), or
// -errno (a 0, which no kernel returns for success, is EIO).
int backing_open_result(int rc, int err);

}  // namespace hffs::fs
