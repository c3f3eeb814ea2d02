// Pins one repo at one revision and builds its filesystem: shared by `hffs mount REPO` and the
// --hub namespace, which opens repos on first access.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "cache/block_cache.h"
#include "cli/hf_publish.h"
#include "cli/partial_view.h"
#include "cli/snapshot_store.h"
#include "fs/hub_namespace.h"
#include "fs/prefetcher.h"
#include "fs/view.h"
#include "hubapi/hub_client.h"

namespace hffs::cli {

struct OpenContext {
  hubapi::HubClient* client = nullptr;  // null: offline
  SnapshotStore* views = nullptr;
  cache::BlockCache* cache = nullptr;
  std::filesystem::path hub_cache;      // the standard HF cache, served without network
  HfPublisher* publish = nullptr;       // --publish-hf-cache: verified files go into hub_cache
  fs::PrefetchConfig prefetch;
  // A repo of more than a few listing pages is listed one directory at a time, as visited (a
  // mount); otherwise (prefetch, which needs every path) the whole tree at once.
  bool lazy_listing = false;
  // A subfolder and/or a filter (cli/partial_view.h): every repo opened shows only that. Cut from
  // a kept whole tree when there is one; else listed (a filter: the whole subtree at once).
  PartialView view;
  uint32_t uid = 0, gid = 0;
};

// Online: repo info -> commit -> tree (kept for offline use); if the Hub is unreachable and a
// view of that revision was kept, that view. Offline: the kept view only. Gated repos are probed
// for access. Errors keep their Errc (kRepoNotFound, kGated, ...) for the caller to word.
Result<fs::RepoMount> open_repo_view(const OpenContext& ctx, const hubapi::RepoId& repo,
                                     const std::string& revision);

// A branch that may have moved (--refresh): nullopt when `revision` still names `current`, else
// the new commit's tree (listed, or its kept view) and source, kept for offline use like a mount's.
Result<std::optional<fs::ViewSpec>> next_view(const OpenContext& ctx, const hubapi::RepoId& repo,
                                              const std::string& revision, const std::string& current);
// Whether a mount of `revision` can follow it: not a full commit sha nor a refs/tags/ name (a tag
// named without refs/tags/ cannot be told from a branch without asking: it is checked, and never
// moves).
bool revision_moves(std::string_view revision);

}  // namespace hffs::cli
