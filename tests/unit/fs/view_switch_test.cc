// Following a branch: the tree diff of a switch (fs/view.h) and Filesystem::switch_to. Unchanged
// files keep their inode number and mtime, changed and new ones get numbers never used before,
// removed ones disappear, a file open before the switch reads its own commit's bytes until released,
// and the kernel is told to forget exactly what changed.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <thread>

#include "fs/errno_map.h"
#include "fs/filesystem.h"
#include "fs/view.h"
#include "unit/fs/ops_fakes.h"
#include "unit/support/repo_fakes.h"
#include "unit/support/tree_entries.h"

using namespace hffs;
using hffs::hubapi::TreeEntry;
namespace ht = hffs::testing;

namespace {

TreeEntry file(std::string p, uint64_t size, char key) { return ht::tree_file(std::move(p), size, key); }
TreeEntry dir(std::string p) {
  TreeEntry e;
  e.type = TreeEntry::Type::kDirectory;
  e.path = std::move(p);
  e.oid = std::string(40, '0');
  return e;
}

const std::string kOld(40, 'a'), kNew(40, 'b'), kThird(40, 'c');

class SwitchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hffs-switch-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    auto c = cache::BlockCache::open({dir_, 1u << 16});
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    cache_ = std::move(*c);
    auto ns = fs::Namespace::build({file("a.txt", 100, '1'), file("b.bin", 70000, '2'), file("d/c.txt", 10, '3'),
                                    file("gone.txt", 5, '4'), file("d/sub/x", 7, '5'), file("same/y", 3, '6')});
    ASSERT_TRUE(ns.ok());
    fs::FsConfig cfg;
    cfg.mtime = 1000;
    cfg.commit = kOld;
    fs_ = std::make_unique<fs::Filesystem>(std::move(*ns), *cache_, repo_, cfg);
  }
  void TearDown() override {
    fs_.reset();
    std::filesystem::remove_all(dir_);
  }

  fs::ViewSpec spec(std::vector<TreeEntry> entries, const std::string& commit, int64_t mtime) {
    auto ns = fs::Namespace::build(entries);
    EXPECT_TRUE(ns.ok());
    fs::ViewSpec s;
    s.ns = std::move(*ns);
    s.commit = commit;
    s.mtime = mtime;
    s.source = std::make_unique<ht::GenRepo>();
    return s;
  }
  // The kernel's view: a path looked up from the root, as the kernel would.
  Result<fs::Attr> walk(const std::string& path) {
    uint64_t cur = fs::kRootIno;
    Result<fs::Attr> a = fs_->getattr(cur);
    size_t at = 0;
    while (at < path.size()) {
      size_t slash = path.find('/', at);
      std::string seg = path.substr(at, slash == std::string::npos ? std::string::npos : slash - at);
      a = fs_->lookup(cur, seg);
      if (!a) return a;
      cur = a->ino;
      at = slash == std::string::npos ? path.size() : slash + 1;
    }
    return a;
  }
  uint64_t ino(const std::string& p) {
    auto a = walk(p);
    EXPECT_TRUE(a.ok()) << p;
    return a ? a->ino : 0;
  }
  // Reads the whole file through inode `i` (handle fh) and checks it is seed `seed`'s bytes.
  void expect_content(uint64_t i, uint64_t fh, uint64_t size, char seed) {
    hffs::test::FakeTarget to(false);
    auto r = fs_->read(i, fh, 0, size, to);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    ASSERT_EQ(r->bytes, size);
    ASSERT_FALSE(r->spliced);
    const auto& got = to.buf;
    for (size_t k = 0; k < size; ++k)
      ASSERT_EQ(got[k], ht::gen_byte(k, static_cast<unsigned char>(seed))) << "at " << k;
  }

  std::filesystem::path dir_;
  std::unique_ptr<cache::BlockCache> cache_;
  ht::GenRepo repo_;
  std::unique_ptr<fs::Filesystem> fs_;
};

bool has_entry(const fs::Invalidations& inv, uint64_t parent, const std::string& name) {
  return std::find(inv.entries.begin(), inv.entries.end(), std::make_pair(parent, name)) != inv.entries.end();
}
bool has_inode(const fs::Invalidations& inv, uint64_t ino) {
  return std::find(inv.inodes.begin(), inv.inodes.end(), ino) != inv.inodes.end();
}

}  // namespace

TEST_F(SwitchTest, UnchangedKeepTheirNumbersTheRestIsNewOrGone) {
  const uint64_t a = ino("a.txt"), b = ino("b.bin"), d = ino("d"), c = ino("d/c.txt"), same = ino("same"),
                 y = ino("same/y"), sub = ino("d/sub");
  const uint64_t old_max = fs_->summary().inodes;
  auto rep = fs_->switch_to(spec({file("a.txt", 100, '1'), file("b.bin", 70000, '7'), file("d/c.txt", 10, '3'),
                                  file("d/new.txt", 4, '8'), file("same/y", 3, '6')},
                                 kNew, 2000));
  EXPECT_EQ(rep.old_commit, kOld);
  EXPECT_EQ(rep.new_commit, kNew);
  EXPECT_EQ(rep.unchanged, 3u);  // a.txt, d/c.txt, same/y
  EXPECT_EQ(rep.changed, 1u);    // b.bin
  EXPECT_EQ(rep.added, 1u);      // d/new.txt
  EXPECT_EQ(rep.removed, 2u);    // gone.txt, d/sub/x
  EXPECT_EQ(fs_->commit(), kNew);
  EXPECT_EQ(*fs_->getxattr(fs::kRootIno, "user.hffs.commit"), kNew);

  EXPECT_EQ(ino("a.txt"), a);
  EXPECT_EQ(ino("d"), d);
  EXPECT_EQ(ino("d/c.txt"), c);
  EXPECT_EQ(ino("same"), same);
  EXPECT_EQ(ino("same/y"), y);
  EXPECT_GT(ino("b.bin"), old_max);  // a number the kernel never saw
  EXPECT_GT(ino("d/new.txt"), old_max);
  EXPECT_EQ(fs::to_errno(walk("gone.txt").status().code()), ENOENT);
  EXPECT_EQ(fs::to_errno(walk("d/sub").status().code()), ENOENT);
  EXPECT_FALSE(fs_->getattr(b).ok());    // nobody holds the old b.bin open: it is gone
  EXPECT_FALSE(fs_->getattr(sub).ok());

  // Unchanged entries keep the mtime the kernel knows them by (its page cache stays); new ones
  // carry the new commit's date, as does the root.
  EXPECT_EQ(fs_->getattr(a)->mtime, 1000);
  EXPECT_EQ(walk("b.bin")->mtime, 2000);
  EXPECT_EQ(fs_->getattr(fs::kRootIno)->mtime, 2000);

  // The kernel forgets what changed in the directories it knew, nothing else.
  const auto& inv = rep.inval;
  EXPECT_TRUE(has_entry(inv, fs::kRootIno, "b.bin"));
  EXPECT_TRUE(has_entry(inv, fs::kRootIno, "gone.txt"));
  EXPECT_TRUE(has_entry(inv, d, "new.txt"));  // it may be cached as a negative entry
  EXPECT_TRUE(has_entry(inv, d, "sub"));
  EXPECT_FALSE(has_entry(inv, fs::kRootIno, "a.txt"));
  EXPECT_FALSE(has_entry(inv, fs::kRootIno, "d"));
  EXPECT_FALSE(has_entry(inv, d, "c.txt"));
  EXPECT_EQ(inv.entries.size(), 4u);
  EXPECT_TRUE(has_inode(inv, fs::kRootIno));
  EXPECT_TRUE(has_inode(inv, d));
  EXPECT_FALSE(has_inode(inv, same));  // nothing changed in it
  EXPECT_FALSE(has_inode(inv, a));     // never a file's: its page cache stays
  EXPECT_EQ(inv.inodes.size(), 2u);
}

TEST_F(SwitchTest, AnOpenFileKeepsItsCommitsBytesUntilReleased) {
  hffs::test::FakeKernel k;
  const uint64_t b = ino("b.bin");
  auto h = fs_->open(b, O_RDONLY, k);
  ASSERT_TRUE(h.ok());
  expect_content(b, h->fh, 70000, '2');
  fs_->switch_to(spec({file("a.txt", 100, '1'), file("b.bin", 70000, '7')}, kNew, 2000));
  const uint64_t b2 = ino("b.bin");
  ASSERT_NE(b2, b);
  expect_content(b, h->fh, 70000, '2');  // the old handle: the old bytes, from its own commit
  EXPECT_EQ(*fs_->getxattr(b, "user.hffs.commit"), kOld);
  EXPECT_EQ(fs_->getattr(b)->size, 70000u);  // fstat on the open file
  auto h2 = fs_->open(b2, O_RDONLY, k);
  ASSERT_TRUE(h2.ok());
  expect_content(b2, h2->fh, 70000, '7');
  EXPECT_EQ(*fs_->getxattr(b2, "user.hffs.commit"), kNew);
  // Content-keyed invalidation (a failed verification) reaches the old inode while it is open.
  auto owners = fs_->inodes_of(std::string(64, '2'));
  EXPECT_EQ(owners, std::vector<uint64_t>{b});
  fs_->release(b, h->fh);
  EXPECT_FALSE(fs_->getattr(b).ok());  // the old tree is let go with its last open file
  expect_content(b2, h2->fh, 70000, '7');
  fs_->release(b2, h2->fh);
}

TEST_F(SwitchTest, NumbersNeverCollideOverManySwitches) {
  std::set<uint64_t> seen;
  std::map<std::string, uint64_t> first;
  for (const char* p : {"a.txt", "b.bin", "d", "d/c.txt", "gone.txt", "d/sub", "d/sub/x", "same", "same/y"})
    seen.insert(first[p] = ino(p));
  const char keys[] = {'7', '8', '9'};
  for (int i = 0; i < 3; ++i) {
    // a.txt never changes, b.bin changes every time, x moves between directories.
    auto rep = fs_->switch_to(spec({file("a.txt", 100, '1'), file("b.bin", 70000, keys[i]),
                                    file(i % 2 ? "d/x" : "e/x", 7, '5')},
                                   std::string(40, static_cast<char>('c' + i)), 3000 + i));
    EXPECT_EQ(ino("a.txt"), first["a.txt"]);
    // x's directory alternates between d and e: each comes back as a new directory.
    for (const char* p : {"b.bin", i % 2 ? "d" : "e", i % 2 ? "d/x" : "e/x"}) {
      uint64_t n = ino(p);
      EXPECT_TRUE(seen.insert(n).second) << p << " reused inode " << n << " at switch " << i;
    }
    EXPECT_EQ(rep.unchanged, 1u);
  }
  // readdir hands out the same numbers as lookup.
  hffs::test::PageFiller pf(100, true);
  ASSERT_TRUE(fs_->readdir(fs::kRootIno, 0, pf).ok());
  for (const auto& it : pf.items)
    if (it.name != "." && it.name != "..") {
      EXPECT_EQ(it.attr.ino, ino(it.name)) << it.name;
    }
}

TEST_F(SwitchTest, ToALazyTreeRootFilesKeepTheirNumbersDirectoriesAreNew) {
  const uint64_t a = ino("a.txt"), d = ino("d");
  const uint64_t old_max = fs_->summary().inodes;
  auto root = std::vector<TreeEntry>{file("a.txt", 100, '1'), dir("d")};
  auto lister = [](const std::string& p) -> Result<std::vector<TreeEntry>> {
    if (p == "d") return std::vector<TreeEntry>{file("d/c.txt", 10, '3')};
    return Status(Errc::kEntryNotFound, p);
  };
  auto ns = fs::Namespace::lazy(root, lister);
  ASSERT_TRUE(ns.ok());
  fs::ViewSpec s;
  s.ns = std::move(*ns);
  s.commit = kNew;
  s.mtime = 2000;
  s.source = std::make_unique<ht::GenRepo>();
  auto rep = fs_->switch_to(std::move(s));
  EXPECT_EQ(ino("a.txt"), a);
  EXPECT_NE(ino("d"), d);  // not listed at the switch: a new directory (its old subtree forgotten at once)
  EXPECT_TRUE(has_entry(rep.inval, fs::kRootIno, "d"));
  const uint64_t c = ino("d/c.txt");  // listed now, numbered above everything before
  EXPECT_GT(c, old_max);
  EXPECT_EQ(fs_->getattr(c)->size, 10u);
  hffs::test::FakeKernel k;
  auto h = fs_->open(c, O_RDONLY, k);
  ASSERT_TRUE(h.ok());
  expect_content(c, h->fh, 10, '3');
  fs_->release(c, h->fh);
}

TEST_F(SwitchTest, ReadersRacingSwitchesSeeOneCommitsBytesPerOpen) {
  // Readers look up, open, read and release b.bin while the branch flips between two commits:
  // each open reads one commit's bytes whole (never a mix), and nothing it holds goes away.
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, bad{0};
  auto reader = [&] {
    hffs::test::FakeKernel k;
    k.on = false;  // no passthrough: every read comes through the core
    while (!stop.load()) {
      auto a = fs_->lookup(fs::kRootIno, "b.bin");
      if (!a) continue;  // looked up in a tree being replaced: asked again
      auto h = fs_->open(a->ino, O_RDONLY, k);
      if (!h) continue;
      hffs::test::FakeTarget to(false);
      auto r = fs_->read(a->ino, h->fh, 0, 70000, to);
      if (!r || r->bytes != 70000) {
        bad.fetch_add(1);
      } else {
        auto whole = [&](unsigned char seed) {
          for (size_t i = 0; i < 70000; i += 97)
            if (to.buf[i] != ht::gen_byte(i, seed)) return false;
          return true;
        };
        if (!whole('2') && !whole('7')) bad.fetch_add(1);
      }
      fs_->release(a->ino, h->fh);
      reads.fetch_add(1);
    }
  };
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) ts.emplace_back(reader);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (int i = 0; i < 20; ++i) {
    // Each switch after the readers got two more reads in: switches and reads interleave.
    while (reads.load() < 2 * i && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    fs_->switch_to(spec({file("a.txt", 100, '1'), file("b.bin", 70000, i % 2 ? '2' : '7')},
                        std::string(40, i % 2 ? 'd' : 'e'), 2000 + i));
  }
  while (reads.load() < 40 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  stop = true;
  for (auto& t : ts) t.join();
  EXPECT_GE(reads.load(), 40);
  EXPECT_EQ(bad.load(), 0);
}
