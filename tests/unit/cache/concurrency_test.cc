// Single-flight within a process, OFD locks across instances and across a real fork().
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "cache_fixture.h"

namespace hffs::cache::test {
namespace {

using ConcurrencyTest = CacheTest;

constexpr int kThreads = 32;

TEST_F(ConcurrencyTest, ManyReadersOfOneBlockMakeOneFetch) {
  auto c = open_cache();
  FileRef f = gen_file(4 * kBlock);
  GenSource src(f.size);
  std::atomic<bool> all_waited{true};
  // The leader holds its fetch until the 31 others are waiting on it: no sleeps, no luck.
  src.hook = [&](uint64_t, size_t) {
    if (!eventually([&] { return c->stats().waits >= kThreads - 1; })) all_waited = false;
    return Status::ok();
  };
  std::atomic<int> good{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      std::string buf(100 + t, '\0');
      uint64_t off = kBlock + 7;
      auto r = c->read(f, off, std::span<char>(buf.data(), buf.size()), src);
      if (!r.ok() || *r != buf.size()) return;
      for (size_t i = 0; i < buf.size(); ++i)
        if (buf[i] != gen_byte(off + i)) return;
      good++;
    });
  for (auto& t : ts) t.join();
  EXPECT_TRUE(all_waited.load());
  EXPECT_EQ(good.load(), kThreads);
  EXPECT_EQ(src.calls.load(), 1u);
  EXPECT_EQ(src.bytes.load(), kBlock);
  auto st = c->stats();
  EXPECT_EQ(st.fetches, 1u);
  EXPECT_EQ(st.waits, static_cast<uint64_t>(kThreads - 1));
}

TEST_F(ConcurrencyTest, FetchErrorReachesEveryWaiterAndALaterReadRetries) {
  auto c = open_cache();
  FileRef f = gen_file(2 * kBlock);
  GenSource src(f.size);
  src.hook = [&](uint64_t, size_t) {
    eventually([&] { return c->stats().waits >= kThreads - 1; });
    return Status(Errc::kServer, "HTTP 503 after retries");
  };
  std::atomic<int> got_server_error{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&] {
      char buf[10];
      auto r = c->read(f, 0, buf, src);
      if (!r.ok() && r.status().code() == Errc::kServer && r.status().message() == "HTTP 503 after retries")
        got_server_error++;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(got_server_error.load(), kThreads);
  EXPECT_EQ(src.calls.load(), 1u);
  EXPECT_FALSE(c->contains(f, 0, 1));

  src.hook = nullptr;
  expect_read(*c, f, src, 0, 10);
  EXPECT_EQ(src.calls.load(), 2u);
  EXPECT_TRUE(c->contains(f, 0, kBlock));
}

TEST_F(ConcurrencyTest, OverlappingRandomReadsFetchEachByteOnce) {
  auto c = open_cache();
  FileRef f = gen_file(64 * kBlock + 100);
  GenSource src(f.size);
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      std::string buf;
      for (int k = 0; k < 200; ++k) {
        uint64_t off = rng() % f.size;
        size_t len = 1 + rng() % (6 * kBlock);
        buf.assign(len, '\0');
        auto r = c->read(f, off, std::span<char>(buf.data(), len), src);
        size_t want = std::min<uint64_t>(len, f.size - off);
        if (!r.ok() || *r != want) {
          bad++;
          continue;
        }
        for (size_t i = 0; i < want; ++i)
          if (buf[i] != gen_byte(off + i)) {
            bad++;
            break;
          }
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_LE(src.bytes.load(), f.size) << "no byte fetched twice";
  expect_read(*c, f, src, 0, f.size);
  EXPECT_EQ(src.bytes.load(), f.size);
  EXPECT_TRUE(c->verify_file(f).is_ok());
}

TEST_F(ConcurrencyTest, TwoCachesOnOneDirectoryShareFetches) {
  auto a = open_cache();
  auto b = open_cache();
  FileRef f = gen_file(3 * kBlock);
  GenSource src(f.size);
  src.hook = [&](uint64_t, size_t) {
    // Both instances' readers have claimed: one leader fetches, the other waits on the OFD lock.
    eventually([&] { return a->stats().waits + b->stats().waits >= kThreads - 2; });
    return Status::ok();
  };
  const std::string want = gen_content(f.size).substr(kBlock, kBlock);
  std::atomic<int> good{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      BlockCache& c = t % 2 ? *a : *b;
      std::string buf(kBlock, '\0');
      auto r = c.read(f, kBlock, std::span<char>(buf.data(), buf.size()), src);
      if (r.ok() && *r == kBlock && buf == want) good++;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(good.load(), kThreads);
  EXPECT_EQ(src.calls.load(), 1u);
  EXPECT_EQ(a->stats().fetches + b->stats().fetches, 1u);
  EXPECT_EQ(a->stats().lock_waits + b->stats().lock_waits, 1u) << "the other leader found it filled";
  EXPECT_TRUE(a->contains(f, kBlock, kBlock));
  EXPECT_TRUE(b->contains(f, kBlock, kBlock));
}

TEST_F(ConcurrencyTest, TwoCachesRandomReadsFetchEachByteOnce) {
  auto a = open_cache();
  auto b = open_cache();
  FileRef f = gen_file(48 * kBlock + 1);
  GenSource src(f.size);
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&, t] {
      BlockCache& c = t % 2 ? *a : *b;
      std::mt19937_64 rng(100 + t);
      std::string buf;
      for (int k = 0; k < 150; ++k) {
        uint64_t off = rng() % f.size;
        size_t len = 1 + rng() % (4 * kBlock);
        buf.assign(len, '\0');
        auto r = c.read(f, off, std::span<char>(buf.data(), len), src);
        size_t want = std::min<uint64_t>(len, f.size - off);
        bool ok = r.ok() && *r == want;
        for (size_t i = 0; ok && i < want; ++i) ok = buf[i] == gen_byte(off + i);
        if (!ok) bad++;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_LE(src.bytes.load(), f.size);
}

// Shared between parent and child through MAP_SHARED|MAP_ANONYMOUS memory.
struct SharedCounters {
  std::atomic<uint64_t> fetches{0}, bytes{0};
  std::atomic<int> ready{0};
};

// Reads every block (one read per block) through a fresh cache: returns 0 on success.
int read_all_blocks(const std::filesystem::path& dir, uint32_t block, const FileRef& f, SharedCounters& shared) {
  CacheConfig cfg;
  cfg.dir = dir;
  cfg.block_size = block;
  auto c = BlockCache::open(cfg);
  if (!c) return 2;
  GenSource src(f.size);
  src.hook = [&](uint64_t, size_t len) {
    shared.fetches++;
    shared.bytes += len;
    return Status::ok();
  };
  shared.ready++;
  if (!eventually([&] { return shared.ready.load() >= 2; })) return 3;
  std::string buf(block, '\0');
  for (uint64_t off = 0; off < f.size; off += block) {
    auto r = (*c)->read(f, off, std::span<char>(buf.data(), buf.size()), src);
    size_t want = std::min<uint64_t>(block, f.size - off);
    if (!r.ok() || *r != want) return 4;
    for (size_t i = 0; i < want; ++i)
      if (buf[i] != gen_byte(off + i)) return 5;
  }
  return 0;
}

TEST_F(ConcurrencyTest, ForkedProcessesFetchEachBlockOnce) {
  FileRef f = gen_file(96 * kBlock + 17);
  const uint64_t nblocks = 97;
  void* mem = ::mmap(nullptr, sizeof(SharedCounters), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* shared = new (mem) SharedCounters();
  ASSERT_NE(open_cache(), nullptr);  // create the format file; the instance is closed before fork

  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(read_all_blocks(dir_, kBlock, f, *shared));  // child: its own opens and OFDs
  int parent_rc = read_all_blocks(dir_, kBlock, f, *shared);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_EQ(parent_rc, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(shared->fetches.load(), nblocks) << "each block fetched by exactly one process";
  EXPECT_EQ(shared->bytes.load(), f.size);
  auto c = open_cache();
  EXPECT_TRUE(c->contains(f, 0, f.size));
  EXPECT_TRUE(c->verify_file(f).is_ok());
  shared->~SharedCounters();
  ::munmap(mem, sizeof(SharedCounters));
}

}  // namespace
}  // namespace hffs::cache::test
