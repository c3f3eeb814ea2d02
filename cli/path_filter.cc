#include "cli/path_filter.h"

#include <fnmatch.h>

namespace hffs::cli {

bool glob_match(std::string pattern, const std::string& path) {
  if (!pattern.empty() && pattern.back() == '/') pattern += "*";
  return ::fnmatch(pattern.c_str(), path.c_str(), 0) == 0;
}

bool PathFilter::matches(const std::string& path) const {
  bool in = include.empty();
  for (const auto& p : include) in = in || glob_match(p, path);
  for (const auto& p : exclude) in = in && !glob_match(p, path);
  return in;
}

}  // namespace hffs::cli
