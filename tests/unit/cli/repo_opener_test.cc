// open_repo_view's offline fallback: a view pinned online is kept under the cache dir and used
// when the Hub cannot answer (unreachable, 5xx) or when offline (HF_HUB_OFFLINE: no client).
// A definite answer (404) never falls back. The Hub is an in-process loopback fake.
#include "cli/repo_opener.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "cli/env.h"
#include "cli/exit_codes.h"
#include "unit/hubapi/fake_http_server.h"

using namespace hffs;
using hffs::testing::FakeHttpServer;
using hffs::testing::FakeRequest;
using hffs::testing::FakeResponse;
using Ms = std::chrono::milliseconds;

namespace {

const std::string kSha = "89abcdef0123456789abcdef0123456789abcdef";
const hubapi::RepoId kRepo{hubapi::RepoType::kModel, "org/name"};

// The Hub of one repo at one commit: revision "main" and tag "v1" both resolve to kSha.
FakeResponse hub_answer(const FakeRequest& r) {
  for (const char* rev : {"main", "v1"})
    if (r.path() == std::string("/api/models/org/name/revision/") + rev)
      return FakeResponse{200, {}, R"({"id":"org/name","sha":")" + kSha + R"(","lastModified":"2024-02-19T11:06:12.000Z"})"};
  if (r.path() == "/api/models/org/name/tree/" + kSha)
    return FakeResponse{200, {},
                        R"([{"type":"file","oid":")" + std::string(40, '1') + R"(","size":12,"path":"config.json"},)"
                        R"({"type":"file","oid":")" + std::string(40, '2') + R"(","size":34,"path":"sub/a.txt"}])"};
  // A folder's own listing (a subfolder view), and a folder that is not there.
  if (r.path() == "/api/models/org/name/tree/" + kSha + "/sub")
    return FakeResponse{200, {}, R"([{"type":"file","oid":")" + std::string(40, '2') + R"(","size":34,"path":"sub/a.txt"}])"};
  if (r.path().rfind("/api/models/org/name/tree/" + kSha + "/", 0) == 0)
    return FakeResponse{404, {{"X-Error-Code", "EntryNotFound"}}, R"({"error":"not found"})"};
  return FakeResponse{404, {{"X-Error-Code", "RepoNotFound"}}, R"({"error":"Repository not found"})"};
}

class RepoOpenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hffs::testing::clear_proxy_env();
    dir_ = std::filesystem::temp_directory_path() /
           ("hffs-opener-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    cache::CacheConfig cc;
    cc.dir = dir_ / "cache";
    auto c = cache::BlockCache::open(cc);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    cache_ = std::move(*c);
    views_ = std::make_unique<cli::SnapshotStore>(dir_ / "cache");
    hub_.set_handler(hub_answer);
  }
  void TearDown() override {
    cache_.reset();
    std::filesystem::remove_all(dir_);
  }

  hubapi::HubConfig hub_config(const std::string& endpoint) {
    hubapi::HubConfig c;
    c.endpoint = endpoint;
    c.connect_timeout = Ms(2000);
    c.op_deadline = Ms(5000);
    c.max_attempts = 1;  // a failure is final at once: the fallback is what is tested
    return c;
  }
  cli::OpenContext context(hubapi::HubClient* client) {
    cli::OpenContext ctx;
    ctx.client = client;
    ctx.views = views_.get();
    ctx.cache = cache_.get();
    ctx.hub_cache = dir_ / "no-hf-cache";
    return ctx;
  }
  // Pins `revision` online once, which keeps its view.
  void mount_online(const std::string& revision) {
    hubapi::HubClient client(hub_config(hub_.base_url()));
    auto m = cli::open_repo_view(context(&client), kRepo, revision);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
  }
  static std::set<std::string> files_of(const fs::RepoMount& m) {
    std::set<std::string> out;
    for (uint64_t ino = 1; ino <= m.fs->ns().inode_count(); ++ino)
      if (!m.fs->ns().get(ino)->is_dir) out.insert(m.fs->ns().path_of(*m.fs->ns().get(ino)));
    return out;
  }
  static std::string xattr(const fs::RepoMount& m, const char* path, const char* name) {
    auto v = m.fs->getxattr(m.fs->ns().find_path(path)->ino, name);
    return v ? *v : "error: " + v.status().to_string();
  }

  FakeHttpServer hub_;
  std::filesystem::path dir_;
  std::unique_ptr<cache::BlockCache> cache_;
  std::unique_ptr<cli::SnapshotStore> views_;
  const std::set<std::string> want_ = {"config.json", "sub/a.txt"};
};

}  // namespace

TEST_F(RepoOpenerTest, AnUnreachableHubServesTheKeptView) {
  mount_online("main");
  size_t online_requests = hub_.request_count();
  EXPECT_EQ(online_requests, 2u) << "revision + one tree page";
  std::string endpoint = hub_.base_url();
  hub_.stop();  // connection refused from now on

  hubapi::HubClient client(hub_config(endpoint));
  auto m = cli::open_repo_view(context(&client), kRepo, "main");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(files_of(*m), want_);
  EXPECT_EQ(m->fs->config().commit, kSha);
  EXPECT_EQ(m->fs->config().revision, "main");
  // The files still come from the Hub once it is back: the source stays online.
  EXPECT_NE(xattr(*m, "config.json", "user.hffs.source").find(endpoint), std::string::npos);

  // A revision never pinned has no view to fall back to: the network error stands.
  auto never = cli::open_repo_view(context(&client), kRepo, "v1");
  EXPECT_EQ(never.status().code(), Errc::kNetwork) << never.status().to_string();
}

TEST_F(RepoOpenerTest, AHubAnswering5xxServesTheKeptView) {
  mount_online("v1");
  hub_.set_handler([](const FakeRequest&) { return FakeResponse{503, {}, "down for maintenance"}; });
  hubapi::HubClient client(hub_config(hub_.base_url()));
  auto m = cli::open_repo_view(context(&client), kRepo, "v1");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(files_of(*m), want_);
  EXPECT_EQ(m->fs->config().commit, kSha);
}

TEST_F(RepoOpenerTest, OfflineUsesTheKeptViewByRefOrCommit) {
  mount_online("main");
  size_t online_requests = hub_.request_count();
  // HF_HUB_OFFLINE reaches the opener as "no client" (mount and prefetch build it so).
  ::setenv("HF_HUB_OFFLINE", "1", 1);
  bool offline = cli::read_hf_env().offline;
  ::unsetenv("HF_HUB_OFFLINE");
  EXPECT_TRUE(offline);

  for (const std::string& rev : std::vector<std::string>{"main", kSha, kSha.substr(0, 7)}) {
    auto m = cli::open_repo_view(context(nullptr), kRepo, rev);
    ASSERT_TRUE(m.ok()) << rev << ": " << m.status().to_string();
    EXPECT_EQ(files_of(*m), want_) << rev;
    EXPECT_EQ(m->fs->config().commit, kSha) << rev;
    EXPECT_EQ(xattr(*m, "sub/a.txt", "user.hffs.source"), "offline");
    // Nothing is cached: a read says offline instead of trying the network.
    std::vector<char> buf(4);
    auto r = m->fs->read(m->fs->ns().find_path("sub/a.txt")->ino, 0, buf);
    EXPECT_FALSE(r.ok());
  }
  EXPECT_EQ(hub_.request_count(), online_requests) << "offline never asks the Hub";

  auto never = cli::open_repo_view(context(nullptr), kRepo, "v1");
  EXPECT_EQ(never.status().code(), Errc::kOffline);
  EXPECT_NE(never.status().message().find("never mounted"), std::string::npos) << never.status().to_string();
}

TEST_F(RepoOpenerTest, ADefiniteAnswerNeverFallsBack) {
  mount_online("main");
  // The repo is gone (or became private): a kept view must not hide that.
  hub_.set_handler([](const FakeRequest&) {
    return FakeResponse{404, {{"X-Error-Code", "RepoNotFound"}}, R"({"error":"Repository not found"})"};
  });
  hubapi::HubClient client(hub_config(hub_.base_url()));
  auto m = cli::open_repo_view(context(&client), kRepo, "main");
  EXPECT_EQ(m.status().code(), Errc::kRepoNotFound) << m.status().to_string();
}

// A commit's tree never changes: a full sha seen before mounts from its kept view, no request.
TEST_F(RepoOpenerTest, ACommitSeenBeforeMountsWithoutARequest) {
  mount_online("main");
  const size_t before = hub_.request_count();
  hubapi::HubClient client(hub_config(hub_.base_url()));
  auto m = cli::open_repo_view(context(&client), kRepo, kSha);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(files_of(*m), want_);
  EXPECT_EQ(m->fs->config().commit, kSha);
  EXPECT_EQ(hub_.request_count(), before) << "a kept commit asks the Hub nothing";
  // A short sha is not a commit name the Hub was asked about: it is resolved online.
  auto s = cli::open_repo_view(context(&client), kRepo, kSha.substr(0, 7));
  EXPECT_GT(hub_.request_count(), before);
}

// A branch that resolves to a commit seen before: one revision request, no tree pages; the ref is
// kept for offline use.
TEST_F(RepoOpenerTest, ARevisionOnACommitSeenBeforeReusesItsTree) {
  mount_online("v1");
  const size_t before = hub_.request_count();
  hubapi::HubClient client(hub_config(hub_.base_url()));
  auto m = cli::open_repo_view(context(&client), kRepo, "main");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(files_of(*m), want_);
  ASSERT_EQ(hub_.request_count(), before + 1);
  EXPECT_EQ(hub_.requests().back().path(), "/api/models/org/name/revision/main");
  auto off = cli::open_repo_view(context(nullptr), kRepo, "main");
  ASSERT_TRUE(off.ok()) << off.status().to_string();
  EXPECT_EQ(off->fs->config().commit, kSha);
}

// A private repo's kept view is never a reason not to ask: the Hub decides who may list it.
TEST_F(RepoOpenerTest, APrivateCommitAlwaysAsksTheHub) {
  hub_.set_handler([](const FakeRequest& r) {
    if (r.path() == "/api/models/org/name/revision/main" || r.path() == "/api/models/org/name/revision/" + kSha)
      return FakeResponse{200, {}, R"({"id":"org/name","private":true,"sha":")" + kSha + R"("})"};
    return hub_answer(r);
  });
  mount_online("main");
  const size_t before = hub_.request_count();
  hubapi::HubClient client(hub_config(hub_.base_url()));
  auto m = cli::open_repo_view(context(&client), kRepo, kSha);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(hub_.request_count(), before + 1) << "the revision info, then the kept tree";
}

// A subfolder view lists only that folder, shows it as the root with repo paths kept for the
// Hub, and keeps nothing of it: a later whole mount of that commit lists and sees everything.
TEST_F(RepoOpenerTest, ASubfolderViewListsThatFolderAndIsNotKeptAsTheCommitsView) {
  hubapi::HubClient client(hub_config(hub_.base_url()));
  auto ctx = context(&client);
  ctx.view.subfolder = "sub";
  auto m = cli::open_repo_view(ctx, kRepo, "main");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(files_of(*m), std::set<std::string>{"sub/a.txt"});  // path_of: the repo path
  ASSERT_NE(m->fs->ns().find_path("a.txt"), nullptr);            // the mount's own path
  EXPECT_EQ(xattr(*m, "a.txt", "user.hffs.subfolder"), "sub");
  EXPECT_NE(xattr(*m, "a.txt", "user.hffs.source").find("/resolve/" + kSha + "/sub/a.txt"), std::string::npos);
  EXPECT_EQ(hub_.request_count(), 2u) << "revision + the folder's tree page";

  auto whole = cli::open_repo_view(context(&client), kRepo, "main");
  ASSERT_TRUE(whole.ok()) << whole.status().to_string();
  EXPECT_EQ(files_of(*whole), want_);
  EXPECT_EQ(xattr(*whole, "config.json", "user.hffs.subfolder").rfind("error", 0), 0u);

  auto missing = ctx;
  missing.view.subfolder = "nosuch";
  auto r = cli::open_repo_view(missing, kRepo, "main");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Errc::kEntryNotFound) << r.status().to_string();
  EXPECT_NE(r.status().message().find("subfolder 'nosuch' not found"), std::string::npos) << r.status().message();
  EXPECT_EQ(cli::exit_code_for(r.status().code()), cli::kExitRevisionNotFound);
}

// Once a commit's whole tree is kept, partial views are cut from it (no tree request), also
// offline; and a filtered view keeps the whole listing it made as the commit's view.
TEST_F(RepoOpenerTest, PartialViewsAreCutFromTheKeptWholeTree) {
  {
    hubapi::HubClient client(hub_config(hub_.base_url()));
    auto ctx = context(&client);
    ctx.view.filter.include = {"*.json"};
    auto f = cli::open_repo_view(ctx, kRepo, "main");
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    EXPECT_EQ(files_of(*f), std::set<std::string>{"config.json"});
    EXPECT_EQ(xattr(*f, "config.json", "user.hffs.include"), "*.json\n");
    // Not in the kept whole tree of that commit: final, without listing again.
    const size_t asked = hub_.request_count();
    ctx.view.filter.include = {"*.gguf"};
    auto none = cli::open_repo_view(ctx, kRepo, "main");
    EXPECT_EQ(none.status().code(), Errc::kEntryNotFound) << none.status().to_string();
    EXPECT_EQ(hub_.request_count(), asked + 1) << "the revision only";
    ctx.view = {"nosuch", {}};
    auto by_sha = cli::open_repo_view(ctx, kRepo, kSha);
    EXPECT_EQ(by_sha.status().code(), Errc::kEntryNotFound) << by_sha.status().to_string();
    EXPECT_EQ(hub_.request_count(), asked + 1) << "a kept public commit: no request";
  }
  const size_t before = hub_.request_count();
  auto ctx = context(nullptr);  // offline: the kept view only
  ctx.view.subfolder = "sub";
  auto sub = cli::open_repo_view(ctx, kRepo, "main");
  ASSERT_TRUE(sub.ok()) << sub.status().to_string();
  EXPECT_EQ(files_of(*sub), std::set<std::string>{"sub/a.txt"});
  ctx.view.subfolder = "config.json";
  auto file = cli::open_repo_view(ctx, kRepo, "main");
  EXPECT_EQ(file.status().code(), Errc::kEntryNotFound) << file.status().to_string();
  auto whole = cli::open_repo_view(context(nullptr), kRepo, "main");
  ASSERT_TRUE(whole.ok()) << whole.status().to_string();
  EXPECT_EQ(files_of(*whole), want_);
  EXPECT_EQ(hub_.request_count(), before);
}

// A lazy mount's kept image: once complete, partial views are cut from it (offline too); a partly
// listed one cannot say what a folder holds, so offline it is a clear kOffline error.
TEST_F(RepoOpenerTest, PartialViewsOfAKeptImage) {
  auto entries = [](bool with_sub) {
    std::vector<hubapi::TreeEntry> v(1);
    v[0].path = "config.json";
    v[0].size = 12;
    v[0].oid = std::string(40, '1');
    if (with_sub) {
      hubapi::TreeEntry f;
      f.path = "sub/a.bin";
      f.size = 34;
      f.oid = std::string(40, '2');
      f.lfs_sha256 = std::string(64, '3');
      v.push_back(f);
    }
    return v;
  };
  hubapi::Snapshot snap{kRepo, {"org/name", kSha, "2024-02-19T11:06:12.000Z", 0, false, ""}, {}, true};
  ASSERT_TRUE(views_->save(snap, "main").is_ok());
  auto full = fs::Namespace::build(entries(true));
  ASSERT_TRUE(full.ok());
  ASSERT_TRUE(views_->save_image(kRepo, kSha, *full).is_ok());
  auto ctx = context(nullptr);
  ctx.view.subfolder = "sub";
  auto m = cli::open_repo_view(ctx, kRepo, "main");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(files_of(*m), std::set<std::string>{"sub/a.bin"});
  EXPECT_EQ(xattr(*m, "a.bin", "user.hffs.hash"), "sha256:" + std::string(64, '3'));

  // Partly listed: the root only, "sub" never visited.
  hubapi::TreeEntry d;
  d.type = hubapi::TreeEntry::Type::kDirectory;
  d.path = "sub";
  auto root_only = entries(false);
  root_only.push_back(d);
  auto part = fs::Namespace::lazy(root_only, nullptr);
  ASSERT_TRUE(part.ok());
  ASSERT_FALSE(part->complete());
  ASSERT_TRUE(views_->save_image(kRepo, kSha, *part).is_ok());
  auto off = cli::open_repo_view(ctx, kRepo, "main");
  ASSERT_FALSE(off.ok());
  EXPECT_EQ(off.status().code(), Errc::kOffline) << off.status().to_string();
}
