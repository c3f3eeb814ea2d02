#include "cli/partial_view.h"

#include "cli/hub_setup.h"

namespace hffs::cli {

std::string PartialView::describe() const {
  std::string out;
  auto add = [&out](const std::string& k, const std::string& v) { out += (out.empty() ? "" : " ") + k + "=" + v; };
  if (!subfolder.empty()) add("subfolder", subfolder);
  for (const auto& p : filter.include) add("include", p);
  for (const auto& p : filter.exclude) add("exclude", p);
  return out;
}

Result<std::string> clean_subfolder(std::string_view sub) {
  while (!sub.empty() && sub.front() == '/') sub.remove_prefix(1);
  while (!sub.empty() && sub.back() == '/') sub.remove_suffix(1);
  if (sub.empty()) return Status(Errc::kInvalidInput, "the subfolder is empty");
  for (size_t start = 0; start <= sub.size();) {
    size_t end = sub.find('/', start);
    if (end == std::string_view::npos) end = sub.size();
    std::string_view seg = sub.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..")
      return Status(Errc::kInvalidInput, "subfolder '" + std::string(sub) + "' has an empty, '.' or '..' part");
    if (seg.find('\0') != std::string_view::npos)
      return Status(Errc::kInvalidInput, "the subfolder has a NUL byte");
    start = end + 1;
  }
  return std::string(sub);
}

Result<RepoArg> parse_repo_view_arg(const std::string& arg, const std::optional<std::string>& repo_type) {
  // The repo id ends after the second segment that follows a type prefix (if any).
  size_t skip = 0;
  for (std::string_view p : {"models/", "datasets/", "spaces/"}) {
    // As hubapi::parse_repo_arg: a prefix counts only when "org/name" follows it.
    if (arg.compare(0, p.size(), p) == 0 && arg.find('/', p.size()) != std::string::npos) skip = p.size();
  }
  size_t first = arg.find('/', skip);
  size_t second = first == std::string::npos ? std::string::npos : arg.find('/', first + 1);
  RepoArg out;
  auto repo = parse_repo_cli(arg.substr(0, second), repo_type);
  if (!repo) return repo.status();
  out.repo = std::move(*repo);
  if (second != std::string::npos && second + 1 < arg.size()) {
    auto sub = clean_subfolder(std::string_view(arg).substr(second + 1));
    if (!sub) return Status(Errc::kInvalidInput, "invalid repository path '" + arg + "': " + sub.status().message());
    out.subfolder = std::move(*sub);
  }
  return out;
}

Result<std::vector<hubapi::TreeEntry>> cut_view(const std::vector<hubapi::TreeEntry>& entries, const PartialView& v,
                                                const std::string& what) {
  const std::string& sub = v.subfolder;
  const std::string prefix = sub.empty() ? std::string() : sub + "/";
  std::vector<hubapi::TreeEntry> out;
  bool sub_seen = sub.empty();
  for (const auto& e : entries) {
    if (!sub.empty() && e.path == sub) {
      if (e.type != hubapi::TreeEntry::Type::kDirectory)
        return Status(Errc::kEntryNotFound, "'" + sub + "' is a file in " + what + ", not a folder to mount");
      sub_seen = true;
      continue;
    }
    if (e.path.compare(0, prefix.size(), prefix) != 0) continue;
    sub_seen = true;
    // With a filter, a directory shows only when a file kept lies below it: implied by its path.
    if (e.type == hubapi::TreeEntry::Type::kDirectory ? !v.filter.empty() : !v.filter.matches(e.path)) continue;
    out.push_back(e);
    out.back().path.erase(0, prefix.size());
  }
  if (!sub_seen) return Status(Errc::kEntryNotFound, "subfolder '" + sub + "' not found in " + what);
  if (!v.filter.empty() && out.empty())
    return Status(Errc::kEntryNotFound, "no file " + (sub.empty() ? std::string() : "under '" + sub + "' ") + "of " +
                                            what + " matches " + v.describe());
  return out;
}

}  // namespace hffs::cli
