#include "fs/namespace.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

using hffs::Errc;
using hffs::fs::Inode;
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
TreeEntry keyed(std::string p, std::string oid, std::optional<std::string> sha256 = std::nullopt) {
  TreeEntry e = file(std::move(p), 7);
  e.oid = std::move(oid);
  e.lfs_sha256 = std::move(sha256);
  return e;
}
TreeEntry dir(std::string p) {
  TreeEntry e;
  e.type = TreeEntry::Type::kDirectory;
  e.path = std::move(p);
  e.oid = std::string(40, 'c');
  return e;
}
std::string hex_of(std::mt19937_64& rng, size_t digits) {
  std::string s(digits, '0');
  for (auto& c : s) c = "0123456789abcdef"[rng() & 15];
  return s;
}
std::vector<std::string> child_names(const Namespace& ns, const Inode& d) {
  std::vector<std::string> out;
  for (auto c : ns.children(d)) out.emplace_back(ns.name(*ns.get(c)));
  return out;
}
}  // namespace

TEST(Namespace, BuildsImpliedDirectoriesAndSortedChildren) {
  auto ns = Namespace::build({file("b.txt", 3), file("a/x/y.bin", 10, true), dir("empty"), file("a/z", 1)});
  ASSERT_TRUE(ns.ok()) << ns.status().to_string();
  EXPECT_EQ(ns->file_count(), 3u);
  EXPECT_EQ(ns->total_bytes(), 14u);
  const auto* root = ns->get(hffs::fs::kRootIno);
  ASSERT_TRUE(root && root->is_dir);
  EXPECT_EQ(child_names(*ns, *root), (std::vector<std::string>{"a", "b.txt", "empty"}));
  const auto* y = ns->find_path("a/x/y.bin");
  ASSERT_NE(y, nullptr);
  EXPECT_FALSE(y->is_dir);
  EXPECT_EQ(y->size, 10u);
  EXPECT_EQ(ns->key_hex(*y), std::string(64, 'b'));
  EXPECT_EQ(y->hash_kind(), hffs::HashKind::kSha256);
  EXPECT_EQ(ns->find_path("b.txt")->hash_kind(), hffs::HashKind::kGitSha1);
  EXPECT_EQ(ns->name(*ns->lookup(ns->find_path("a/x")->ino, "..")), "a");
  EXPECT_EQ(ns->lookup(hffs::fs::kRootIno, "nope"), nullptr);
  EXPECT_TRUE(ns->find_path("empty")->is_dir);
  EXPECT_TRUE(ns->children(*ns->find_path("empty")).empty());
  EXPECT_TRUE(ns->children(*y).empty());
}

TEST(Namespace, InodeNumbersAreStableAcrossInputOrder) {
  auto a = Namespace::build({file("x/1", 1), file("y", 2), file("x/2", 3)});
  auto b = Namespace::build({file("x/2", 3), file("y", 2), file("x/1", 1)});
  ASSERT_TRUE(a.ok() && b.ok());
  for (const char* p : {"x/1", "x/2", "y", "x"}) EXPECT_EQ(a->find_path(p)->ino, b->find_path(p)->ino) << p;
}

TEST(Namespace, InodeNumbersFollowSortedPathOrder) {
  // '-' < '/' < '0' and 'B' < 'b': "b-x" sorts before "b/c", which sorts before "b0".
  auto ns = Namespace::build({file("b0", 1), file("b/c", 1), file("b-x", 1), file("B", 1), file("b/a b", 1)});
  ASSERT_TRUE(ns.ok());
  std::vector<std::string> by_ino;
  for (uint64_t ino = 1; ino <= ns->inode_count(); ++ino) by_ino.push_back(ns->path_of(*ns->get(ino)));
  EXPECT_EQ(by_ino, (std::vector<std::string>{"", "B", "b", "b-x", "b/a b", "b/c", "b0"}));
  EXPECT_EQ(child_names(*ns, *ns->get(1)), (std::vector<std::string>{"B", "b", "b-x", "b0"}));
}

TEST(Namespace, RejectsDuplicatesAndFileDirConflicts) {
  EXPECT_EQ(Namespace::build({file("a", 1), file("a", 1)}).status().code(), Errc::kInvalidInput);
  EXPECT_EQ(Namespace::build({file("a", 1), file("a/b", 1)}).status().code(), Errc::kInvalidInput);
  EXPECT_EQ(Namespace::build({file("a", 1), dir("a")}).status().code(), Errc::kInvalidInput);
  EXPECT_EQ(Namespace::build({file("", 1)}).status().code(), Errc::kInvalidInput);
  EXPECT_EQ(Namespace::build({file("d/" + std::string(70000, 'n'), 1)}).status().code(), Errc::kInvalidInput);
  // A directory listed and implied, or listed twice, is one directory.
  auto ns = Namespace::build({dir("d"), file("d/f", 1), dir("d"), dir("d/e")});
  ASSERT_TRUE(ns.ok()) << ns.status().to_string();
  EXPECT_EQ(ns->inode_count(), 4u);
}

TEST(Namespace, EmptyRepoHasRoot) {
  auto ns = Namespace::build({});
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(ns->inode_count(), 1u);
  EXPECT_TRUE(ns->get(1)->is_dir);
  EXPECT_EQ(ns->path_of(*ns->get(1)), "");
  EXPECT_EQ(ns->find_path(""), ns->get(1));
}

TEST(Namespace, LookupAndFindPath) {
  auto ns = Namespace::build({file("a/b/c.bin", 5), file("a/b/d", 6), file("a/e", 7), file("f", 8)});
  ASSERT_TRUE(ns.ok());
  const Inode* b = ns->find_path("a/b");
  ASSERT_TRUE(b && b->is_dir);
  EXPECT_EQ(ns->lookup(b->ino, "c.bin"), ns->find_path("a/b/c.bin"));
  EXPECT_EQ(ns->lookup(b->ino, "d")->size, 6u);
  EXPECT_EQ(ns->lookup(b->ino, "."), b);
  EXPECT_EQ(ns->lookup(b->ino, ".."), ns->find_path("a"));
  EXPECT_EQ(ns->lookup(1, ".."), ns->get(1));  // the root is its own parent
  EXPECT_EQ(ns->lookup(b->ino, "c"), nullptr);
  EXPECT_EQ(ns->lookup(b->ino, "c.bin2"), nullptr);
  EXPECT_EQ(ns->lookup(ns->find_path("f")->ino, "x"), nullptr);  // not a directory
  EXPECT_EQ(ns->lookup(999, "x"), nullptr);
  EXPECT_EQ(ns->get(0), nullptr);
  EXPECT_EQ(ns->get(ns->inode_count() + 1), nullptr);
  EXPECT_EQ(ns->find_path("a/b/c.bin/x"), nullptr);
  EXPECT_EQ(ns->find_path("a/x"), nullptr);
  EXPECT_EQ(ns->find_path("a/b/"), b);  // a trailing slash names the directory
  for (const char* p : {"a", "a/b", "a/b/c.bin", "a/b/d", "a/e", "f"}) EXPECT_EQ(ns->path_of(*ns->find_path(p)), p);
  EXPECT_EQ(ns->name(*ns->find_path("a/b/c.bin")), "c.bin");
}

TEST(Namespace, KeysAreBinaryAndComeBackAsHex) {
  std::mt19937_64 rng(7);
  const std::string sha1 = hex_of(rng, 40), oid = hex_of(rng, 40), sha256 = hex_of(rng, 64);
  auto ns = Namespace::build({keyed("git.txt", sha1), keyed("lfs.bin", oid, sha256)});
  ASSERT_TRUE(ns.ok());
  const Inode* g = ns->find_path("git.txt");
  const Inode* l = ns->find_path("lfs.bin");
  EXPECT_EQ(ns->key_hex(*g), sha1);
  EXPECT_EQ(ns->key_hex(*l), sha256);
  EXPECT_FALSE(g->lfs);
  EXPECT_TRUE(l->lfs);
  EXPECT_TRUE(ns->key_is(*g, sha1));
  EXPECT_TRUE(ns->key_is(*l, sha256));
  EXPECT_FALSE(ns->key_is(*l, oid));
  EXPECT_FALSE(ns->key_is(*g, sha256));
  std::string off_by_one = sha256;
  off_by_one.back() = off_by_one.back() == '0' ? '1' : '0';
  EXPECT_FALSE(ns->key_is(*l, off_by_one));
  EXPECT_FALSE(ns->key_is(*l, sha256.substr(0, 63)));
  EXPECT_FALSE(ns->key_is(*ns->get(1), ""));
  EXPECT_EQ(ns->key_hex(*ns->get(1)), "");
  auto ref = ns->file_ref(*l);
  EXPECT_EQ(ref.key, sha256);
  EXPECT_EQ(ref.kind, hffs::HashKind::kSha256);
  EXPECT_EQ(ref.size, 7u);
  auto gref = ns->file_ref(*g);
  EXPECT_EQ(gref.key, sha1);
  EXPECT_EQ(gref.kind, hffs::HashKind::kGitSha1);
  // Binary: two 20-byte sha1s and one 32-byte sha256 (nothing kept of the LFS file's git oid).
  EXPECT_LE(ns->memory_bytes(), 3 * sizeof(Inode) + 2 * 4 + 20 + 32 + std::string("git.txtlfs.bin").size() + 16 + 4 * 4 * sizeof(void*));  // + each arena's chunk table
}

TEST(Namespace, KeysThatAreNotHexAreKeptAsGiven) {
  auto ns = Namespace::build({keyed("upper", std::string(40, 'A')), keyed("short", "abc"),
                              keyed("odd", std::string(40, 'z'), std::string(64, 'q'))});
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(ns->key_hex(*ns->find_path("upper")), std::string(40, 'A'));
  EXPECT_EQ(ns->key_hex(*ns->find_path("short")), "abc");
  EXPECT_EQ(ns->key_hex(*ns->find_path("odd")), std::string(64, 'q'));
  EXPECT_TRUE(ns->key_is(*ns->find_path("short"), "abc"));
  EXPECT_FALSE(ns->key_is(*ns->find_path("short"), "abd"));
}

TEST(Namespace, HundredThousandEntriesInDatasetShape) {
  // data/train/shard-NNNNNN/NNNNNN.jpg, a directory every 1000 files, 45% LFS; in shuffled order.
  constexpr size_t kFiles = 100000;
  std::mt19937_64 rng(42);
  std::vector<TreeEntry> entries;
  std::vector<std::string> keys(kFiles);
  for (size_t i = 0; i < kFiles; ++i) {
    char p[64];
    std::snprintf(p, sizeof p, "data/train/shard-%06zu/%06zu.jpg", i / 1000, i % 1000);
    const bool lfs = rng() % 100 < 45;
    std::string oid = hex_of(rng, 40);
    keys[i] = lfs ? hex_of(rng, 64) : oid;
    entries.push_back(keyed(p, oid, lfs ? std::optional(keys[i]) : std::nullopt));
    entries.back().size = i;
  }
  entries.push_back(dir("data/train"));
  std::shuffle(entries.begin(), entries.end(), rng);
  auto ns = Namespace::build(entries);
  ASSERT_TRUE(ns.ok()) << ns.status().to_string();
  EXPECT_EQ(ns->file_count(), kFiles);
  EXPECT_EQ(ns->inode_count(), 1 + 2 + kFiles / 1000 + kFiles);
  EXPECT_EQ(ns->total_bytes(), kFiles * (kFiles - 1) / 2);
  EXPECT_EQ(ns->children(*ns->find_path("data/train")).size(), kFiles / 1000);
  for (size_t i = 0; i < kFiles; i += 1) {
    char p[64];
    std::snprintf(p, sizeof p, "data/train/shard-%06zu/%06zu.jpg", i / 1000, i % 1000);
    const Inode* n = ns->find_path(p);
    ASSERT_NE(n, nullptr) << p;
    ASSERT_EQ(n->size, i);
    ASSERT_EQ(ns->path_of(*n), p);
    ASSERT_EQ(ns->key_hex(*n), keys[i]) << p;
  }
  // Inode numbers in path order; each directory's children sorted, with this one as parent.
  for (uint64_t ino = 2; ino <= ns->inode_count(); ++ino)
    ASSERT_LT(ns->path_of(*ns->get(ino - 1)), ns->path_of(*ns->get(ino)));
  const Inode* shard = ns->find_path("data/train/shard-000042");
  auto names = child_names(*ns, *shard);
  ASSERT_EQ(names.size(), 1000u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (auto c : ns->children(*shard)) ASSERT_EQ(ns->get(c)->parent, shard->ino);
  // The point of the layout: a 32-byte inode, a 4-byte child slot, the name and the binary key.
  EXPECT_LE(static_cast<double>(ns->memory_bytes()) / static_cast<double>(ns->inode_count()), 75.0);
}
