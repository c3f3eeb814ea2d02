// Sources for `hffs cache verify --complete`: the kept views (<cache>/views) say which repo, commit
// and path each cached content key came from, so its missing blocks can be fetched again.
#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>

#include "cache/block_source.h"
#include "hubapi/hub_client.h"

namespace hffs::cli {

struct ContentOrigin {
  hubapi::RepoId repo;
  std::string commit;
  std::string path;
  uint64_t size = 0;
};

// Content key -> one place it can be fetched from, over every kept view (unreadable ones skipped).
std::unordered_map<std::string, ContentOrigin> index_kept_views(const std::filesystem::path& cache_dir);

// A BlockSource over one file of a repo at a commit.
std::unique_ptr<cache::BlockSource> hub_file_source(hubapi::HubClient& client, ContentOrigin o);

}  // namespace hffs::cli
