// What `hffs mount` and `hffs prefetch` build before they open a repo, in one place: the HF
// environment, the Hub client, the block cache with its HF-cache publisher, the kept views and
// the context repos are opened with. Both commands get the same cache configuration, the same
// failure codes and the same teardown order from here.
#pragma once
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "cache/block_cache.h"
#include "cli/env.h"
#include "cli/exit_codes.h"
#include "cli/hf_publish.h"
#include "cli/hub_setup.h"
#include "cli/repo_opener.h"
#include "cli/snapshot_store.h"
#include "fs/prefetcher.h"
#include "hubapi/hub_client.h"

namespace hffs::cli {

struct SessionOptions {
  HubArgs hub;                              // endpoints, token, CA file, deadline
  std::optional<std::string> cache_dir;      // default: $HF_HOME/hffs
  std::optional<std::string> cache_group;    // name or gid: the cache is shared with this group
  std::optional<std::string> cache_size;     // bound, cache::parse_size syntax
  std::optional<std::string> cache_min_free;
  std::string verify = "auto";               // auto | strict
  std::optional<std::string> verify_whole_max;
  bool publish_hf_cache = false;             // verified files also go into $HF_HUB_CACHE
  bool offline = false;                      // or HF_HUB_OFFLINE: no client, kept views only
  fs::PrefetchConfig prefetch;               // read-ahead of the repos opened (enabled=false: none)
  bool lazy_listing = false;                 // big repos listed per directory as visited (mounts)
  PartialView view;                          // a subfolder / filtered view of every repo opened
  // CacheConfig::on_corrupt (mount: drop the kernel's page cache of the file).
  std::function<void(const cache::FileRef&)> on_corrupt;
};

class Session {
 public:
  struct Opened;
  // Reads the HF environment, builds the Hub configuration and client, opens the cache. A bad
  // option fails with kExitUsage, an unusable cache directory with kExitCache.
  static Opened open(const SessionOptions& o);

  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const HfEnv& env() const { return env_; }
  const hubapi::HubConfig& hub_config() const { return hub_.config; }
  const EndpointList& endpoints() const { return hub_.endpoints; }  // with where the list came from
  const std::string& token_source() const { return hub_.token_source; }  // never the token itself
  bool offline() const { return ctx_.client == nullptr; }
  hubapi::HubClient* client() const { return ctx_.client; }  // null when offline
  cache::BlockCache& cache() const { return *cache_; }
  const std::filesystem::path& cache_dir() const { return cache_dir_; }
  HfPublisher* publisher() const { return publisher_.get(); }
  const OpenContext& context() const { return ctx_; }

  // open_repo_view with this session's client, cache, views and read-ahead (thread-safe: the
  // --hub namespace calls it for each repo on first access).
  Result<fs::RepoMount> open_repo(const hubapi::RepoId& repo, const std::string& revision) const;
  // The failure of open_repo, worded for `verb` ("mount", "prefetch").
  Failure repo_failure(const Status& s, const hubapi::RepoId& repo, const std::string& revision,
                       const std::string& verb) const;

 private:
  Session() = default;

  // Members in build order; destroyed in reverse, which the cache needs: its verifier thread
  // calls the publisher until the cache is gone.
  HfEnv env_;
  HubSetup hub_;
  std::unique_ptr<hubapi::HubClient> client_;
  std::filesystem::path cache_dir_;
  std::unique_ptr<HfPublisher> publisher_;
  std::unique_ptr<cache::BlockCache> cache_;
  std::unique_ptr<SnapshotStore> views_;
  OpenContext ctx_;
};

struct Session::Opened {
  std::unique_ptr<Session> session;  // null on failure
  Failure failure;
};

}  // namespace hffs::cli
