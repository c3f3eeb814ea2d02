// Kept views (hubapi/snapshot.cc): what serialize_snapshot writes, parse_snapshot reads back.
// Cases found by the fuzz target tests/fuzz/tree_fuzz.cc.
#include <gtest/gtest.h>

#include <cstdio>

#include "hubapi/snapshot.h"
#include "hubapi/tree_parse.h"

namespace hffs::hubapi {
namespace {

Snapshot snapshot_of(std::vector<TreeEntry> tree) {
  Snapshot s;
  s.repo = RepoId{RepoType::kModel, "org/name"};
  s.info.id = "org/name";
  s.info.sha = std::string(40, 'a');
  s.tree = std::move(tree);
  return s;
}

// fuzz: tree-crash-588da0ec. A listing that names "a/b" but not the directory "a" (the Hub may
// leave directories implied) gave a view whose implied "a" was written with an empty oid, so the
// offline mount refused the view: "invalid tree entry 'a': 'oid' is not 40 hex digits".
TEST(Snapshot, ImpliedDirectoriesSurviveTheRoundTrip) {
  auto tree = parse_tree_json(
      R"([{"type":"file","oid":"1111111111111111111111111111111111111111","size":1,"path":"a/b"}])");
  ASSERT_TRUE(tree) << tree.status().to_string();
  ASSERT_EQ(tree->size(), 2u);
  EXPECT_EQ((*tree)[0].path, "a");
  EXPECT_TRUE((*tree)[0].oid.empty());

  auto back = parse_snapshot(serialize_snapshot(snapshot_of(*tree)));
  ASSERT_TRUE(back) << back.status().to_string();
  ASSERT_EQ(back->tree.size(), 2u);
  EXPECT_EQ(back->tree[0].path, "a");
  EXPECT_EQ(back->tree[0].type, TreeEntry::Type::kDirectory);
  EXPECT_EQ(back->tree[1].path, "a/b");
  EXPECT_EQ(back->tree[1].oid, "1111111111111111111111111111111111111111");
  EXPECT_EQ(back->tree[1].size, 1u);
}

TEST(Snapshot, ListedDirectoriesKeepTheirOid) {
  auto tree = parse_tree_json(
      R"([{"type":"directory","oid":"2222222222222222222222222222222222222222","size":0,"path":"d"},)"
      R"({"type":"file","oid":"1111111111111111111111111111111111111111","size":7,"path":"d/f"}])");
  ASSERT_TRUE(tree) << tree.status().to_string();
  auto back = parse_snapshot(serialize_snapshot(snapshot_of(*tree)));
  ASSERT_TRUE(back) << back.status().to_string();
  ASSERT_EQ(back->tree.size(), 2u);
  EXPECT_EQ(back->tree[0].oid, "2222222222222222222222222222222222222222");
}

// Views are written entry by entry and read a page at a time (no DOM of the whole tree): a tree
// of several pages comes back whole, in order, LFS keys included.
TEST(Snapshot, ATreeOfSeveralPagesSurvivesTheRoundTrip) {
  std::vector<TreeEntry> tree;
  for (int i = 0; i < 2500; ++i) {
    TreeEntry e;
    char p[32];
    std::snprintf(p, sizeof p, "d/f%05d", i);
    e.path = p;
    e.size = static_cast<uint64_t>(i);
    e.oid = std::string(39, 'a') + "0123456789"[i % 10];
    if (i % 3 == 0) e.lfs_sha256 = std::string(63, 'b') + "0123456789"[i % 10];
    tree.push_back(std::move(e));
  }
  auto back = parse_snapshot(serialize_snapshot(snapshot_of(tree)));
  ASSERT_TRUE(back) << back.status().to_string();
  ASSERT_EQ(back->tree.size(), 2501u);  // and the implied "d"
  EXPECT_EQ(back->tree[0].path, "d");
  for (int i = 0; i < 2500; ++i) {
    const TreeEntry& e = back->tree[static_cast<size_t>(i) + 1];
    ASSERT_EQ(e.path, tree[static_cast<size_t>(i)].path);
    ASSERT_EQ(e.size, tree[static_cast<size_t>(i)].size);
    ASSERT_EQ(e.oid, tree[static_cast<size_t>(i)].oid);
    ASSERT_EQ(e.lfs_sha256, tree[static_cast<size_t>(i)].lfs_sha256);
  }
  EXPECT_EQ(back->info.sha, std::string(40, 'a'));
  EXPECT_EQ(back->repo.id, "org/name");
}

TEST(Snapshot, EmptyTreeAndViewsOfEarlierVersionsParse) {
  auto empty = parse_snapshot(serialize_snapshot(snapshot_of({})));
  ASSERT_TRUE(empty) << empty.status().to_string();
  EXPECT_TRUE(empty->tree.empty());
  // As hffs wrote views before (one pretty-printed document), members in any order.
  auto old = parse_snapshot(R"({
 "tree": [
  {
   "oid": "1111111111111111111111111111111111111111",
   "path": "f",
   "size": 3,
   "type": "file"
  }
 ],
 "format_version": 1, "gated": "", "id": "org/name", "lastModified": "", "lastModifiedEpoch": 0,
 "private": false, "repo": "org/name", "repo_type": "model", "sha": "1111111111111111111111111111111111111111"
})");
  ASSERT_TRUE(old) << old.status().to_string();
  ASSERT_EQ(old->tree.size(), 1u);
  EXPECT_EQ(old->tree[0].path, "f");
}

TEST(Snapshot, ABadEntryOrDocumentIsRefused) {
  std::string head = R"({"format_version":1,"gated":"","id":"o/n","lastModified":"","lastModifiedEpoch":0,)"
                     R"("private":false,"repo":"o/n","repo_type":"model","sha":"1111111111111111111111111111111111111111",)";
  EXPECT_FALSE(parse_snapshot(head + R"("tree":[3]})"));
  EXPECT_FALSE(parse_snapshot(head + R"("tree":[{"type":"file","path":"f","size":1,"oid":"xyz"}]})"));
  EXPECT_FALSE(parse_snapshot(head + R"("tree":[{"type":"file","path":"f","size":1,"oid":")"));
  EXPECT_FALSE(parse_snapshot(head + R"("tree":{}})"));
  EXPECT_TRUE(parse_snapshot(head + R"("tree":[]})"));
}

}  // namespace
}  // namespace hffs::hubapi
