// Directory read-ahead for a lazily listed tree: when a directory is read (readdir), its
// subdirectories not listed yet are listed in the background by a few workers, so a walk of the
// tree (find, os.walk, a dataset loader's glob) waits on one round trip per level, not one per
// directory. Only what a reader is walking is listed ahead: one level below each directory read.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "fs/namespace.h"

namespace hffs::fs {

class ListAhead {
 public:
  ListAhead(const Namespace& ns, unsigned workers, size_t max_queued = 4096);
  ~ListAhead();  // stops the workers; queued directories are dropped
  ListAhead(const ListAhead&) = delete;
  ListAhead& operator=(const ListAhead&) = delete;

  // `dir` was read: queue its subdirectories that are not listed yet.
  void on_readdir(const Inode& dir);
  // Directories listed by the workers (for tests and metrics).
  uint64_t listed() const;

 private:
  void work();

  const Namespace& ns_;
  const unsigned workers_;
  const size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<uint32_t> queue_;
  std::unordered_set<uint32_t> queued_;
  std::vector<std::thread> threads_;  // started on first use
  bool stop_ = false;
  uint64_t listed_ = 0;
};

}  // namespace hffs::fs
