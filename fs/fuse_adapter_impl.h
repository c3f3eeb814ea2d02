// Private to the FUSE adapter (fs/fuse_adapter*.cc): the server's state and the two halves of
// the adapter, request handlers (fuse_adapter.cc) and session lifecycle (fuse_adapter_session.cc).
#pragma once
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "fs/fuse_adapter.h"
#include "fs/ops.h"

namespace hffs::fs {

// Passthrough negotiation is wire state: the INIT exchange (our I/O hooks) turns it on, a refused
// backing file turns it off. Which open passes through is decided behind FsOps (fs/open_files.h).
struct FuseServer::Impl final : BackingFiles {
  Impl(FsOps& f, FuseOptions o) : fs(f), opts(std::move(o)) {}
  FsOps& fs;
  FuseOptions opts;
  fuse_session* se = nullptr;
  bool mounted = false;
  bool signals = false;
  // FUSE passthrough (Linux >= 6.9), which libfuse 3.14 does not know: negotiated by amending
  // the INIT reply in our writev hook when the kernel offered it (see passthrough.h).
  std::atomic<uint64_t> init_unique{0};   // the INIT request, when the kernel offered passthrough
  std::atomic<bool> passthrough{false};   // negotiated; cleared if the kernel refuses a backing file
  // Content keys whose kernel page cache must go (failed verification), and the thread that
  // tells the kernel: never a FUSE worker, which the invalidation may wait for.
  std::mutex inval_mu;  // leaf
  std::condition_variable inval_cv;
  std::deque<std::string> inval_keys;
  bool inval_stop = false;
  std::thread inval_thread;

  // BackingFiles: FUSE_DEV_IOC_BACKING_{OPEN,CLOSE} on the session's /dev/fuse fd.
  bool enabled() const override { return passthrough.load(std::memory_order_relaxed); }
  int open(int fd) override;
  void close(int backing_id) override;
};

// The request handlers: each translates one FUSE request into FsOps calls and a reply.
fuse_lowlevel_ops make_ops();
// Our read/writev/splice on the session's /dev/fuse fd, which amend the replies for passthrough.
fuse_custom_io passthrough_io();

}  // namespace hffs::fs
