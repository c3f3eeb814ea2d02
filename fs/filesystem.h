// FUSE-free filesystem core: answers lookups from the pinned namespace (no network) and reads
// through the block cache, which pulls misses from the file's source (a RepoSource hands them
// out). The FUSE adapter only translates.
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/block_cache.h"
#include "common/status.h"
#include "fs/list_ahead.h"
#include "fs/namespace.h"
#include "fs/open_files.h"
#include "fs/ops.h"
#include "fs/prefetcher.h"
#include "fs/repo_source.h"
#include "fs/view.h"

namespace hffs::fs {

struct FsConfig {
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime = 0;     // commit date, seconds since epoch
  std::string repo;      // "model:org/name" style label for xattrs
  std::string revision;  // as asked
  std::string commit;    // 40-hex (the first view's; commit() is the current one)
  // A partial view (cli/partial_view.h): the repo folder shown as the root, and the globs.
  std::string subfolder;
  std::vector<std::string> include, exclude;
  // How long a range whose fetch failed (network/timeout/5xx) answers the same error at once.
  std::chrono::milliseconds failure_memory{2000};
  // A lazily listed tree: workers listing the subdirectories of a directory read (ListAhead).
  unsigned list_ahead_workers = 4;
  // Called with the tree when the filesystem goes away (a lazy tree keeps what it listed).
  std::function<void(const Namespace&)> on_close;
};

struct FsStats {
  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> read_bytes{0};
  std::atomic<uint64_t> read_errors{0};
  std::atomic<uint64_t> local_bytes{0};  // served from the Hugging Face cache
  std::atomic<uint64_t> spliced_bytes{0};     // block-cache bytes handed to the kernel as page references
  std::atomic<uint64_t> passthrough_pins{0};  // opens handed to the kernel to read directly
  std::array<std::atomic<uint64_t>, 32> errors_by_code{};  // indexed by Errc
  // Following a branch (--refresh, fs/follower.h): views switched to (counted once the kernel was
  // told what changed), checks made, checks failed.
  std::atomic<uint64_t> view_switches{0};
  std::atomic<uint64_t> refresh_checks{0};
  std::atomic<uint64_t> refresh_failures{0};
};

class Filesystem : public FsOps {
 public:
  // `source` must outlive the Filesystem.
  Filesystem(Namespace ns, cache::BlockCache& cache, RepoSource& source, FsConfig cfg,
             PrefetchConfig prefetch = PrefetchConfig::off());
  ~Filesystem();
  Filesystem(const Filesystem&) = delete;
  Filesystem& operator=(const Filesystem&) = delete;

  Result<Attr> lookup(uint64_t parent, std::string_view name) override;
  Result<Attr> getattr(uint64_t ino) override;
  // Any write access is kReadOnly (EROFS). Complete block-cache files and local Hugging Face
  // cache copies may pass through (OpenFiles decides).
  Result<OpenReply> open(uint64_t ino, int flags, BackingFiles& kernel) override;
  void release(uint64_t ino, uint64_t fh) override;
  // Present blocks of the block cache are spliced; local copies and misses are copied.
  Result<ReadDone> read(uint64_t ino, uint64_t fh, uint64_t offset, size_t len, ReadTarget& to) override;
  // A read without an open (no epoch check, never spliced) into `out`: up to out.size() bytes.
  Result<size_t> read(uint64_t ino, uint64_t offset, std::span<char> out);
  Status opendir(uint64_t ino) override;
  Status readdir(uint64_t ino, uint64_t offset, DirFiller& out) override;
  FsSummary summary() override;
  std::vector<uint64_t> inodes_of(const std::string& key) override;
  // How many times the content of `ino` failed verification (cache::BlockCache::corrupt_epoch).
  uint64_t content_epoch(uint64_t ino);
  size_t open_inodes() const { return opens_.inodes(); }

  // Serves `ino` from a complete local copy (a blob of the standard Hugging Face cache) instead of
  // the block cache and the network. Call before serving; the file must have the inode's size.
  void add_local_copy(uint64_t ino, std::string path);
  size_t local_copies() const { return local_.size(); }

  // Makes [offset, offset+len) of a file present in the cache (used by the prefetcher).
  Status warm(uint64_t ino, uint64_t offset, uint64_t len);

  // The mount root's user.hffs.metrics attribute (Prometheus text), composed by the caller.
  void set_metrics_provider(std::function<std::string()> f) { metrics_ = std::move(f); }

  // Extended attributes: user.hffs.* (see docs/ARCHITECTURE.md).
  Result<std::string> getxattr(uint64_t ino, std::string_view name) override;
  Result<std::vector<std::string>> listxattr(uint64_t ino) override;

  // The current view's tree: valid until the next switch_to (setup code and tests).
  const Namespace& ns() const { return view_.latest()->ns; }
  const FsConfig& config() const { return cfg_; }
  // The commit served now (config().commit until a switch).
  std::string commit() const { return view_.latest()->commit; }
  FsStats& stats() { return stats_; }
  const FsStats& stats() const { return stats_; }

  // Serves `next` from now on (a branch moved: fs/follower.h). New lookups see the new tree at
  // once; a file open before keeps its inode and the bytes of its commit until released; files
  // whose path, key and size are the same keep their inode number (and so the kernel's cache).
  // The report says what the kernel must forget (the caller tells it, outside request handlers).
  SwitchReport switch_to(ViewSpec next);
  // The root's user.hffs.refresh attribute: a check made now (`hffs refresh`), its outcome.
  void set_refresh_provider(std::function<std::string()> f) { refresh_ = std::move(f); }
  PrefetchStats prefetch_stats() const { return prefetcher_->stats(); }

 private:
  // An inode of the current view, or of an older view a handle still holds open.
  struct Node {
    std::shared_ptr<View> view;
    const Inode* n = nullptr;
  };
  Node node(uint64_t ino) const;
  bool current(const View& v) const { return view_.is_latest(v); }
  Attr attr_of(const View& v, const Inode& n) const;
  void unhold(uint64_t ino);  // one open of `ino` fewer
  int local_fd(uint64_t ino);  // -1 when the inode has no local copy
  // The whole file on local disk for the kernel to read directly; null when it is not all local.
  std::unique_ptr<cache::FilePin> pin_whole(uint64_t ino, const Namespace& ns, const Inode& n);
  Result<size_t> read_local(const Node& f, int fd, uint64_t offset, std::span<char> out);
  Result<size_t> read_cached(uint64_t ino, const Node& f, const cache::FileRef& ref, uint64_t offset,
                             std::span<char> out);

  // The view lookups see; replaced whole by switch_to (requests share no lock to take it).
  ViewCell view_;
  std::mutex switch_mu_;  // one switch at a time (leaf: CPU only)
  // Inodes open now, with the view they were opened in: a file that changed or went away in a
  // switch keeps being served from its own view until its last release.
  struct Held {
    std::shared_ptr<View> view;
    uint32_t opens = 0;
  };
  mutable std::mutex held_mu_;  // leaf
  std::unordered_map<uint64_t, Held> held_;
  cache::BlockCache& cache_;
  FsConfig cfg_;
  FsStats stats_;
  std::function<std::string()> metrics_;
  std::function<std::string()> refresh_;
  // A range whose fetch just failed answers the same error at once for a moment: the kernel
  // retries a failed read-ahead with a synchronous read, which must not wait out the deadline
  // a second time.
  Status recent_failure(uint64_t ino, uint64_t offset, size_t len);
  void remember_failure(uint64_t ino, uint64_t offset, size_t len, const Status& s);
  std::mutex fail_mu_;
  std::unordered_map<uint64_t, std::pair<std::chrono::steady_clock::time_point, Status>> failures_;
  struct LocalCopy {
    std::string path;
    std::atomic<int> fd{-1};
  };
  std::unordered_map<uint64_t, std::unique_ptr<LocalCopy>> local_;  // filled before serving
  OpenFiles opens_;
  std::unique_ptr<Prefetcher> prefetcher_;  // last: its workers call back into this object
};

}  // namespace hffs::fs
