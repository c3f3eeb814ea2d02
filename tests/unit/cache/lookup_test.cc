// Lookups that will not create (a pin at open, a splice at read, contains) of a file the cache does
// not hold: they answer "absent" without taking layout.lock and leave the directory as it was;
// the read that creates the file leaves its two files and nothing else.
#include <unistd.h>

#include <chrono>
#include <future>
#include <set>

#include "cache/block_map.h"
#include "cache/usage.h"
#include "cache_fixture.h"

namespace hffs::cache::test {
namespace {

class LookupTest : public CacheTest {
 protected:
  std::set<std::string> entries() const {
    std::set<std::string> out;
    for (auto& e : std::filesystem::recursive_directory_iterator(dir_))
      out.insert(std::filesystem::relative(e.path(), dir_).string());
    return out;
  }
};

TEST_F(LookupTest, ALookupOfAnAbsentFileCreatesNothingAndTakesNoLock) {
  auto c = open_cache();
  FileRef held = gen_file(2 * kBlock, 1), absent = gen_file(kBlock + 7, 2);
  GenSource src(held.size);
  expect_read(*c, held, src, 0, held.size);  // the layout, a shard and layout.lock exist
  const auto before = entries();

  // A deleter holds layout.lock: a lookup that took it would wait until it is released.
  FileLock deleter(layout_lock_path(dir_ / "hffs-v1"), /*exclusive=*/true, /*wait=*/true);
  ASSERT_TRUE(deleter.locked());
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  auto looked = std::async(std::launch::async, [&] {
    int found = 0;
    found += c->contains(absent, 0, absent.size);
    auto spliced = c->splice_present(absent, 0, absent.size, PipeFds{p[0], p[1]});
    found += spliced && *spliced > 0;
    found += c->pin_complete(absent) != nullptr;
    return found;
  });
  bool done = looked.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  deleter.unlock();  // lets a lookup that did wait finish, so the test ends either way
  EXPECT_TRUE(done) << "a lookup of an absent file waited for layout.lock";
  EXPECT_EQ(looked.get(), 0);
  ::close(p[0]);
  ::close(p[1]);
  EXPECT_EQ(entries(), before);

  // Created by a read: its data file and map, no temporary name left behind.
  GenSource src2(absent.size);
  expect_read(*c, absent, src2, 0, absent.size);
  std::set<std::string> shard;
  for (auto& e : std::filesystem::directory_iterator(data_path(absent).parent_path()))
    if (e.path().filename().string().rfind(absent.key, 0) == 0) shard.insert(e.path().filename().string());
  EXPECT_EQ(shard, (std::set<std::string>{absent.key, absent.key + ".map"}));
  EXPECT_EQ(std::filesystem::file_size(map_path(absent)), kMapHeaderSize + 2);
}

}  // namespace
}  // namespace hffs::cache::test
