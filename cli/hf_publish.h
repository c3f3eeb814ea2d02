// Publishes files the block cache has fetched completely and verified into the standard Hugging
// Face cache layout (hub-protocol.md section 8.3), so Python tools find them without the mount:
//   $HF_HUB_CACHE/<type>s--<org>--<name>/blobs/<etag>              (copied: FICLONE, copy_file_range, read/write)
//   $HF_HUB_CACHE/<type>s--<org>--<name>/snapshots/<commit>/<path> -> ../../blobs/<etag>
//   $HF_HUB_CACHE/<type>s--<org>--<name>/refs/<revision>           (when the revision is not the sha)
//   $HF_HUB_CACHE/.locks/<type>s--<org>--<name>/<etag>.lock        (flock while the blob is written)
// The copy is hashed again before it is renamed onto blobs/<etag>: a block evicted or corrupted
// between verification and copy never reaches the HF cache.
#pragma once
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cache/block_cache.h"
#include "common/status.h"
#include "fs/namespace.h"
#include "hubapi/types.h"

namespace hffs::cli {

class HfPublisher {
 public:
  // `hub_cache`: $HF_HUB_CACHE. `block_cache_dir`: the hffs cache dir (CacheConfig::dir).
  HfPublisher(std::filesystem::path hub_cache, std::filesystem::path block_cache_dir);
  // Finishes the queued work, then stops the worker.
  ~HfPublisher();
  HfPublisher(const HfPublisher&) = delete;
  HfPublisher& operator=(const HfPublisher&) = delete;

  // Remembers where every file of a repo view belongs (content key -> repo, commit, revision,
  // path). Files already complete in `cache` (or empty, or already a blob of the HF cache) are
  // queued for publishing now.
  void add_repo(const hubapi::RepoId& repo, const std::string& commit, const std::string& revision,
                const fs::Namespace& ns, cache::BlockCache* cache);
  // CacheConfig::on_verified: queues the key (returns at once).
  void on_verified(const cache::FileRef& f);
  // Waits until everything queued so far is done.
  void drain();

  struct Target {
    std::string folder;    // models--org--name
    std::string commit;
    std::string revision;  // as asked ("main", "v1.0", "refs/pr/1", a sha)
    std::string path;      // repo path
  };
  // Publishes one complete file (its bytes taken from the block cache's data file, or nothing to
  // copy when blobs/<etag> exists already) at every target. Synchronous.
  Status publish(const cache::FileRef& f, const std::vector<Target>& targets);

 private:
  void loop();
  Status ensure_blob(const std::filesystem::path& repo_dir, const std::string& folder, const cache::FileRef& f);

  std::filesystem::path hub_cache_;
  std::filesystem::path cache_root_;  // <dir>/hffs-v1
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, std::vector<Target>> targets_;  // by content key
  std::deque<cache::FileRef> queue_;
  bool busy_ = false;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace hffs::cli
