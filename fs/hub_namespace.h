// One daemon for every repo: /mnt/hf/<org>/<name>, /mnt/hf/datasets/<org>/<name>,
// /mnt/hf/spaces/<org>/<name>, and <name>@<revision> for a pinned revision, each resolved on
// first access (as CernVM-FS does under /cvmfs) and released after it has been idle.
//
// Inode numbers: virtual directories (root, "datasets", "spaces", org folders) are below 2^40;
// repo k's inode i is (k << 40) | i, so every repo keeps its own stable numbering.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "fs/filesystem.h"
#include "fs/follower.h"
#include "fs/ops.h"
#include "fs/repo_source.h"
#include "hubapi/types.h"

namespace hffs::fs {

struct RepoMount {
  std::unique_ptr<RepoSource> source;  // must outlive fs
  std::unique_ptr<Filesystem> fs;
  std::unique_ptr<Follower> follower;  // following a branch (--refresh); goes first
};

struct HubNamespaceConfig {
  uint32_t uid = 0, gid = 0;
  std::chrono::seconds idle_release{600};   // unused repos are dropped after this
  std::chrono::seconds negative_ttl{30};    // a failed lookup is remembered this long
  double virtual_entry_timeout = 30;        // kernel caching of the virtual directories
  // Time source of the idle and negative-cache decisions: tests pass a fake clock to step over
  // a TTL without waiting for it.
  std::function<std::chrono::steady_clock::time_point()> clock = [] { return std::chrono::steady_clock::now(); };
  // false: no reaper thread; the owner (a test) calls release_idle itself, with its own clock.
  bool reaper = true;
  // Follows the branch of an `org/name` entry (no @rev; revision "main"): the repo's Follower, or
  // null (pinned). `forget` tells the kernel, in this namespace's inode numbers.
  std::function<std::unique_ptr<Follower>(const hubapi::RepoId&, const std::string& revision, Filesystem&,
                                          Follower::Forget forget)>
      follow;
};

class HubNamespace : public FsOps {
 public:
  using Opener = std::function<Result<RepoMount>(const hubapi::RepoId& repo, const std::string& revision)>;
  // Tells the kernel to forget a directory entry (wired to fuse_lowlevel_notify_inval_entry).
  using Invalidator = std::function<void(uint64_t parent, const std::string& name)>;

  HubNamespace(Opener opener, HubNamespaceConfig cfg);
  ~HubNamespace() override;

  void set_invalidator(Invalidator inv);
  // Where the followers' switches are told to the kernel (null: nowhere).
  void set_forget(Follower::Forget f);
  // Stops every repo's follower (the mount is ending: the kernel is not told anything more).
  void stop_following();
  void set_metrics_provider(std::function<std::string()> f) { metrics_ = std::move(f); }
  // Drops repos idle for longer than the configured time; returns how many (the reaper thread
  // calls it every few seconds; tests call it directly).
  size_t release_idle(std::chrono::steady_clock::time_point now);
  size_t loaded_repos() const;
  // Visits every loaded repo (for metrics).
  void for_each_repo(const std::function<void(const std::string& label, Filesystem&)>& f) const;

  Result<Attr> lookup(uint64_t parent, std::string_view name) override;
  Result<Attr> getattr(uint64_t ino) override;
  Status readdir(uint64_t ino, uint64_t offset, DirFiller& out) override;
  // An open file keeps its repo loaded until its release.
  Result<OpenReply> open(uint64_t ino, int flags, BackingFiles& kernel) override;
  void release(uint64_t ino, uint64_t fh) override;
  Status opendir(uint64_t ino) override;
  Result<ReadDone> read(uint64_t ino, uint64_t fh, uint64_t offset, size_t len, ReadTarget& to) override;
  std::vector<uint64_t> inodes_of(const std::string& key) override;
  Result<std::string> getxattr(uint64_t ino, std::string_view name) override;
  Result<std::vector<std::string>> listxattr(uint64_t ino) override;
  FsSummary summary() override;

  static constexpr int kSlotShift = 40;
  static constexpr uint64_t kLocalMask = (uint64_t{1} << kSlotShift) - 1;

 private:
  struct VDir {
    uint64_t ino;
    uint64_t parent;
    hubapi::RepoType type;
    std::string org;  // "" for the root and the type folders
    std::map<std::string, uint64_t> children;  // name -> ino (virtual dirs or repo roots)
  };
  struct Slot {
    hubapi::RepoId repo;
    std::string revision;
    std::string name;    // entry name in its org folder ("name" or "name@rev")
    uint64_t parent;     // org folder inode
    RepoMount mount;
    std::atomic<int64_t> last_used{0};
    std::atomic<int> open_files{0};
    std::atomic<uint64_t> k{0};  // slot number, once assigned
  };
  struct Negative {
    Status status;
    std::chrono::steady_clock::time_point until;
  };

  Attr vdir_attr(const VDir& d) const;
  uint64_t add_vdir(uint64_t parent, const std::string& name, hubapi::RepoType type, const std::string& org);
  std::shared_ptr<Slot> slot_of(uint64_t ino) const;  // nullptr for virtual inodes / released slots
  Attr translate(const Attr& a, uint64_t slot) const;
  Result<Attr> open_repo(const VDir& org_dir, std::string_view name);
  void touch(Slot& s) const;
  void reaper();

  Opener opener_;
  HubNamespaceConfig cfg_;
  Invalidator invalidate_;
  std::function<std::string()> metrics_;
  int64_t mount_time_;

  mutable std::shared_mutex mu_;  // guards dirs_, slots_, negative_, next_vdir_
  std::map<uint64_t, VDir> dirs_;
  std::vector<std::shared_ptr<Slot>> slots_;  // index = slot number; [0] unused; null = released
  std::map<std::string, Negative> negative_;
  uint64_t next_vdir_ = 16;
  std::mutex open_mu_;  // serializes first opens (network); taken before mu_, never inside it

  std::mutex forget_mu_;  // leaf, held across the kernel notifications of a switch
  Follower::Forget forget_;

  std::mutex reaper_mu_;
  std::condition_variable reaper_cv_;
  bool stop_ = false;
  std::thread reaper_;
};

}  // namespace hffs::fs
