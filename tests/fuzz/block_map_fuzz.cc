// The cache-map file reader (cache/block_map.cc): a `<key>.map` of any content, as a crash, a full
// disk or another program may leave it. The first input byte picks the geometry the cache expects
// (matching the file's length or not); the rest is the file. An opened map reports exactly the bytes
// of the file, and only a file with the right magic, block size and length opens.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "cache/block_map.h"
#include "tests/fuzz/fuzz_check.h"

namespace fs = std::filesystem;

namespace {

const fs::path& scratch() {
  // Never destroyed: the atexit cleanup below runs after static destructors would have.
  static const fs::path* dir = new fs::path([] {
    fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path d = base / ("hffs-fuzz-map-" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    std::atexit([] { std::error_code ec; fs::remove_all(scratch(), ec); });
    return d;
  }());
  return *dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hffs::cache;
  if (size < 1) return 0;
  uint8_t mode = data[0];
  const uint8_t* file = data + 1;
  size_t len = size - 1;

  fs::path p = scratch() / "k.map";
  int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(len == 0 || ::write(fd, file, len) == static_cast<ssize_t>(len));
  ::close(fd);

  uint32_t recorded = 0;
  if (len >= 12) std::memcpy(&recorded, file + 8, 4);
  uint64_t nblocks = len >= kMapHeaderSize ? len - kMapHeaderSize : 0;
  if (mode & 1) nblocks += (mode >> 1);       // a length the file does not have
  uint32_t block_size = (mode & 2) ? 1u << 20 : recorded;

  auto m = BlockMap::open(p, nblocks, block_size, /*create=*/false);
  bool should_open = len >= kMapHeaderSize && kMapHeaderSize + nblocks == len &&
                     std::memcmp(file, "HFFSMAP1", 8) == 0 && recorded == block_size;
  FUZZ_CHECK(static_cast<bool>(m) == should_open);
  if (!m) return 0;
  BlockMap& map = **m;
  FUZZ_CHECK(map.nblocks() == nblocks);
  for (uint64_t i = 0; i < nblocks; ++i) FUZZ_CHECK(map.state(i) == file[kMapHeaderSize + i]);
  if (nblocks > 0) {
    bool all = true;
    for (uint64_t i = 0; i < nblocks; ++i) all = all && file[kMapHeaderSize + i] != kAbsent;
    FUZZ_CHECK(map.present_range(0, nblocks - 1) == all);
  }
  uint32_t flags = 0;
  std::memcpy(&flags, file + 12, 4);
  FUZZ_CHECK(map.retired() == ((flags & 1) != 0));
  (void)map.generation();
  return 0;
}
