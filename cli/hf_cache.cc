#include "cli/hf_cache.h"

#include <sys/stat.h>

#include "cli/snapshot_store.h"

namespace hffs::cli {

std::vector<std::pair<uint64_t, std::string>> find_hf_cache_copies(const std::filesystem::path& hub_cache,
                                                                   const hubapi::RepoId& repo,
                                                                   const std::string& commit,
                                                                   const fs::Namespace& ns) {
  std::vector<std::pair<uint64_t, std::string>> out;
  auto dir = hub_cache / repo_folder_name(repo);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return out;
  for (uint64_t ino = 1; ino <= ns.inode_count(); ++ino) {
    const fs::Inode* n = ns.get(ino);
    if (n->is_dir || n->size == 0) continue;
    for (const auto& p : {dir / "blobs" / ns.key_hex(*n), dir / "snapshots" / commit / ns.path_of(*n)}) {
      if (::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) == n->size) {
        out.emplace_back(ino, p.string());
        break;
      }
    }
  }
  return out;
}

}  // namespace hffs::cli
