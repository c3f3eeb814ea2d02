// The cache through a faulty source (tests/unit/support/fault_source.h): failed and short fetches
// keep nothing, a resumed stream with a flipped bit is caught by the hash, and readers of a
// stalled whole-file fetch make one fetch.
#include <thread>

#include "cache_fixture.h"
#include "unit/support/fault_source.h"

namespace hffs::cache::test {
namespace {

using hffs::testing::FaultPlan;
using hffs::testing::FaultSource;
using hffs::testing::When;
using FaultTest = CacheTest;

Result<std::string> read_str(BlockCache& c, const FileRef& f, BlockSource& src, uint64_t off, size_t len) {
  std::string buf(len, '\x55');
  auto r = c.read(f, off, std::span<char>(buf.data(), len), src);
  if (!r) return r.status();
  buf.resize(*r);
  return buf;
}

TEST_F(FaultTest, AFailedFetchKeepsNothingAndTheNextReadFetchesAgain) {
  auto c = open_cache(kBlock, /*verify=*/true);
  FileRef f = gen_file(8 * kBlock + 9);
  GenSource gen(f.size);
  gen.piece = 1000;
  FaultPlan plan;
  plan.fail(When::every_nth(2), Errc::kServer);
  FaultSource src(gen, plan);
  for (uint64_t b = 0; b * kBlock < f.size; ++b) {
    auto r = read_str(*c, f, src, b * kBlock, kBlock);
    if (!r) {
      EXPECT_EQ(r.status().code(), Errc::kServer);
      EXPECT_FALSE(c->contains(f, b * kBlock, 1)) << "nothing of a failed fetch is kept";
      r = read_str(*c, f, src, b * kBlock, kBlock);
    }
    ASSERT_TRUE(r.ok()) << b << ": " << r.status().to_string();
    EXPECT_EQ(*r, gen_content(f.size).substr(b * kBlock, kBlock)) << b;
  }
  // Block 0's fetch is #1; every later block's first fetch is even (fails), its retry odd.
  EXPECT_EQ(plan.failures, 8u);
  EXPECT_EQ(plan.calls, 17u);
  EXPECT_EQ(gen.calls, 9u) << "a failed fetch never reached the source";
  EXPECT_EQ(c->stats().corrupt_files, 0u);
}

TEST_F(FaultTest, AShortFetchThatFailsKeepsNothing) {
  auto c = open_cache();
  FileRef f = gen_file(4 * kBlock);
  GenSource gen(f.size);
  gen.piece = 512;
  FaultPlan plan;
  plan.short_read(When::nth({1}), kBlock + 100);  // a connection cut in the second block
  FaultSource src(gen, plan);
  auto r = read_str(*c, f, src, 0, 4 * kBlock);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Errc::kNetwork);
  EXPECT_EQ(plan.bytes_passed, kBlock + 100);
  EXPECT_FALSE(c->contains(f, 0, 1)) << "not even the complete first block: the run failed";
  auto again = read_str(*c, f, src, 0, 4 * kBlock);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(*again, gen_content(f.size));
}

TEST_F(FaultTest, AFlipInAResumedStreamIsCaughtByTheHash) {
  auto c = open_cache(kBlock, /*verify=*/true, /*whole_max=*/1 << 20);
  FileRef f = gen_file(6 * kBlock + 3);
  GenSource gen(f.size);
  gen.piece = 700;
  gen.rewind_at = 3 * kBlock;  // the connection drops and the source resumes from an earlier byte
  gen.rewind_to = kBlock;
  FaultPlan plan;
  plan.flip(When::nth({1}), 5 * kBlock);
  FaultSource src(gen, plan);
  auto r = read_str(*c, f, src, 10, 100);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, gen_content(f.size).substr(10, 100));
  EXPECT_EQ(plan.flips, 1u);
  EXPECT_EQ(plan.calls, 2u) << "the bad whole-file fetch, then a good one";
  EXPECT_EQ(plan.refreshes, 1u);
  EXPECT_EQ(c->stats().verify_refetches, 1u);
}

TEST_F(FaultTest, ReadersOfAStalledWholeFileFetchMakeOneFetch) {
  auto c = open_cache(kBlock, /*verify=*/true, /*whole_max=*/1 << 20);
  FileRef f = gen_file(5 * kBlock + 1);
  GenSource gen(f.size);
  FaultPlan plan;
  plan.stall(When::nth({1}));
  FaultSource src(gen, plan);
  std::vector<std::thread> ts;
  std::vector<std::string> got(6);
  for (int i = 0; i < 6; ++i)
    ts.emplace_back([&, i] {
      auto r = read_str(*c, f, src, i * kBlock, 50);
      if (r) got[i] = *r;
    });
  ASSERT_TRUE(plan.wait_stalled(1));
  plan.release();
  for (auto& t : ts) t.join();
  const std::string want = gen_content(f.size);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(got[i], want.substr(i * kBlock, 50)) << i;
  EXPECT_EQ(plan.calls, 1u) << "one whole-file fetch served every reader";
  EXPECT_EQ(plan.stalls, 1u);
}

// A source that reports success without having handed over every byte: even with verification
// off, the cache neither serves nor keeps the hole. Through the file (RunWriter) and through
// memory (fetch_span, the path of runs the cache cannot keep).
TEST_F(FaultTest, AShortFetchThatClaimsSuccessIsAnErrorNotData) {
  auto c = open_cache();  // verification off: nothing else would catch it
  FileRef f = gen_file(4 * kBlock);
  GenSource gen(f.size);
  gen.piece = 512;
  FaultPlan plan;
  plan.short_read(When::nth({1}), kBlock + 100, Status::ok());
  FaultSource src(gen, plan);
  auto r = read_str(*c, f, src, 0, 4 * kBlock);
  ASSERT_FALSE(r.ok()) << "served " << (r.ok() ? r->size() : 0) << " bytes of a short fetch";
  EXPECT_EQ(r.status().code(), Errc::kProtocol);
  EXPECT_FALSE(c->contains(f, 0, 1)) << "no block of a short fetch is marked present";
  auto again = read_str(*c, f, src, 0, 4 * kBlock);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(*again, gen_content(f.size));

  std::string buf(2 * kBlock, '\0');
  FaultPlan plan2;
  plan2.short_read(When::always(), 10, Status::ok());
  FaultSource src2(gen, plan2);
  Status s = fetch_span(src2, 0, std::span<char>(buf.data(), buf.size()));
  EXPECT_EQ(s.code(), Errc::kProtocol) << s.to_string();
}

}  // namespace
}  // namespace hffs::cache::test
