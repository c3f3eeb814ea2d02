#include "fs/open_files.h"

namespace hffs::fs {

OpenReply OpenFiles::open(uint64_t ino, uint64_t epoch, BackingFiles& kernel, const PinFn& pin) {
  // Immutable content: keep the page cache across opens, unless it failed verification once (this
  // open then starts empty, whatever an earlier open read: the asynchronous invalidation may not
  // have run yet).
  OpenReply r{kFhEpochBase + epoch, epoch == 0, 0};
  std::lock_guard lk(mu_);
  InodeOpens& o = opens_[ino];
  if (o.passthrough > 0) {
    ++o.passthrough;
    r.backing_id = o.backing_id;
  } else if (o.cached == 0 && kernel.enabled()) {
    if (auto p = pin()) {
      if (int id = kernel.open(p->data_fd()); id > 0) {
        o.pin = std::move(p);
        o.kernel = &kernel;
        o.backing_id = id;
        o.passthrough = 1;
        r.backing_id = id;
      }
    }
  }
  if (r.backing_id > 0) {
    r.fh = kFhPassthrough;
    r.keep_cache = false;  // the kernel refuses passthrough opens with any flag but NOFLUSH/DIRECT_IO
  } else {
    ++o.cached;
  }
  return r;
}

void OpenFiles::release(uint64_t ino, uint64_t fh) {
  std::lock_guard lk(mu_);
  auto it = opens_.find(ino);
  if (it == opens_.end()) return;
  InodeOpens& o = it->second;
  if (fh == kFhPassthrough && o.passthrough > 0 && --o.passthrough == 0) {
    o.kernel->close(o.backing_id);
    o.pin.reset();
    o.kernel = nullptr;
    o.backing_id = 0;
  } else if (fh != kFhPassthrough && o.cached > 0) {
    --o.cached;
  }
  if (o.passthrough == 0 && o.cached == 0) opens_.erase(it);
}

size_t OpenFiles::inodes() const {
  std::lock_guard lk(mu_);
  return opens_.size();
}

}  // namespace hffs::fs
