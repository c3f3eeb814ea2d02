// Kept views (hubapi/snapshot.cc): what serialize_snapshot writes, parse_snapshot reads back.
// Cases found by the fuzz target tests/fuzz/tree_fuzz.cc.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace hffs::hubapi
