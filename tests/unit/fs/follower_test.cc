// The follower's thread: a check asked for is made after the call began and answers every caller
// waiting then, a moved branch is switched to and the kernel told (once, on the follower's thread),
// a failing Hub keeps the view and is counted, and the periodic check runs on its own.
#include "fs/follower.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include "unit/support/repo_fakes.h"
#include "unit/support/tree_entries.h"

using namespace hffs;
namespace ht = hffs::testing;

namespace {

const std::string kOld(40, 'a'), kNew(40, 'b');

class FollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hffs-follower-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    auto c = cache::BlockCache::open({dir_, 1u << 16});
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    cache_ = std::move(*c);
    auto ns = fs::Namespace::build({ht::tree_file("a.txt", 10, '1'), ht::tree_file("b.txt", 10, '2')});
    ASSERT_TRUE(ns.ok());
    fs::FsConfig cfg;
    cfg.commit = kOld;
    fs_ = std::make_unique<fs::Filesystem>(std::move(*ns), *cache_, repo_, cfg);
  }
  void TearDown() override {
    fs_.reset();
    std::filesystem::remove_all(dir_);
  }

  // The Hub as the check sees it: `head` is what the branch names now; `down` fails the check.
  fs::Follower::Check check() {
    return [this](const std::string& current) -> Result<std::optional<fs::ViewSpec>> {
      checks.fetch_add(1);
      if (down.load()) return Status(Errc::kNetwork, "the Hub is down");
      std::string h;
      {
        std::lock_guard lk(mu);
        h = head;
      }
      if (h == current) return std::optional<fs::ViewSpec>();
      auto ns = fs::Namespace::build({ht::tree_file("a.txt", 10, '1'), ht::tree_file("c.txt", 10, '3')});
      fs::ViewSpec s;
      s.ns = std::move(*ns);
      s.commit = h;
      s.source = std::make_unique<ht::GenRepo>();
      return std::optional<fs::ViewSpec>(std::move(s));
    };
  }
  fs::Follower::Forget forget() {
    return [this](const fs::Invalidations& inv) {
      told.fetch_add(1);
      entries.fetch_add(inv.entries.size());
      EXPECT_NE(std::this_thread::get_id(), test_thread);  // never the caller's (a FUSE worker's) thread
    };
  }

  std::filesystem::path dir_;
  std::unique_ptr<cache::BlockCache> cache_;
  ht::GenRepo repo_;
  std::unique_ptr<fs::Filesystem> fs_;
  std::mutex mu;
  std::string head = kOld;
  std::atomic<bool> down{false};
  std::atomic<int> checks{0}, told{0};
  std::atomic<size_t> entries{0};
  std::thread::id test_thread = std::this_thread::get_id();
};

}  // namespace

TEST_F(FollowerTest, CheckNowSwitchesOnceAndTellsTheKernel) {
  fs::Follower f(*fs_, "org/name@main", check(), forget(), std::chrono::milliseconds(0));
  EXPECT_EQ(f.check_now(), "unchanged " + kOld);
  {
    std::lock_guard lk(mu);
    head = kNew;
  }
  EXPECT_EQ(f.check_now(), kOld + " -> " + kNew);
  EXPECT_EQ(fs_->commit(), kNew);
  EXPECT_EQ(told.load(), 1);
  EXPECT_EQ(entries.load(), 2u);  // b.txt gone, c.txt new
  EXPECT_EQ(f.check_now(), "unchanged " + kNew);
  EXPECT_EQ(fs_->stats().view_switches.load(), 1u);
  EXPECT_EQ(fs_->stats().refresh_checks.load(), 3u);
  EXPECT_EQ(checks.load(), 3);
}

TEST_F(FollowerTest, AFailingHubKeepsTheViewAndIsCounted) {
  fs::Follower f(*fs_, "org/name@main", check(), forget(), std::chrono::milliseconds(0));
  down = true;
  {
    std::lock_guard lk(mu);
    head = kNew;
  }
  EXPECT_EQ(f.check_now().rfind("failed: ", 0), 0u);
  EXPECT_EQ(f.check_now().rfind("failed: ", 0), 0u);
  EXPECT_EQ(fs_->commit(), kOld);
  EXPECT_EQ(fs_->stats().refresh_failures.load(), 2u);
  EXPECT_EQ(told.load(), 0);
  down = false;
  EXPECT_EQ(f.check_now(), kOld + " -> " + kNew);
}

TEST_F(FollowerTest, CallersWaitingTogetherShareOneCheck) {
  fs::Follower f(*fs_, "org/name@main", check(), forget(), std::chrono::milliseconds(0));
  std::vector<std::future<std::string>> outs;
  for (int i = 0; i < 8; ++i) outs.push_back(std::async(std::launch::async, [&f] { return f.check_now(); }));
  for (auto& o : outs) EXPECT_EQ(o.get(), "unchanged " + kOld);
  EXPECT_LE(checks.load(), 8);  // at most one per caller, usually far fewer
  EXPECT_GE(checks.load(), 1);
}

TEST_F(FollowerTest, ThePeriodicCheckFindsTheMove) {
  fs::Follower f(*fs_, "org/name@main", check(), forget(), std::chrono::milliseconds(20));
  {
    std::lock_guard lk(mu);
    head = kNew;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (fs_->stats().view_switches.load() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  EXPECT_EQ(fs_->commit(), kNew);
  EXPECT_EQ(told.load(), 1);
}
