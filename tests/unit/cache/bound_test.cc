// The size bound, the free-space floor, sharing the bound between instances and processes,
// eviction racing readers, restart speed, gc / clear / verify_all.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include "cache/block_map.h"
#include "cache/usage.h"
#include "cache_fixture.h"

namespace hffs::cache::test {
namespace {

class BoundTest : public CacheTest {
 protected:
  std::unique_ptr<BlockCache> open_bounded(uint64_t max_bytes, uint64_t min_free = 1,
                                           std::function<Result<FsSpace>(const std::filesystem::path&)> statfs = {}) {
    CacheConfig cfg;
    cfg.dir = dir_;
    cfg.block_size = kBlock;
    cfg.max_size.bytes = max_bytes;
    cfg.min_free.bytes = min_free;
    cfg.touch_interval_ms = 0;
    cfg.statfs = std::move(statfs);
    auto c = BlockCache::open(cfg);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    last_cfg_ = cfg;
    return c ? std::move(*c) : nullptr;
  }
  // Space the data files take on disk.
  uint64_t disk_bytes() {
    uint64_t n = 0;
    for (auto& e : std::filesystem::recursive_directory_iterator(dir_ / "hffs-v1" / "data")) {
      std::string name = e.path().filename().string();
      if (!e.is_regular_file() || name.size() != 64) continue;
      struct stat st {};
      if (::stat(e.path().c_str(), &st) == 0) n += static_cast<uint64_t>(st.st_blocks) * 512;
    }
    return n;
  }
  uint64_t counted() { return maint().usage()->counted_bytes; }
};

// Reads 3x the cache size across 12 files; after every read the shared counter and the real
// disk usage stay within max + one in-flight run; every byte read is right.
TEST_F(BoundTest, LoadOfThreeTimesTheCacheStaysBounded) {
  constexpr uint64_t kMax = 64 * kBlock;
  auto c = open_bounded(kMax);
  std::vector<FileRef> files;
  std::vector<std::unique_ptr<GenSource>> srcs;
  for (uint32_t i = 0; i < 12; ++i) {
    files.push_back(gen_file(16 * kBlock + i, i));  // 12 x 16 blocks = 3x the bound
    srcs.push_back(std::make_unique<GenSource>(files.back().size, i));
  }
  std::mt19937 rng(7);
  uint64_t worst = 0;
  for (int round = 0; round < 3; ++round)
    for (size_t i = 0; i < files.size(); ++i) {
      for (uint64_t off = 0; off < files[i].size; off += 2 * kBlock) {
        expect_read(*c, files[i], *srcs[i], off, 2 * kBlock, static_cast<uint32_t>(i));
        worst = std::max(worst, counted());
      }
    }
  auto u = maint().usage();
  ASSERT_TRUE(u.ok());
  EXPECT_LE(worst, kMax + 2 * kBlock);
  EXPECT_LE(u->bytes, kMax);
  EXPECT_EQ(u->bytes, u->counted_bytes);
  EXPECT_LE(disk_bytes(), kMax + 2 * kBlock);
  EXPECT_GT(c->stats().evicted_bytes, 0u);
  EXPECT_GT(u->bytes, kMax / 2);  // the cache is still used, not emptied
}

TEST_F(BoundTest, FileLargerThanTheCacheReadsCorrectlyTwice) {
  constexpr uint64_t kMax = 16 * kBlock;
  auto c = open_bounded(kMax);
  FileRef f = gen_file(100 * kBlock + 123, 3);
  GenSource src(f.size, 3);
  for (int pass = 0; pass < 2; ++pass)
    for (uint64_t off = 0; off < f.size; off += 3 * kBlock + 5) {
      expect_read(*c, f, src, off, 3 * kBlock + 5, 3);
      ASSERT_LE(counted(), kMax + 4 * kBlock);
    }
  // One read bigger than the whole cache: served from the fetched buffer.
  expect_read(*c, f, src, 0, static_cast<size_t>(f.size), 3);
  EXPECT_LE(maint().usage()->bytes, kMax + 101 * kBlock);
  maint().enforce_bound();
  EXPECT_LE(maint().usage()->bytes, kMax);
  EXPECT_LE(disk_bytes(), kMax + kBlock);
}

TEST_F(BoundTest, LeastRecentlyUsedFileGoesFirst) {
  auto c = open_bounded(20 * kBlock);
  FileRef a = gen_file(8 * kBlock, 1), b = gen_file(8 * kBlock, 2), d = gen_file(8 * kBlock, 4);
  GenSource sa(a.size, 1), sb(b.size, 2), sd(d.size, 4);
  expect_read(*c, a, sa, 0, static_cast<size_t>(a.size), 1);
  expect_read(*c, b, sb, 0, static_cast<size_t>(b.size), 2);
  // a used again: b is now the least recently used. Map mtimes differ by at least a tick.
  struct stat sta {}, stb {};
  ASSERT_TRUE(eventually([&] {
    expect_read(*c, a, sa, 0, 10, 1);
    ::stat(map_path(a).c_str(), &sta);
    ::stat(map_path(b).c_str(), &stb);
    return sta.st_mtim.tv_sec > stb.st_mtim.tv_sec ||
           (sta.st_mtim.tv_sec == stb.st_mtim.tv_sec && sta.st_mtim.tv_nsec > stb.st_mtim.tv_nsec);
  }));
  expect_read(*c, d, sd, 0, static_cast<size_t>(d.size), 4);  // 24 blocks > 20: evict from b
  EXPECT_TRUE(c->contains(a, 0, a.size));
  EXPECT_TRUE(c->contains(d, 0, d.size));
  EXPECT_FALSE(c->contains(b, 0, kBlock));
}

// Two instances in this process and a forked child read different files through one directory;
// the sum stays within the bound (plus the runs in flight).
TEST_F(BoundTest, InstancesAndAForkedChildShareTheBound) {
  constexpr uint64_t kMax = 32 * kBlock;
  auto c1 = open_bounded(kMax);
  auto c2 = open_bounded(kMax);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto c3 = open_bounded(kMax);
    int rc = c3 != nullptr ? 0 : 10;
    for (uint32_t i = 20; i < 26 && rc == 0; ++i) {
      FileRef f = gen_file(16 * kBlock, i);
      GenSource src(f.size, i);
      std::string buf(static_cast<size_t>(f.size), '\0');
      auto r = c3->read(f, 0, std::span<char>(buf.data(), buf.size()), src);
      if (!r.ok()) rc = 11;
      else if (buf != gen_content(f.size, i)) rc = 12;
      else if (maint().usage()->counted_bytes > kMax + 16 * kBlock) {
        auto u = maint().usage();
        auto st = c3->stats();
        std::fprintf(stderr, "child: counted %llu scanned %llu after file %u; evictions %llu evicted %llu\n",
                     static_cast<unsigned long long>(u->counted_bytes / kBlock), static_cast<unsigned long long>(u->bytes / kBlock), i,
                     static_cast<unsigned long long>(st.evictions), static_cast<unsigned long long>(st.evicted_bytes / kBlock));
        rc = 13;
      }
    }
    ::_exit(rc);
  }
  uint64_t worst = 0;
  for (uint32_t i = 0; i < 6; ++i) {
    FileRef f = gen_file(16 * kBlock, i);
    GenSource src(f.size, i);
    BlockCache& c = i % 2 ? *c1 : *c2;
    for (uint64_t off = 0; off < f.size; off += kBlock) {
      expect_read(c, f, src, off, kBlock, i);
      worst = std::max(worst, counted());
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_LE(worst, kMax + 16 * kBlock + kBlock);
  maint().enforce_bound();
  auto u = maint().usage();
  EXPECT_LE(u->bytes, kMax);
  EXPECT_EQ(u->bytes, u->counted_bytes);
  EXPECT_LE(disk_bytes(), kMax + kBlock);
}

// Readers verify every byte while another thread keeps evicting everything it can.
TEST_F(BoundTest, EvictionNeverServesWrongBytesToConcurrentReaders) {
  auto c = open_bounded(8 * kBlock);
  FileRef f = gen_file(32 * kBlock + 17, 9);
  GenSource src(f.size, 9);
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::atomic<uint64_t> reads{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t));
      std::string buf;
      while (!stop) {
        uint64_t off = rng() % f.size;
        size_t len = static_cast<size_t>(1 + rng() % (3 * kBlock));
        buf.assign(len, '\0');
        auto r = c->read(f, off, std::span<char>(buf.data(), len), src);
        if (!r.ok()) {
          bad++;
          continue;
        }
        for (size_t i = 0; i < *r; ++i)
          if (buf[i] != gen_byte(off + i, 9)) {
            bad++;
            break;
          }
        reads++;
      }
    });
  // Another instance (its own OFDs, as another process would) clears the cache repeatedly.
  CacheConfig cfg;
  cfg.dir = dir_;
  cfg.block_size = kBlock;
  auto evictor = CacheMaintenance::open(cfg);
  ASSERT_TRUE(evictor.ok());
  uint64_t evicted = 0;
  for (int i = 0; i < 100; ++i) {
    uint64_t seen = reads.load();
    ASSERT_TRUE(eventually([&] { return reads.load() >= seen + 10; }));  // readers progress between clears
    auto r = (*evictor)->clear();
    ASSERT_TRUE(r.ok());
    evicted += r->evicted_bytes;
  }
  stop = true;
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(evicted, 0u);
  EXPECT_GE(reads.load(), 1000u);
}

TEST_F(BoundTest, FreeSpaceFloorEvictsAndThenServesUnkept) {
  // A fake filesystem of 1 MiB whose free space is 1 MiB minus what the cache holds minus `other`.
  std::atomic<uint64_t> other{0};
  std::unique_ptr<BlockCache> c;
  auto fake = [&](const std::filesystem::path&) -> Result<FsSpace> {
    uint64_t counted = 0;  // the shared counter, straight from the usage file
    int fd = ::open((dir_ / "hffs-v1" / "usage").c_str(), O_RDONLY);
    if (fd >= 0) {
      EXPECT_EQ(::pread(fd, &counted, 8, 8), 8);
      ::close(fd);
    }
    uint64_t used = counted + other.load();
    return FsSpace{1u << 20, used >= (1u << 20) ? 0 : (1u << 20) - used};
  };
  c = open_bounded(/*max=*/1u << 20, /*min_free=*/(1u << 20) - 40 * kBlock, fake);  // room for ~40 blocks
  FileRef f = gen_file(64 * kBlock, 5);
  GenSource src(f.size, 5);
  for (uint64_t off = 0; off < f.size; off += kBlock) {
    expect_read(*c, f, src, off, kBlock, 5);
    ASSERT_LE(maint().usage()->counted_bytes, 40 * kBlock);
  }
  EXPECT_GT(c->stats().evicted_bytes, 0u);
  // Someone else fills the disk: nothing can be kept, reads still succeed.
  other = 1u << 20;
  FileRef g = gen_file(8 * kBlock, 6);
  GenSource sg(g.size, 6);
  expect_read(*c, g, sg, 0, static_cast<size_t>(g.size), 6);
  EXPECT_EQ(maint().usage()->counted_bytes, 0u);
  EXPECT_GE(c->stats().unkept_bytes, g.size);
  EXPECT_FALSE(c->contains(g, 0, 1));
}

// 1000 files x 100 blocks of 4 KiB written in the documented format (sparse data), then open
// and serve a hit: with the usage file (normal restart) and without it (recount).
TEST_F(BoundTest, RestartWithHundredThousandBlocksIsFast) {
  { auto c = open_bounded(1ull << 40); }
  FileRef probe = gen_file(100 * kBlock, 77);
  std::vector<std::string> keys{probe.key};
  for (uint32_t i = 0; i < 999; ++i) {
    char k[65];
    std::snprintf(k, sizeof k, "%064x", i + 1);
    keys.emplace_back(k);
  }
  std::string map(16 + 100, static_cast<char>(kPresent));
  std::memcpy(map.data(), "HFFSMAP1", 8);
  uint32_t bs = kBlock, flags = 0;
  std::memcpy(map.data() + 8, &bs, 4);
  std::memcpy(map.data() + 12, &flags, 4);
  for (const auto& k : keys) {
    auto shard = dir_ / "hffs-v1" / "data" / k.substr(0, 2);
    std::filesystem::create_directories(shard);
    int fd = ::open((shard / k).c_str(), O_RDWR | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 100 * kBlock), 0);
    if (k == probe.key) {
      std::string content = gen_content(probe.size, 77);
      ASSERT_EQ(::pwrite(fd, content.data(), content.size(), 0), static_cast<ssize_t>(content.size()));
    }
    ::close(fd);
    fd = ::open((shard / (k + ".map")).c_str(), O_RDWR | O_CREAT, 0644);
    ASSERT_EQ(::write(fd, map.data(), map.size()), static_cast<ssize_t>(map.size()));
    ::close(fd);
  }
  for (bool with_usage_file : {false, true}) {
    if (!with_usage_file) std::filesystem::remove(dir_ / "hffs-v1" / "usage");
    auto t0 = std::chrono::steady_clock::now();
    auto c = open_bounded(1ull << 40);
    ASSERT_NE(c, nullptr);
    GenSource src(probe.size, 77);
    expect_read(*c, probe, src, 5 * kBlock, 100, 77);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(src.calls.load(), 0u);
    EXPECT_LT(secs, 1.0) << "open + first hit with 100,000 cached blocks";
    std::printf("restart with 100000 blocks (%s usage file): %.1f ms\n", with_usage_file ? "with" : "without",
                secs * 1000);
    EXPECT_EQ(maint().usage()->counted_bytes, 100000ull * kBlock);
  }
}

TEST_F(BoundTest, GcRemovesOrphansAndFixesDrift) {
  auto c = open_bounded(1ull << 30);
  FileRef f = gen_file(4 * kBlock, 1), g = gen_file(4 * kBlock, 2);
  GenSource sf(f.size, 1), sg(g.size, 2);
  expect_read(*c, f, sf, 0, static_cast<size_t>(f.size), 1);
  expect_read(*c, g, sg, 0, static_cast<size_t>(g.size), 2);
  auto root = dir_ / "hffs-v1";
  std::string k1(64, 'a'), k2(64, 'b');
  std::filesystem::create_directories(root / "data" / "aa");
  std::filesystem::create_directories(root / "data" / "bb");
  auto touch = [](const std::filesystem::path& p, const std::string& content) {
    int fd = ::open(p.c_str(), O_RDWR | O_CREAT, 0644);
    ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    ::close(fd);
  };
  touch(root / "data" / "aa" / (k1 + ".map"), "HFFSMAP1xxxxxxxx");  // map without data
  touch(root / "data" / "bb" / k2, "data without a map");
  touch(root / "data" / "bb" / (k2 + ".tmp.999999999.1"), "temp of a dead process");
  // g's map torn away from its data: a map that disagrees with its data size.
  touch(root / "data" / g.key.substr(0, 2) / (g.key + ".map"), "HFFSMAP1 garbage");
  auto r = maint().gc();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->temp_files, 1u);
  EXPECT_EQ(r->orphan_maps, 2u);
  EXPECT_EQ(r->orphan_data, 2u);  // k2's and g's
  EXPECT_EQ(r->usage_drift, -static_cast<int64_t>(4 * kBlock));  // g's blocks no longer exist
  EXPECT_FALSE(std::filesystem::exists(root / "data" / "aa" / (k1 + ".map")));
  EXPECT_FALSE(std::filesystem::exists(root / "data" / "bb" / k2));
  auto u = maint().usage();
  EXPECT_EQ(u->files, 1u);
  EXPECT_EQ(u->bytes, f.size);
  EXPECT_EQ(u->counted_bytes, f.size);
  expect_read(*c, g, sg, 0, static_cast<size_t>(g.size), 2);  // refetched
}

TEST_F(BoundTest, ClearRemovesEverythingAndReadsGoOn) {
  auto c = open_bounded(1ull << 30);
  FileRef f = gen_file(10 * kBlock, 1);
  GenSource sf(f.size, 1);
  expect_read(*c, f, sf, 0, static_cast<size_t>(f.size), 1);
  auto r = maint().clear();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->evicted_bytes, f.size);
  EXPECT_EQ(r->empty_files, 1u);
  EXPECT_EQ(r->busy_blocks, 0u);
  EXPECT_FALSE(std::filesystem::exists(map_path(f)));
  EXPECT_FALSE(std::filesystem::exists(data_path(f)));
  auto u = maint().usage();
  EXPECT_EQ(u->files, 0u);
  EXPECT_EQ(u->counted_bytes, 0u);
  // The open handle was retired: the next read reopens, refetches and keeps the blocks again.
  expect_read(*c, f, sf, 0, static_cast<size_t>(f.size), 1);
  EXPECT_TRUE(c->contains(f, 0, f.size));
  EXPECT_EQ(maint().usage()->bytes, f.size);
}

TEST_F(BoundTest, VerifyAllCatchesACorruptBlock) {
  auto c = open_bounded(1ull << 30);
  FileRef f = gen_file(6 * kBlock, 1), g = gen_file(6 * kBlock, 2), h = gen_file(6 * kBlock, 3);
  GenSource sf(f.size, 1), sg(g.size, 2), sh(h.size, 3);
  expect_read(*c, f, sf, 0, static_cast<size_t>(f.size), 1);
  expect_read(*c, g, sg, 0, static_cast<size_t>(g.size), 2);
  expect_read(*c, h, sh, 0, kBlock, 3);  // incomplete
  int fd = ::open(data_path(g).c_str(), O_WRONLY);
  ASSERT_EQ(::pwrite(fd, "X", 1, 3 * kBlock + 5), 1);
  ::close(fd);
  auto v = maint().verify_all();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->checked, 2u);
  EXPECT_EQ(v->ok, 1u);
  EXPECT_EQ(v->corrupt, 1u);
  EXPECT_EQ(v->incomplete, 1u);
  EXPECT_FALSE(c->contains(g, 0, 1));
  EXPECT_EQ(maint().usage()->counted_bytes, f.size + kBlock);
  expect_read(*c, g, sg, 0, static_cast<size_t>(g.size), 2);
  EXPECT_EQ(maint().usage()->verified_files, 1u);
}

// `hffs cache stats` runs next to mounts: it shows the bound a running mount was given
// (--cache-size), not a default of its own, and forgets it once that mount is gone.
TEST_F(BoundTest, MaintenanceSeesTheBoundOfARunningCache) {
  auto fs = [](const std::filesystem::path&) -> Result<FsSpace> { return FsSpace{1ull << 40, 1ull << 39}; };
  CacheConfig plain;
  plain.dir = dir_;
  plain.block_size = kBlock;
  plain.statfs = fs;
  auto usage_now = [&](const CacheConfig& cfg) {
    auto m = CacheMaintenance::open(cfg);
    EXPECT_TRUE(m.ok()) << m.status().to_string();
    auto u = (*m)->usage();
    EXPECT_TRUE(u.ok());
    return *u;
  };
  const uint64_t dflt = usage_now(plain).max_bytes;
  EXPECT_EQ(usage_now(plain).bound_from, BoundFrom::kDefault);

  auto c = open_bounded(123 * kBlock, 1, fs);
  CacheUsage u = usage_now(plain);
  EXPECT_EQ(u.bound_from, BoundFrom::kMount);
  EXPECT_EQ(u.max_bytes, 123 * kBlock);
  EXPECT_EQ(u.bound_pid, ::getpid());
  CacheConfig own = plain;
  own.max_size.bytes = 50 * kBlock;  // `hffs cache gc --cache-size`: its own bound wins
  u = usage_now(own);
  EXPECT_EQ(u.bound_from, BoundFrom::kConfig);
  EXPECT_EQ(u.max_bytes, 50 * kBlock);
  c.reset();
  u = usage_now(plain);
  EXPECT_EQ(u.bound_from, BoundFrom::kDefault) << "the mount that set it is gone";
  EXPECT_EQ(u.max_bytes, dflt);

  // A mount killed before it could clear its record: its pid is gone, so is its bound.
  pid_t dead = ::fork();
  ASSERT_GE(dead, 0);
  if (dead == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);
  {
    auto uf = UsageFile::open(dir_ / "hffs-v1", kBlock);
    ASSERT_TRUE(uf.ok());
    (*uf)->set(UsageSlot::kBoundBytes, 7 * kBlock);
    (*uf)->set(UsageSlot::kBoundPid, static_cast<uint64_t>(dead));
  }
  EXPECT_EQ(usage_now(plain).bound_from, BoundFrom::kDefault);
}

TEST(ParseSize, UnitsAndPercent) {
  EXPECT_EQ(parse_size("500M")->bytes, 500ull << 20);
  EXPECT_EQ(parse_size("20G")->bytes, 20ull << 30);
  EXPECT_EQ(parse_size("4096")->bytes, 4096u);
  EXPECT_EQ(parse_size("1.5KiB")->bytes, 1536u);
  EXPECT_DOUBLE_EQ(parse_size("10%")->percent, 10.0);
  EXPECT_EQ(parse_size("10%")->resolve(1000), 100u);
  EXPECT_FALSE(parse_size("0").ok());
  EXPECT_FALSE(parse_size("12X").ok());
  EXPECT_FALSE(parse_size("").ok());
  EXPECT_FALSE(parse_size("150%").ok());
}

}  // namespace
}  // namespace hffs::cache::test
