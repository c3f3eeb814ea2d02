// Thin libfuse low-level adapter: translates FUSE requests into FsOps calls (fs/ops.h) and their
// results into replies; every decision is made behind FsOps.
// Holds no lock across a fuse_reply_* call; an inode number is never reused within a mount (a
// followed branch's switch gives changed files new numbers: fs/view.h).
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "fs/ops.h"

namespace hffs::fs {

struct FuseOptions {
  std::vector<std::string> mount_options;  // "-o" items: allow_other, default_permissions, ...
  std::string fsname;                      // shown in /proc/mounts
  unsigned max_threads = 64;
  unsigned max_background = 64;
  unsigned max_write = 1u << 20;  // also sets max_pages = 256 (1 MiB requests)
  double timeout_s = 86400.0 * 365;  // entry/attr timeouts: the pinned tree never changes
  unsigned read_ahead_kb = 16384;  // written to the mount's bdi after mounting (root only)
  bool debug = false;
  // Reply to reads of cached data by splicing the cache file's pages (no copy in the daemon).
  bool splice_reads = true;
  // Hand complete cached files to the kernel to read directly (FUSE passthrough, Linux >= 6.9,
  // needs CAP_SYS_ADMIN); silently off where unsupported.
  bool passthrough = true;
};

class FuseServer {
 public:
  FuseServer(FsOps& fs, FuseOptions opts);
  ~FuseServer();
  FuseServer(const FuseServer&) = delete;
  FuseServer& operator=(const FuseServer&) = delete;

  // Creates the session and mounts it. SIGTERM/SIGINT/SIGHUP end the loop afterwards.
  Status mount(const std::string& mountpoint);
  // Serves requests until unmounted or signalled; then unmounts. Returns 0 on a clean exit.
  int serve();
  // Makes the kernel forget a directory entry (thread-safe; not from a request handler that
  // holds locks the kernel may need).
  void invalidate_entry(uint64_t parent, const std::string& name);
  // After a view switch (fs/follower.h): the kernel forgets these entries, then the attributes
  // and cached pages (a directory's: its cached listing) of these inodes. Synchronous: call it
  // from a thread of the caller's, never from a request handler (the kernel may wait for one).
  void forget(const std::vector<std::pair<uint64_t, std::string>>& entries, const std::vector<uint64_t>& inodes);
  // Makes the kernel drop its cached pages of every file whose content is `key` (content that
  // failed verification). Thread-safe, returns at once: a thread of its own tells the kernel.
  void invalidate_content(const std::string& key);
  // Asks the loop to stop (thread-safe).
  void request_exit();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace hffs::fs
