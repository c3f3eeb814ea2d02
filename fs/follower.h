// Follows a branch (--refresh): re-resolves the mounted revision every interval and, when it
// names a new commit, switches the Filesystem to that commit's tree (Filesystem::switch_to), then
// tells the kernel what to forget. One thread per followed repo; `check_now` (`hffs refresh`,
// through the root's user.hffs.refresh attribute) hands a check to that thread and waits for it:
// the kernel is told to forget on that thread, never on the FUSE worker that asked.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/status.h"
#include "fs/filesystem.h"
#include "fs/view.h"

namespace hffs::fs {

class Follower {
 public:
  // Resolves the revision: nullopt when it still names `current`, else the new commit's view.
  using Check = std::function<Result<std::optional<ViewSpec>>(const std::string& current)>;
  // Tells the kernel what a switch changed (FUSE notifications). Called on the follower's thread.
  using Forget = std::function<void(const Invalidations&)>;

  // `interval` 0: no periodic check, only check_now. Starts its thread at once.
  Follower(Filesystem& fs, std::string label, Check check, Forget forget, std::chrono::milliseconds interval);
  ~Follower();  // stops the thread (a check in progress finishes first)
  Follower(const Follower&) = delete;
  Follower& operator=(const Follower&) = delete;

  // One check made after this call began (callers that arrive together share one): its outcome,
  // "<old> -> <new>", "unchanged <sha>" or "failed: <why>".
  std::string check_now(std::chrono::milliseconds wait = std::chrono::minutes(3));

 private:
  void loop();
  std::string run_check();

  Filesystem& fs_;
  const std::string label_;
  Check check_;
  Forget forget_;
  const std::chrono::milliseconds interval_;
  bool failing_ = false;  // only the loop's thread touches it: one log line per failure streak

  std::mutex mu_;  // leaf; never held across a check
  std::condition_variable cv_;
  bool stop_ = false;
  uint64_t asked_ = 0, done_ = 0;
  std::string last_;
  std::thread thread_;
};

}  // namespace hffs::fs
