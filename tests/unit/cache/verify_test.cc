// verify_file: whole-file hash check, drop on mismatch, verify_on_complete.
#include <fcntl.h>
#include <unistd.h>

#include <fstream>

#include "cache_fixture.h"

namespace hffs::cache::test {
namespace {

using VerifyTest = CacheTest;

std::string map_bytes(const std::filesystem::path& p) {
  std::ifstream m(p, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(m)), std::istreambuf_iterator<char>());
  return s.size() >= 16 ? s.substr(16) : std::string();
}

TEST_F(VerifyTest, CompleteGoodFileIsMarkedVerified) {
  auto c = open_cache();
  FileRef f = gen_file(3 * kBlock + 5);
  GenSource src(f.size);
  expect_read(*c, f, src, 0, f.size);
  ASSERT_TRUE(c->verify_file(f).is_ok());
  EXPECT_EQ(map_bytes(map_path(f)), std::string(4, '\2'));
  EXPECT_EQ(c->stats().verified_files, 1u);
  expect_read(*c, f, src, 0, f.size);  // verified blocks are still served
  EXPECT_EQ(src.calls.load(), 1u);
}

TEST_F(VerifyTest, IncompleteFileIsNotVerified) {
  auto c = open_cache();
  FileRef f = gen_file(3 * kBlock);
  EXPECT_EQ(c->verify_file(f).code(), Errc::kInvalidInput);  // nothing cached
  GenSource src(f.size);
  expect_read(*c, f, src, 0, kBlock);
  EXPECT_EQ(c->verify_file(f).code(), Errc::kInvalidInput);
  EXPECT_TRUE(c->contains(f, 0, kBlock)) << "nothing dropped";
}

TEST_F(VerifyTest, CorruptDataIsDetectedDroppedAndRefetched) {
  FileRef f = gen_file(5 * kBlock + 300);
  {
    auto c = open_cache();
    GenSource src(f.size);
    expect_read(*c, f, src, 0, f.size);
  }
  // Bit rot (or a bug) under a block that is marked present.
  int fd = ::open(data_path(f).c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  char x = static_cast<char>(~gen_byte(2 * kBlock + 9));
  ASSERT_EQ(::pwrite(fd, &x, 1, 2 * kBlock + 9), 1);
  ::close(fd);

  auto c = open_cache();
  Status s = c->verify_file(f);
  EXPECT_EQ(s.code(), Errc::kCorrupt) << s.to_string();
  EXPECT_EQ(c->stats().corrupt_files, 1u);
  EXPECT_FALSE(c->contains(f, 0, 1));
  EXPECT_EQ(map_bytes(map_path(f)), std::string(6, '\0'));

  GenSource src(f.size);
  expect_read(*c, f, src, 0, f.size);  // refetched, correct
  EXPECT_EQ(src.bytes.load(), f.size);
  EXPECT_TRUE(c->verify_file(f).is_ok());
}

TEST_F(VerifyTest, GitSha1Kind) {
  auto c = open_cache();
  std::string content = gen_content(kBlock + 10, 7);
  FileRef f{git_blob_sha1_hex(content), HashKind::kGitSha1, content.size()};
  GenSource src(f.size, 7);
  expect_read(*c, f, src, 0, f.size, 7);
  EXPECT_TRUE(c->verify_file(f).is_ok());
  FileRef as_sha256 = f;
  as_sha256.kind = HashKind::kSha256;  // hashed the wrong way: a mismatch
  EXPECT_EQ(c->verify_file(as_sha256).code(), Errc::kCorrupt);
}

TEST_F(VerifyTest, WrongContentFromTheSourceIsDroppedOnComplete) {
  auto c = open_cache(kBlock, /*verify=*/true);  // every file hashed as it arrives
  FileRef f = gen_file(3 * kBlock);
  GenSource liar(f.size, /*salt=*/99);  // serves bytes that do not hash to the key
  char b[16];
  ASSERT_TRUE(c->read(f, 0, b, liar).ok());
  ASSERT_TRUE(c->read(f, kBlock, std::span<char>(b, 16), liar).ok());
  EXPECT_EQ(c->stats().corrupt_files, 0u) << "not complete yet";
  auto r = c->read(f, 2 * kBlock, std::span<char>(b, 16), liar);  // completes the file
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Errc::kCorrupt) << "the read that completes a bad file fails";
  EXPECT_EQ(c->stats().corrupt_files, 1u);
  EXPECT_FALSE(c->contains(f, 0, 1));

  GenSource honest(f.size);
  expect_read(*c, f, honest, 0, f.size);
  EXPECT_EQ(c->stats().verified_files, 1u);
  EXPECT_EQ(map_bytes(map_path(f)), std::string(3, '\2'));
}

}  // namespace
}  // namespace hffs::cache::test
