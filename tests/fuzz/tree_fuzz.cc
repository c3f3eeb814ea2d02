// Tree listing pages (hubapi/tree_parse.cc): the input is one or more pages separated by NUL bytes,
// fed to one TreeBuilder as a paginated listing would be. An accepted tree has only valid, unique,
// sorted paths, every parent a directory, sizes within the cap and well-formed LFS hashes; the
// kept-view round trip (serialize, parse) gives the same tree.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "hubapi/snapshot.h"
#include "hubapi/tree_parse.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hffs::hubapi;
  std::string_view all(reinterpret_cast<const char*>(data), size);
  TreeBuilder b;
  size_t pages = 0;
  while (pages < 64) {
    size_t nul = all.find('\0');
    std::string_view page = all.substr(0, nul);
    ++pages;
    if (!b.add_page(page)) return 0;
    if (nul == std::string_view::npos) break;
    all.remove_prefix(nul + 1);
  }
  auto tree = std::move(b).finish();
  if (!tree) return 0;

  std::set<std::string_view> dirs;
  const std::string* prev = nullptr;
  for (const auto& e : *tree) {
    FUZZ_CHECK(check_tree_path(e.path).empty());
    if (prev) FUZZ_CHECK(*prev < e.path);  // sorted and unique
    prev = &e.path;
    size_t slash = e.path.rfind('/');
    if (slash != std::string::npos) FUZZ_CHECK(dirs.count(std::string_view(e.path).substr(0, slash)) == 1);
    if (e.type == TreeEntry::Type::kDirectory) {
      dirs.insert(e.path);
    } else {
      FUZZ_CHECK(e.size <= kMaxFileSize);
      if (e.lfs_sha256) {
        FUZZ_CHECK(e.lfs_sha256->size() == 64);
        for (char c : *e.lfs_sha256) FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
      }
    }
  }

  Snapshot s;
  s.repo = RepoId{RepoType::kModel, "org/name"};
  s.info.id = "org/name";
  s.info.sha = std::string(40, 'a');
  s.tree = *tree;
  auto back = parse_snapshot(serialize_snapshot(s));
  FUZZ_CHECK(back);
  FUZZ_CHECK(back->tree.size() == tree->size());
  for (size_t i = 0; i < tree->size(); ++i) {
    const auto& x = (*tree)[i];
    const auto& y = back->tree[i];
    FUZZ_CHECK(x.path == y.path && x.type == y.type && x.size == y.size && x.lfs_sha256 == y.lfs_sha256);
    if (x.type == TreeEntry::Type::kFile) FUZZ_CHECK(x.oid == y.oid);
  }
  return 0;
}
