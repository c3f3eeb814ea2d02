// The lazily listed tree (Namespace::lazy) and the kept image (save_image / load_image).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "fs/namespace.h"

using hffs::Errc;
using hffs::Result;
using hffs::Status;
using hffs::fs::Inode;
using hffs::fs::Namespace;
using hffs::hubapi::TreeEntry;

namespace {
TreeEntry file(std::string p, uint64_t size, bool lfs = false) {
  TreeEntry e;
  e.path = std::move(p);
  e.size = size;
  e.oid = std::string(40, 'a');
  if (lfs) e.lfs_sha256 = std::string(63, 'b') + static_cast<char>('0' + size % 10);
  return e;
}
TreeEntry dir(std::string p) {
  TreeEntry e;
  e.type = TreeEntry::Type::kDirectory;
  e.path = std::move(p);
  e.oid = std::string(40, 'c');
  return e;
}

// A repo as the Hub's non-recursive tree call sees it: dir -> direct children, with counts.
struct FakeHub {
  std::map<std::string, std::vector<TreeEntry>> dirs;
  std::map<std::string, int> calls;
  std::mutex mu;
  std::atomic<int> fail_next{0};
  Namespace::Lister lister() {
    return [this](const std::string& d) -> Result<std::vector<TreeEntry>> {
      std::lock_guard lk(mu);
      calls[d]++;
      if (fail_next > 0) {
        --fail_next;
        return Status(Errc::kNetwork, "down");
      }
      auto it = dirs.find(d);
      if (it == dirs.end()) return Status(Errc::kEntryNotFound, d);
      return it->second;
    };
  }
};

void sample(FakeHub& h) {
  h.dirs[""] = {dir("data"), file("README.md", 10), file("config.json", 20)};
  h.dirs["data"] = {dir("data/train"), dir("data/test"), file("data/info.txt", 3)};
  h.dirs["data/train"] = {file("data/train/b.parquet", 200, true), file("data/train/a.parquet", 100, true)};
  h.dirs["data/test"] = {file("data/test/x.parquet", 50, true)};
}

std::string tmp_path(const char* name) {
  return (std::filesystem::temp_directory_path() / (std::string(name) + "." + std::to_string(::getpid()))).string();
}
}  // namespace

TEST(LazyNamespace, ListsADirectoryOnlyWhenVisited) {
  FakeHub h;
  sample(h);
  auto ns = Namespace::lazy(h.dirs[""], h.lister());
  ASSERT_TRUE(ns) << ns.status().to_string();
  EXPECT_EQ(ns->inode_count(), 4u);  // root + 3
  EXPECT_FALSE(ns->complete());
  EXPECT_EQ(ns->file_count(), 2u);
  const Inode* data = ns->lookup(hffs::fs::kRootIno, "data");
  ASSERT_NE(data, nullptr);
  EXPECT_FALSE(ns->listed(*data));
  EXPECT_TRUE(ns->children(*data).empty());
  EXPECT_EQ(h.calls.size(), 0u);  // the root came with lazy()

  ASSERT_TRUE(ns->ensure_listed(*data));
  EXPECT_EQ(h.calls["data"], 1);
  ASSERT_TRUE(ns->ensure_listed(*data));  // once
  EXPECT_EQ(h.calls["data"], 1);
  auto kids = ns->children(*data);
  ASSERT_EQ(kids.size(), 3u);  // by name
  EXPECT_EQ(ns->name(*ns->get(kids[0])), "info.txt");
  EXPECT_EQ(ns->name(*ns->get(kids[1])), "test");
  EXPECT_EQ(ns->name(*ns->get(kids[2])), "train");
  EXPECT_EQ(h.calls.count("data/train"), 0u);

  const Inode* a = ns->find_path("data/train/a.parquet");  // lists on the way
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->size, 100u);
  EXPECT_EQ(ns->path_of(*a), "data/train/a.parquet");
  EXPECT_TRUE(a->lfs);
  EXPECT_EQ(ns->key_hex(*a), std::string(63, 'b') + "0");
  EXPECT_EQ(h.calls["data/train"], 1);
  EXPECT_FALSE(ns->complete());
  ASSERT_NE(ns->find_path("data/test/x.parquet"), nullptr);
  EXPECT_TRUE(ns->complete());
  EXPECT_EQ(ns->file_count(), 6u);
  EXPECT_EQ(ns->total_bytes(), 383u);
}

TEST(LazyNamespace, AFailedListingIsTriedAgain) {
  FakeHub h;
  sample(h);
  auto ns = Namespace::lazy(h.dirs[""], h.lister());
  ASSERT_TRUE(ns);
  const Inode* data = ns->lookup(hffs::fs::kRootIno, "data");
  h.fail_next = 1;
  auto s = ns->ensure_listed(*data);
  EXPECT_EQ(s.code(), Errc::kNetwork);
  EXPECT_FALSE(ns->listed(*data));
  EXPECT_TRUE(ns->ensure_listed(*data));
  EXPECT_EQ(ns->children(*data).size(), 3u);
  EXPECT_EQ(h.calls["data"], 2);
}

TEST(LazyNamespace, OnlyDirectChildrenAreTakenAndDuplicatesRefused) {
  FakeHub h;
  h.dirs[""] = {dir("d")};
  h.dirs["d"] = {file("d/x", 1), file("other/y", 2), file("d/sub/z", 3)};
  auto ns = Namespace::lazy(h.dirs[""], h.lister());
  ASSERT_TRUE(ns);
  const Inode* d = ns->find_path("d");
  ASSERT_TRUE(ns->ensure_listed(*d));
  ASSERT_EQ(ns->children(*d).size(), 1u);
  EXPECT_EQ(ns->find_path("other"), nullptr);

  FakeHub dup;
  dup.dirs[""] = {file("a", 1), file("a", 2)};
  EXPECT_EQ(Namespace::lazy(dup.dirs[""], dup.lister()).status().code(), Errc::kInvalidInput);
}

TEST(LazyNamespace, ConcurrentVisitorsOfOneDirectoryShareOneListing) {
  FakeHub h;
  h.dirs[""] = {dir("big")};
  for (int i = 0; i < 5000; ++i) h.dirs["big"].push_back(file("big/f" + std::to_string(i), i));
  for (int d = 0; d < 50; ++d) {
    h.dirs[""].push_back(dir("d" + std::to_string(d)));
    h.dirs["d" + std::to_string(d)] = {file("d" + std::to_string(d) + "/x", d)};
  }
  auto ns = Namespace::lazy(h.dirs[""], h.lister());
  ASSERT_TRUE(ns);
  std::vector<std::thread> ts;
  std::atomic<int> bad{0};
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const Inode* n = ns->find_path("big/f" + std::to_string((i * 97 + t) % 5000));
        if (!n || n->size != static_cast<uint64_t>((i * 97 + t) % 5000)) bad++;
        const Inode* x = ns->find_path("d" + std::to_string((i + t) % 50) + "/x");
        if (!x || x->size != static_cast<uint64_t>((i + t) % 50)) bad++;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(h.calls["big"], 1);
  for (int d = 0; d < 50; ++d) EXPECT_EQ(h.calls["d" + std::to_string(d)], 1);
  EXPECT_TRUE(ns->complete());
  EXPECT_EQ(ns->file_count(), 5050u);
}

TEST(NamespaceImage, ABuiltTreeComesBackTheSame) {
  std::vector<TreeEntry> entries = {file("a/b/c.bin", 5, true), file("a/x.txt", 7), file("z", 9), dir("empty")};
  auto ns = Namespace::build(entries);
  ASSERT_TRUE(ns);
  const std::string p = tmp_path("hffs-image-built");
  ASSERT_TRUE(ns->save_image(p));
  auto back = Namespace::load_image(p);
  ASSERT_TRUE(back) << back.status().to_string();
  EXPECT_TRUE(back->complete());
  ASSERT_EQ(back->inode_count(), ns->inode_count());
  for (uint64_t ino = 1; ino <= ns->inode_count(); ++ino) {
    const Inode &a = *ns->get(ino), &b = *back->get(ino);
    EXPECT_EQ(ns->path_of(a), back->path_of(b));
    EXPECT_EQ(ns->key_hex(a), back->key_hex(b));
    EXPECT_EQ(a.size, b.size);
    EXPECT_EQ(a.is_dir, b.is_dir);
    EXPECT_EQ(ns->children(a).size(), back->children(b).size());
  }
  EXPECT_EQ(back->file_count(), 3u);
  EXPECT_EQ(back->total_bytes(), 21u);
  std::filesystem::remove(p);
}

TEST(NamespaceImage, APartlyListedTreeGoesOnListingAfterLoad) {
  FakeHub h;
  sample(h);
  auto ns = Namespace::lazy(h.dirs[""], h.lister());
  ASSERT_TRUE(ns);
  ASSERT_NE(ns->find_path("data/train/a.parquet"), nullptr);
  const std::string p = tmp_path("hffs-image-lazy");
  ASSERT_TRUE(ns->save_image(p));
  auto back = Namespace::load_image(p);
  ASSERT_TRUE(back) << back.status().to_string();
  EXPECT_FALSE(back->complete());
  EXPECT_EQ(back->unlisted_dirs(), 1u);  // data/test
  // Known without a lister; the unlisted directory needs one.
  EXPECT_NE(back->find_path("data/train/b.parquet"), nullptr);
  EXPECT_EQ(back->find_path("data/test/x.parquet"), nullptr);
  FakeHub h2;
  sample(h2);
  back->set_lister(h2.lister());
  const Inode* x = back->find_path("data/test/x.parquet");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(back->path_of(*x), "data/test/x.parquet");
  EXPECT_EQ(h2.calls.size(), 1u);  // only data/test
  EXPECT_TRUE(back->complete());
  std::filesystem::remove(p);
}

TEST(NamespaceImage, DamagedImagesAreRefused) {
  auto ns = Namespace::build({file("a/b", 1), file("c", 2)});
  ASSERT_TRUE(ns);
  const std::string p = tmp_path("hffs-image-bad");
  ASSERT_TRUE(ns->save_image(p));
  const auto size = std::filesystem::file_size(p);
  std::filesystem::resize_file(p, size - 3);
  EXPECT_EQ(Namespace::load_image(p).status().code(), Errc::kInvalidInput);
  ASSERT_TRUE(ns->save_image(p));
  {  // a parent pointing past the end
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8 + 7 * 8 + 32 + 12);
    uint32_t bad = 99;
    f.write(reinterpret_cast<const char*>(&bad), 4);
  }
  EXPECT_EQ(Namespace::load_image(p).status().code(), Errc::kInvalidInput);
  EXPECT_EQ(Namespace::load_image(p + ".none").status().code(), Errc::kEntryNotFound);
  std::filesystem::remove(p);
}

// A subfolder view (`hffs mount org/name/data`): the root is that folder, the Lister and
// path_of() see repo paths, the mount's own paths start below it; such a tree is never kept as
// the commit's image.
TEST(NamespaceRoot, ASubfolderRootGivesRepoPathsEverywhere) {
  FakeHub hub;
  hub.dirs["data"] = {dir("data/train"), file("data/a.txt", 3)};
  hub.dirs["data/train"] = {file("data/train/x.bin", 5)};
  auto ns = Namespace::lazy(hub.dirs["data"], hub.lister(), "data");
  ASSERT_TRUE(ns.ok()) << ns.status().to_string();
  EXPECT_EQ(ns->root_path(), "data");
  EXPECT_EQ(ns->path_of(*ns->get(hffs::fs::kRootIno)), "data");
  const Inode* x = ns->find_path("train/x.bin");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(ns->path_of(*x), "data/train/x.bin");
  EXPECT_EQ(hub.calls["data/train"], 1);
  EXPECT_EQ(hub.calls.count(""), 0u);
  EXPECT_EQ(ns->find_path("data"), nullptr);  // no "data" below the root

  auto built = Namespace::build({file("a/b.txt", 1)});
  ASSERT_TRUE(built.ok());
  built->set_root_path("x/y");
  EXPECT_EQ(built->path_of(*built->find_path("a/b.txt")), "x/y/a/b.txt");
  Namespace moved = std::move(*built);
  EXPECT_EQ(moved.path_of(*moved.find_path("a")), "x/y/a");
  auto img = std::filesystem::temp_directory_path() / ("hffs-root-image-" + std::to_string(::getpid()));
  EXPECT_FALSE(moved.save_image(img.string()).is_ok());
  EXPECT_FALSE(std::filesystem::exists(img));
}
