// Keeps the pinned view of every mounted commit under the cache dir, for offline mounts:
//   <cache>/views/<type>s--<org>--<name>/commits/<sha>.json   (hubapi snapshot format)
//   <cache>/views/<type>s--<org>--<name>/refs/<revision>      (commit sha, no newline)
//   <cache>/views/<type>s--<org>--<name>/commits/<sha>.tree   (binary tree image, lazy mounts)
#pragma once
#include <filesystem>
#include <string>

#include "common/status.h"
#include "fs/namespace.h"
#include "hubapi/snapshot.h"

namespace hffs::cli {

class SnapshotStore {
 public:
  explicit SnapshotStore(std::filesystem::path cache_dir) : root_(std::move(cache_dir) / "views") {}
  // Atomic (temp file + rename); a failure is logged by the caller and does not stop a mount.
  Status save(const hubapi::Snapshot& s, const std::string& revision);
  // Only refs/<revision> -> sha, for a commit whose view is kept already.
  Status save_ref(const hubapi::RepoId& repo, const std::string& revision, const std::string& sha);
  // `revision` may be a ref name seen before or a full/short commit sha seen before.
  Result<hubapi::Snapshot> load(const hubapi::RepoId& repo, const std::string& revision) const;
  // The binary tree image of a commit (commits/<sha>.tree): what a lazy mount had listed.
  Status save_image(const hubapi::RepoId& repo, const std::string& sha, const fs::Namespace& ns);
  Result<fs::Namespace> load_image(const hubapi::RepoId& repo, const std::string& sha) const;

 private:
  std::filesystem::path repo_dir(const hubapi::RepoId& repo) const;
  std::filesystem::path root_;
};

// "models--org--name" as the Hugging Face cache names repo folders.
std::string repo_folder_name(const hubapi::RepoId& repo);

}  // namespace hffs::cli
