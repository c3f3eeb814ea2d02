#include "fs/errno_map.h"

#include <cerrno>

namespace hffs::fs {

int to_errno(Errc e) {
  switch (e) {
    case Errc::kOk: return 0;
    case Errc::kRepoNotFound:
    case Errc::kRevisionNotFound:
    case Errc::kEntryNotFound: return ENOENT;
    case Errc::kGated:
    case Errc::kUnauthorized:
    case Errc::kForbidden: return EACCES;
    case Errc::kInvalidInput: return EINVAL;
    case Errc::kReadOnly: return EROFS;
    case Errc::kNoSpace: return ENOSPC;
    case Errc::kCancelled: return EINTR;
    // Everything that means "the bytes could not be had": the reader gets EIO, never a hang.
    case Errc::kRateLimited:
    case Errc::kServer:
    case Errc::kNetwork:
    case Errc::kTimeout:
    case Errc::kProtocol:
    case Errc::kOffline:
    case Errc::kIo:
    case Errc::kCorrupt: return EIO;
  }
  return EIO;
}

}  // namespace hffs::fs

namespace hffs::fs {

bool negative_entry(Errc e) { return e == Errc::kEntryNotFound; }

int xattr_errno(Errc e) { return e == Errc::kEntryNotFound ? ENODATA : to_errno(e); }

int xattr_size_errno(size_t size, size_t len) { return size != 0 && size < len ? ERANGE : 0; }

bool notify_failed(int neg_errno) { return neg_errno != 0 && neg_errno != -ENOENT; }

int backing_open_result(int rc, int err) { return rc > 0 ? rc : (rc == 0 ? -EIO : -err); }

}  // namespace hffs::fs
