// Which repo paths a selection takes: the --include / --exclude globs of `hffs prefetch` and of a
// filtered mount, matched as huggingface_hub's filter_repo_objects (`hf download`) matches them.
#pragma once
#include <string>
#include <vector>

namespace hffs::cli {

// fnmatch on the whole repo path ("onnx/model.onnx") without FNM_PATHNAME: '*' also matches '/',
// so "*.json" matches at any depth; a pattern ending in '/' means everything below that folder.
bool glob_match(std::string pattern, const std::string& path);

struct PathFilter {
  std::vector<std::string> include;  // none: every path; else a path matching one of them
  std::vector<std::string> exclude;  // a path matching one of these is left out (after include)

  bool empty() const { return include.empty() && exclude.empty(); }
  bool matches(const std::string& path) const;
  bool operator==(const PathFilter&) const = default;
};

}  // namespace hffs::cli
