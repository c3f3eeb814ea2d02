#include "fs/namespace.h"

#include <algorithm>
#include <map>

namespace hffs::fs {

namespace {
std::string_view parent_of(std::string_view p) {
  auto pos = p.rfind('/');
  return pos == std::string_view::npos ? std::string_view{} : p.substr(0, pos);
}
std::string_view base_of(std::string_view p) {
  auto pos = p.rfind('/');
  return pos == std::string_view::npos ? p : p.substr(pos + 1);
}
}  // namespace

Result<Namespace> Namespace::build(const std::vector<hubapi::TreeEntry>& entries) {
  // Collect every path (files, listed dirs, and dirs implied by file paths), sorted.
  std::map<std::string, const hubapi::TreeEntry*, std::less<>> files;
  std::map<std::string, bool, std::less<>> dirs;  // path -> seen
  dirs[""] = true;
  for (const auto& e : entries) {
    if (e.path.empty()) return Status(Errc::kInvalidInput, "tree entry with an empty path");
    if (e.type == hubapi::TreeEntry::Type::kDirectory) {
      dirs[e.path] = true;
    } else {
      if (!files.emplace(e.path, &e).second)
        return Status(Errc::kInvalidInput, "duplicate tree entry: " + e.path);
    }
    for (auto p = parent_of(e.path); !p.empty(); p = parent_of(p)) dirs[std::string(p)] = true;
  }
  for (const auto& [p, e] : files)
    if (dirs.count(p)) return Status(Errc::kInvalidInput, "path is both a file and a directory: " + p);

  // Merge into one sorted list of paths; root first ("" sorts first).
  std::vector<std::pair<std::string_view, const hubapi::TreeEntry*>> all;
  all.reserve(files.size() + dirs.size());
  for (const auto& [p, _] : dirs) all.emplace_back(p, nullptr);
  for (const auto& [p, e] : files) all.emplace_back(p, e);
  std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.first < b.first; });

  Namespace ns;
  ns.inodes_.resize(all.size());
  std::map<std::string_view, uint64_t, std::less<>> ino_of;
  for (size_t i = 0; i < all.size(); ++i) ino_of[all[i].first] = i + 1;
  for (size_t i = 0; i < all.size(); ++i) {
    Inode& n = ns.inodes_[i];
    const auto& [path, e] = all[i];
    n.ino = i + 1;
    n.is_dir = (e == nullptr);
    n.name = std::string(base_of(path));
    n.parent = path.empty() ? kRootIno : ino_of.at(parent_of(path));
    if (e) {
      n.size = e->size;
      n.path = e->path;
      n.content_key = e->content_key();
      n.lfs = e->is_lfs();
      n.hash_kind = e->is_lfs() ? HashKind::kSha256 : HashKind::kGitSha1;
      ns.total_bytes_ += e->size;
      ns.file_count_++;
    }
    if (i != 0) ns.inodes_[n.parent - 1].children.push_back(n.ino);
  }
  for (auto& n : ns.inodes_) {
    std::sort(n.children.begin(), n.children.end(), [&](uint64_t a, uint64_t b) {
      return ns.inodes_[a - 1].name < ns.inodes_[b - 1].name;
    });
  }
  return ns;
}

const Inode* Namespace::get(uint64_t ino) const {
  if (ino == 0 || ino > inodes_.size()) return nullptr;
  return &inodes_[ino - 1];
}

const Inode* Namespace::lookup(uint64_t parent, std::string_view name) const {
  const Inode* dir = get(parent);
  if (!dir || !dir->is_dir) return nullptr;
  if (name == ".") return dir;
  if (name == "..") return get(dir->parent);
  auto it = std::lower_bound(dir->children.begin(), dir->children.end(), name,
                             [&](uint64_t ino, std::string_view n) { return inodes_[ino - 1].name < n; });
  if (it == dir->children.end() || inodes_[*it - 1].name != name) return nullptr;
  return &inodes_[*it - 1];
}

const Inode* Namespace::find_path(std::string_view path) const {
  const Inode* cur = get(kRootIno);
  while (cur && !path.empty()) {
    auto pos = path.find('/');
    auto seg = path.substr(0, pos);
    cur = lookup(cur->ino, seg);
    path = pos == std::string_view::npos ? std::string_view{} : path.substr(pos + 1);
  }
  return cur;
}

}  // namespace hffs::fs
