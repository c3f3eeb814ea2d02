// A partial view of a repo: one subfolder as the mount's root (`hffs mount org/name/sub`,
// --subfolder) and/or only the files the --include / --exclude globs select, with the directories
// that lead to them. The kept views (cli/snapshot_store.h) always hold the whole commit: a partial
// view is cut from a whole listing, or listed from the Hub for itself and then not kept.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/path_filter.h"
#include "common/status.h"
#include "hubapi/types.h"

namespace hffs::cli {

struct PartialView {
  std::string subfolder;  // repo path of the view's root, no leading/trailing '/'; "" = the repo root
  PathFilter filter;      // globs on the repo path (not the path below the subfolder)

  bool whole() const { return subfolder.empty() && filter.empty(); }
  // "subfolder=onnx include=*.json exclude=x" (the parts that are set), for logs.
  std::string describe() const;
};

// "org/name", "org/name/sub/dir", "datasets/org/name/sub": a Hub repo id is exactly two segments
// (after the models/ datasets/ spaces/ prefix), whatever follows is a subfolder. Usage errors
// come with a message ready to print.
struct RepoArg {
  hubapi::RepoId repo;
  std::string subfolder;
};
Result<RepoArg> parse_repo_view_arg(const std::string& arg, const std::optional<std::string>& repo_type);

// A subfolder as given ("onnx/", "/a/b") made a clean repo path ("onnx", "a/b"); "", ".", ".."
// and empty segments are refused.
Result<std::string> clean_subfolder(std::string_view sub);

// The entries of `entries` (repo paths: a whole listing, or one of the subfolder) the view shows,
// relative to its subfolder; directories only as the paths of the files kept imply them when a
// filter is set. kEntryNotFound when the subfolder is not a folder of the listing, or when no
// file is left; `what` names the repo in that message ("model 'org/name' at commit abc").
Result<std::vector<hubapi::TreeEntry>> cut_view(const std::vector<hubapi::TreeEntry>& entries, const PartialView& v,
                                                const std::string& what);

}  // namespace hffs::cli
