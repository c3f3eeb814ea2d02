// The open files of one repo and the mode the kernel reads each inode in (FUSE-free policy).
//
// The kernel reads an inode either through its page cache (hffs answers READs) or from one
// backing file for all its opens (passthrough); an open in the other mode fails. So the mode is
// per inode and follows the opens already there: pass through only a file nobody has open in
// caching mode, and keep doing so, with one backing id, while any passthrough open remains.
//
// The handle (fi->fh) says which: kFhPassthrough, or kFhEpochBase + the content's corrupt epoch
// at open, so that a read through an open made before the content failed verification fails.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "cache/block_cache.h"
#include "fs/ops.h"

namespace hffs::fs {

class OpenFiles {
 public:
  static constexpr uint64_t kFhNone = 0;         // no open (a direct read; no epoch check)
  static constexpr uint64_t kFhPassthrough = 1;  // a passthrough open
  static constexpr uint64_t kFhEpochBase = 2;    // a caching open: kFhEpochBase + epoch at open

  // A whole file on local disk the kernel may read while the pin lives; null when there is none.
  using PinFn = std::function<std::unique_ptr<cache::FilePin>()>;

  // Registers an open of `ino`, whose content is at corrupt epoch `epoch`. `pin` is called (under
  // the table's lock, which is outermost: a pin never waits on a fetch) only when the open may
  // pass through.
  OpenReply open(uint64_t ino, uint64_t epoch, BackingFiles& kernel, const PinFn& pin);
  // The matching release: the last passthrough open closes the backing file and drops the pin.
  void release(uint64_t ino, uint64_t fh);
  // May a read through handle `fh` serve a file now at corrupt epoch `epoch`?
  static bool current(uint64_t fh, uint64_t epoch) { return fh < kFhEpochBase || fh - kFhEpochBase == epoch; }
  static bool needs_epoch(uint64_t fh) { return fh >= kFhEpochBase; }

  size_t inodes() const;  // inodes with open files (tests)

 private:
  struct InodeOpens {
    std::unique_ptr<cache::FilePin> pin;
    BackingFiles* kernel = nullptr;  // that registered backing_id
    int backing_id = 0;
    uint32_t passthrough = 0;  // open files in passthrough mode
    uint32_t cached = 0;       // open files in caching mode
  };
  mutable std::mutex mu_;  // outermost (docs/ARCHITECTURE.md, lock order)
  std::unordered_map<uint64_t, InodeOpens> opens_;
};

}  // namespace hffs::fs
