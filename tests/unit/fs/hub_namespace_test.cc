// HubNamespace through its opener seam: each repo a Filesystem over a generated-bytes source, a fake clock for
// the negative cache and idle release (no reaper thread: the tests call release_idle themselves).
#include "fs/hub_namespace.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "unit/support/tree_entries.h"
#include "unit/fs/ops_fakes.h"
#include "unit/support/repo_fakes.h"

using namespace hffs;
using fs::HubNamespace;
using hffs::hubapi::RepoId;
using hffs::hubapi::RepoType;
using hffs::hubapi::TreeEntry;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kRoot = 1, kDatasets = 2;
constexpr uint64_t kSlot1 = uint64_t{1} << HubNamespace::kSlotShift;

TreeEntry file(std::string p, uint64_t size, char key) { return hffs::testing::tree_file(std::move(p), size, key); }

class HubNamespaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hffs-hubns-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    cache::CacheConfig cc;
    cc.dir = dir_;
    auto c = cache::BlockCache::open(cc);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    cache_ = std::move(*c);
    fs::HubNamespaceConfig cfg;
    cfg.idle_release = std::chrono::seconds(600);
    cfg.negative_ttl = std::chrono::seconds(30);
    cfg.clock = [this] { return now_; };
    cfg.reaper = false;
    ns_ = std::make_unique<HubNamespace>([this](const RepoId& r, const std::string& rev) { return open(r, rev); },
                                         cfg);
    ns_->set_invalidator([this](uint64_t parent, const std::string& name) { invalidated_.emplace(parent, name); });
  }
  void TearDown() override {
    ns_.reset();
    cache_.reset();
    std::filesystem::remove_all(dir_);
  }

  // The opener: a two-file repo per (type:id@revision), or the failure set for that key.
  Result<fs::RepoMount> open(const RepoId& r, const std::string& rev) {
    std::string key = std::string(hubapi::repo_type_name(r.type)) + ":" + r.id + "@" + rev;
    ++opens_[key];
    if (auto f = failures_.find(key); f != failures_.end()) return f->second;
    char k = key_of_open(opens_.size());
    auto tree = fs::Namespace::build({file("config.json", 300, k), file("sub/w.bin", 5000, static_cast<char>(k + 1))});
    if (!tree) return tree.status();
    fs::RepoMount m;
    m.source = std::make_unique<hffs::testing::GenRepo>();
    fs::FsConfig fc;
    fc.repo = key;
    m.fs = std::make_unique<fs::Filesystem>(std::move(*tree), *cache_, *m.source, fc);
    return m;
  }

  // The content key letter of the n-th distinct repo opened (files differ between repos).
  static char key_of_open(size_t n) { return static_cast<char>('a' + n % 20); }

  uint64_t org(uint64_t type_dir, const char* name) {
    auto a = ns_->lookup(type_dir, name);
    EXPECT_TRUE(a.ok()) << a.status().to_string();
    return a.ok() ? a->ino : 0;
  }
  std::vector<test::PageFiller::Item> entries(uint64_t dir) {
    test::PageFiller page(1000);
    Status s = ns_->readdir(dir, 0, page);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    return page.items;
  }
  std::set<std::string> names(uint64_t dir) {
    std::set<std::string> out;
    for (auto& e : entries(dir)) out.insert(e.name);
    return out;
  }
  // A read through FsOps as the adapter makes it (no pipe: bytes are copied into `buf`).
  Result<size_t> read(uint64_t ino, uint64_t off, std::vector<char>& buf) {
    test::FakeTarget to(false);
    auto r = ns_->read(ino, 0, off, buf.size(), to);
    if (!r) return r.status();
    std::copy_n(to.buf.begin(), r->bytes, buf.begin());
    return r->bytes;
  }
  test::FakeKernel kernel_;

  std::filesystem::path dir_;
  std::unique_ptr<cache::BlockCache> cache_;
  Clock::time_point now_ = Clock::time_point(std::chrono::hours(1000));
  std::map<std::string, int> opens_;
  std::map<std::string, Status> failures_;
  std::set<std::pair<uint64_t, std::string>> invalidated_;
  std::unique_ptr<HubNamespace> ns_;
};

}  // namespace

TEST_F(HubNamespaceTest, EachRepoGetsASlotAndKeepsItsOwnNumbering) {
  uint64_t o = org(kRoot, "org");
  EXPECT_LT(o, kSlot1) << "virtual directories live below 2^40";
  auto a = ns_->lookup(o, "alpha");
  auto b = ns_->lookup(o, "beta");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->ino, kSlot1 | fs::kRootIno);
  EXPECT_EQ(b->ino, (2 * kSlot1) | fs::kRootIno);
  EXPECT_TRUE(a->is_dir);

  // The same file has the same local number in both repos, told apart by the slot bits.
  auto fa = ns_->lookup(a->ino, "config.json");
  auto fb = ns_->lookup(b->ino, "config.json");
  ASSERT_TRUE(fa.ok() && fb.ok());
  EXPECT_EQ(fa->ino >> HubNamespace::kSlotShift, 1u);
  EXPECT_EQ(fb->ino >> HubNamespace::kSlotShift, 2u);
  EXPECT_EQ(fa->ino & HubNamespace::kLocalMask, fb->ino & HubNamespace::kLocalMask);
  EXPECT_EQ(fa->size, 300u);
  EXPECT_EQ(ns_->getattr(fa->ino)->ino, fa->ino);

  // readdir translates every entry; the repo root's ".." is the org folder, not a repo inode.
  for (auto& e : entries(b->ino)) {
    if (e.name == "..")
      EXPECT_EQ(e.attr.ino, o);
    else
      EXPECT_EQ(e.attr.ino >> HubNamespace::kSlotShift, 2u) << e.name;
  }
  EXPECT_EQ(ns_->lookup(b->ino, "..")->ino, o);
  auto sub = ns_->lookup(b->ino, "sub");
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(ns_->lookup(sub->ino, "..")->ino, b->ino);

  // Reads reach the repo's own filesystem with the local inode.
  std::vector<char> buf(300);
  auto n = read(fb->ino, 0, buf);
  ASSERT_TRUE(n.ok()) << n.status().to_string();
  EXPECT_EQ(*n, 300u);
  for (size_t i = 0; i < buf.size(); ++i)
    ASSERT_EQ(buf[i], hffs::testing::gen_byte(i, static_cast<unsigned char>(key_of_open(2)))) << i;

  // Opened once each, listed in the org folder, counted.
  EXPECT_EQ(ns_->lookup(o, "alpha")->ino, a->ino);
  EXPECT_EQ(opens_["model:org/alpha@main"], 1);
  EXPECT_EQ(names(o), (std::set<std::string>{".", "..", "alpha", "beta"}));
  EXPECT_EQ(ns_->loaded_repos(), 2u);
  EXPECT_EQ(ns_->summary().bytes, 2 * 5300u);
  EXPECT_EQ(ns_->getattr(3 * kSlot1 | fs::kRootIno).status().code(), Errc::kEntryNotFound);
}

TEST_F(HubNamespaceTest, TypeFoldersAndRevisionsReachTheOpener) {
  uint64_t d = org(kDatasets, "org");
  ASSERT_TRUE(ns_->lookup(d, "data").ok());
  uint64_t m = org(kRoot, "org");
  EXPECT_NE(m, d) << "models and datasets have separate org folders";
  auto pinned = ns_->lookup(m, "name@v1.0");
  auto pr = ns_->lookup(m, "name@refs%2Fpr%2F1");
  ASSERT_TRUE(pinned.ok() && pr.ok());
  EXPECT_NE(pinned->ino >> HubNamespace::kSlotShift, pr->ino >> HubNamespace::kSlotShift);
  EXPECT_EQ(opens_, (std::map<std::string, int>{
                        {"dataset:org/data@main", 1}, {"model:org/name@v1.0", 1}, {"model:org/name@refs/pr/1", 1}}));
  // Names that cannot be repos never reach the opener.
  for (const char* bad : {"a b", "name@", "x/y"}) EXPECT_EQ(ns_->lookup(m, bad).status().code(), Errc::kEntryNotFound);
  EXPECT_EQ(opens_.size(), 3u);
}

TEST_F(HubNamespaceTest, AFailedOpenIsRememberedForTheNegativeTtl) {
  uint64_t o = org(kRoot, "org");
  failures_["model:org/gone@main"] = Status(Errc::kRepoNotFound, "404");
  EXPECT_EQ(ns_->lookup(o, "gone").status().code(), Errc::kRepoNotFound);
  now_ += std::chrono::seconds(29);
  EXPECT_EQ(ns_->lookup(o, "gone").status().code(), Errc::kRepoNotFound);
  EXPECT_EQ(opens_["model:org/gone@main"], 1) << "answered from the negative cache";

  // Another revision of the same repo is another key.
  EXPECT_TRUE(ns_->lookup(o, "gone@v2").ok());

  // Once the TTL has passed the opener is asked again; a success replaces the failure.
  failures_.clear();
  now_ += std::chrono::seconds(1);
  auto a = ns_->lookup(o, "gone");
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(opens_["model:org/gone@main"], 2);
  EXPECT_EQ(a->ino >> HubNamespace::kSlotShift, 2u);

  // The failure was forgotten, not just shadowed: after a release, a new failure is asked for.
  now_ += std::chrono::seconds(601);
  EXPECT_EQ(ns_->release_idle(now_), 2u);
  failures_["model:org/gone@main"] = Status(Errc::kNetwork, "down");
  EXPECT_EQ(ns_->lookup(o, "gone").status().code(), Errc::kNetwork);
  EXPECT_EQ(opens_["model:org/gone@main"], 3);
}

TEST_F(HubNamespaceTest, IdleReposAreReleasedAndReopenedInANewSlot) {
  uint64_t o = org(kRoot, "org");
  auto a = ns_->lookup(o, "alpha");
  auto b = ns_->lookup(o, "beta");
  ASSERT_TRUE(a.ok() && b.ok());
  auto fa = ns_->lookup(a->ino, "config.json");
  ASSERT_TRUE(fa.ok());

  now_ += std::chrono::seconds(500);
  std::vector<char> buf(10);
  ASSERT_TRUE(read(fa->ino, 0, buf).ok());  // alpha used at t+500
  now_ += std::chrono::seconds(200);
  EXPECT_EQ(ns_->release_idle(now_), 1u) << "beta idle for 700 s, alpha for 200 s";
  EXPECT_EQ(ns_->loaded_repos(), 1u);
  EXPECT_EQ(invalidated_, (std::set<std::pair<uint64_t, std::string>>{{o, "beta"}}));
  EXPECT_EQ(names(o), (std::set<std::string>{".", "..", "alpha"}));
  // The released slot's inodes answer ENOENT, never another repo's files.
  EXPECT_EQ(ns_->getattr(b->ino).status().code(), Errc::kEntryNotFound);
  EXPECT_EQ(ns_->lookup(b->ino, "config.json").status().code(), Errc::kEntryNotFound);
  EXPECT_EQ(read(b->ino, 0, buf).status().code(), Errc::kEntryNotFound);

  // An open file keeps its repo however long it stays idle; its release lets the repo go.
  auto opened = ns_->open(fa->ino, O_RDONLY, kernel_);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  now_ += std::chrono::hours(5);
  EXPECT_EQ(ns_->release_idle(now_), 0u);
  ns_->release(fa->ino, opened->fh);  // counts as a use
  EXPECT_EQ(ns_->release_idle(now_), 0u);
  EXPECT_EQ(ns_->release_idle(now_ + std::chrono::seconds(601)), 1u);
  EXPECT_EQ(ns_->loaded_repos(), 0u);

  // A later lookup opens the repo again, in a fresh slot (numbers are never reused).
  auto again = ns_->lookup(o, "beta");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ino, (3 * kSlot1) | fs::kRootIno);
  EXPECT_EQ(opens_["model:org/beta@main"], 2);
  EXPECT_EQ(ns_->release_idle(now_), 0u) << "just opened";
}
