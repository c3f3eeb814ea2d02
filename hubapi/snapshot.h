// A pinned view (repo info + validated tree) as JSON, kept so a repo seen before can be mounted
// offline. The tree is stored in the Hub's own entry format and re-validated on load.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "hubapi/types.h"

namespace hffs::hubapi {

struct Snapshot {
  RepoId repo;
  RepoInfo info;
  std::vector<TreeEntry> tree;
  // The tree is not in `tree` but in a binary image beside the view (a lazily listed repo: see
  // fs::Namespace::save_image); `tree` is then empty.
  bool tree_in_image = false;
};

std::string serialize_snapshot(const Snapshot& s);
Result<Snapshot> parse_snapshot(std::string_view json_text);

}  // namespace hffs::hubapi
