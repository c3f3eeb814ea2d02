#include "fs/namespace.h"

#include <gtest/gtest.h>

using hffs::Errc;
using hffs::fs::Namespace;
using hffs::hubapi::TreeEntry;

namespace {
TreeEntry file(std::string p, uint64_t size, bool lfs = false) {
  TreeEntry e;
  e.type = TreeEntry::Type::kFile;
  e.path = std::move(p);
  e.size = size;
  e.oid = std::string(40, 'a');
  if (lfs) e.lfs_sha256 = std::string(64, 'b');
  return e;
}
TreeEntry dir(std::string p) {
  TreeEntry e;
  e.type = TreeEntry::Type::kDirectory;
  e.path = std::move(p);
  e.oid = std::string(40, 'c');
  return e;
}
}  // namespace

TEST(Namespace, BuildsImpliedDirectoriesAndSortedChildren) {
  auto ns = Namespace::build({file("b.txt", 3), file("a/x/y.bin", 10, true), dir("empty"), file("a/z", 1)});
  ASSERT_TRUE(ns.ok()) << ns.status().to_string();
  EXPECT_EQ(ns->file_count(), 3u);
  EXPECT_EQ(ns->total_bytes(), 14u);
  const auto* root = ns->get(hffs::fs::kRootIno);
  ASSERT_TRUE(root && root->is_dir);
  std::vector<std::string> names;
  for (auto c : root->children) names.push_back(ns->get(c)->name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b.txt", "empty"}));
  const auto* y = ns->find_path("a/x/y.bin");
  ASSERT_NE(y, nullptr);
  EXPECT_FALSE(y->is_dir);
  EXPECT_EQ(y->size, 10u);
  EXPECT_EQ(y->content_key, std::string(64, 'b'));
  EXPECT_EQ(y->hash_kind, hffs::HashKind::kSha256);
  EXPECT_EQ(ns->find_path("b.txt")->hash_kind, hffs::HashKind::kGitSha1);
  EXPECT_EQ(ns->lookup(ns->find_path("a/x")->ino, "..")->name, "a");
  EXPECT_EQ(ns->lookup(hffs::fs::kRootIno, "nope"), nullptr);
  EXPECT_TRUE(ns->find_path("empty")->is_dir);
}

TEST(Namespace, InodeNumbersAreStableAcrossInputOrder) {
  auto a = Namespace::build({file("x/1", 1), file("y", 2), file("x/2", 3)});
  auto b = Namespace::build({file("x/2", 3), file("y", 2), file("x/1", 1)});
  ASSERT_TRUE(a.ok() && b.ok());
  for (const char* p : {"x/1", "x/2", "y", "x"}) EXPECT_EQ(a->find_path(p)->ino, b->find_path(p)->ino) << p;
}

TEST(Namespace, RejectsDuplicatesAndFileDirConflicts) {
  EXPECT_EQ(Namespace::build({file("a", 1), file("a", 1)}).status().code(), Errc::kInvalidInput);
  EXPECT_EQ(Namespace::build({file("a", 1), file("a/b", 1)}).status().code(), Errc::kInvalidInput);
  EXPECT_EQ(Namespace::build({file("a", 1), dir("a")}).status().code(), Errc::kInvalidInput);
}

TEST(Namespace, EmptyRepoHasRoot) {
  auto ns = Namespace::build({});
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(ns->inode_count(), 1u);
  EXPECT_TRUE(ns->get(1)->is_dir);
}
