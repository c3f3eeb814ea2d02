// Who may read the cache (modes, --cache-group) and a cache directory removed under a running
// process: reads are served and the layout comes back.
#include <sys/stat.h>
#include <unistd.h>

#include "cache/cache_dir.h"
#include <fstream>

#include "cache_fixture.h"

namespace hffs::cache::test {
namespace {

class AccessTest : public CacheTest {
 protected:
  void TearDown() override {
    set_cache_group(std::nullopt);
    CacheTest::TearDown();
  }
  // (mode, gid) of every directory and file under dir_, dir_ itself included.
  void expect_modes(mode_t dir_mode, mode_t file_mode, gid_t gid) {
    auto check = [&](const std::filesystem::path& p) {
      struct stat st {};
      ASSERT_EQ(::lstat(p.c_str(), &st), 0) << p;
      mode_t want = S_ISDIR(st.st_mode) ? dir_mode : file_mode;
      EXPECT_EQ(st.st_mode & 07777, want) << p;
      EXPECT_EQ(st.st_gid, gid) << p;
    };
    check(dir_);
    int files = 0;
    for (auto& e : std::filesystem::recursive_directory_iterator(dir_)) {
      check(e.path());
      files += e.is_regular_file();
    }
    EXPECT_GE(files, 5);  // format, usage, layout.lock, data, map
  }
};

TEST_F(AccessTest, OwnerOnlyWhateverTheUmask) {
  std::filesystem::remove(dir_);  // created by the cache itself
  mode_t old = ::umask(0);
  auto c = open_cache();
  FileRef f = gen_file(3 * kBlock + 5);
  GenSource src(f.size);
  expect_read(*c, f, src, 0, f.size);
  ::umask(old);
  expect_modes(0700, 0600, ::getgid());
}

TEST_F(AccessTest, GroupSharedWhateverTheUmaskAndAdoptedByLaterOpeners) {
  std::filesystem::remove(dir_);
  gid_t group = 65534;  // nogroup: root may give files to any group
  if (::geteuid() != 0) GTEST_SKIP() << "chown to another group needs root";
  set_cache_group(group);
  mode_t old = ::umask(027);
  {
    auto c = open_cache();
    FileRef f = gen_file(2 * kBlock);
    GenSource src(f.size);
    expect_read(*c, f, src, 0, f.size);
  }
  set_cache_group(std::nullopt);  // a later process without the option
  {
    auto c = open_cache();
    FileRef f = gen_file(kBlock + 1, 7);
    GenSource src(f.size, 7);
    expect_read(*c, f, src, 0, f.size, 7);
  }
  ::umask(old);
  expect_modes(02770, 0660, group);
}

TEST_F(AccessTest, RemovedDirectoryIsServedThenRestored) {
  auto c = open_cache();
  FileRef a = gen_file(2 * kBlock + 1, 1), b = gen_file(3 * kBlock, 2), d = gen_file(kBlock, 3);
  GenSource sa(a.size, 1), sb(b.size, 2), sd(d.size, 3);
  expect_read(*c, a, sa, 0, a.size, 1);
  std::filesystem::remove_all(dir_);
  expect_read(*c, b, sb, 0, b.size, 2);  // EIO before: "creating .../data/..: No such file or directory"
  EXPECT_TRUE(std::filesystem::exists(dir_ / "hffs-v1" / "format"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "hffs-v1" / "usage"));
  expect_read(*c, d, sd, 0, d.size, 3);
  EXPECT_TRUE(c->contains(d, 0, d.size));
  auto u = maint().usage();
  ASSERT_TRUE(u.ok()) << u.status().to_string();
  EXPECT_EQ(u->counted_bytes, u->bytes) << "counted in the usage file now there";
}

TEST_F(AccessTest, LayoutThatCannotBeRestoredServesWithoutKeeping) {
  auto c = open_cache();
  std::filesystem::remove_all(dir_);
  // A file where the cache directory was: nothing can be created under it.
  { std::ofstream(dir_.string()) << "x"; }
  FileRef f = gen_file(2 * kBlock, 4);
  GenSource src(f.size, 4);
  expect_read(*c, f, src, 0, f.size, 4);
  expect_read(*c, f, src, 0, f.size, 4);
  EXPECT_EQ(src.bytes.load(), 2 * f.size) << "nothing kept: fetched each time";
  std::filesystem::remove(dir_);
}

}  // namespace
}  // namespace hffs::cache::test
