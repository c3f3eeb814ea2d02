#include "fs/ops.h"

#include <unistd.h>

#include "cache/block_cache.h"

namespace hffs::fs {

void drain_pipe(const Pipe& p, size_t n) { cache::drain_pipe(cache::PipeFds{p.rd, p.wr}, n); }

Status FsOps::access(uint64_t ino, int mask) {
  if (!getattr(ino)) return Status(Errc::kEntryNotFound, "no such inode");
  if (mask & W_OK) return Status(Errc::kReadOnly, "read-only filesystem");
  return Status::ok();
}

}  // namespace hffs::fs
