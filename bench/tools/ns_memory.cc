// Memory and build time of fs::Namespace for a synthetic dataset-shaped tree (issue 15, huge
// repos). Not a test: it prints numbers to compare before/after a change of the tree's layout.
//
//   ns_memory [N...]        (default: 100000 1000000)
//
// Paths look like "data/train/shard-000123/000045.jpg": a directory every 1000 files, ~45% of
// files LFS (64-hex sha256), every file a 40-hex git oid, directories listed as the Hub lists them.
// Per N it prints: heap in use and RSS per inode once the TreeEntry vector is freed and the heap
// trimmed (what a mount keeps), RSS before the trim, the peak, the build time, and the cost of
// one find_path() over every file.
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "fs/namespace.h"

namespace {

using Clock = std::chrono::steady_clock;

uint64_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

uint64_t peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  return 0;
}

uint64_t heap_in_use() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

std::string hex(std::mt19937_64& rng, size_t digits) {
  static const char* d = "0123456789abcdef";
  std::string s(digits, '0');
  for (auto& c : s) c = d[rng() & 15];
  return s;
}

std::string file_path(size_t i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "data/train/shard-%06zu/%06zu.jpg", i / 1000, i % 1000);
  return buf;
}

std::vector<hffs::hubapi::TreeEntry> make_entries(size_t n) {
  using hffs::hubapi::TreeEntry;
  std::mt19937_64 rng(n);
  std::vector<TreeEntry> v;
  v.reserve(n + n / 1000 + 3);
  auto dir = [&](std::string p) {
    TreeEntry e;
    e.type = TreeEntry::Type::kDirectory;
    e.path = std::move(p);
    e.oid = hex(rng, 40);
    v.push_back(std::move(e));
  };
  dir("data");
  dir("data/train");
  for (size_t i = 0; i < n; ++i) {
    if (i % 1000 == 0) {
      std::string p = file_path(i);
      dir(p.substr(0, p.rfind('/')));
    }
    TreeEntry e;
    e.path = file_path(i);
    e.oid = hex(rng, 40);
    e.size = 1000 + rng() % 500000;
    if (rng() % 100 < 45) e.lfs_sha256 = hex(rng, 64);
    v.push_back(std::move(e));
  }
  return v;
}

double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

int run(size_t n) {
  malloc_trim(0);
  const uint64_t rss0 = rss_bytes(), heap0 = heap_in_use();
  auto entries = make_entries(n);
  const uint64_t entries_heap = heap_in_use() - heap0;
  auto t0 = Clock::now();
  auto ns = hffs::fs::Namespace::build(entries);
  auto t1 = Clock::now();
  if (!ns) {
    std::fprintf(stderr, "build failed: %s\n", ns.status().to_string().c_str());
    return 1;
  }
  std::vector<hffs::hubapi::TreeEntry>().swap(entries);
  const uint64_t heap = heap_in_use() - heap0;
  const uint64_t rss_untrimmed = rss_bytes() - rss0;
  malloc_trim(0);
  const uint64_t rss = rss_bytes() - rss0;
  const double inodes = static_cast<double>(ns->inode_count());

  auto t2 = Clock::now();
  size_t found = 0;
  for (size_t i = 0; i < n; ++i) found += ns->find_path(file_path(i)) != nullptr;
  auto t3 = Clock::now();
  if (found != n) {
    std::fprintf(stderr, "find_path found %zu of %zu files\n", found, n);
    return 1;
  }
  std::printf(
      "N=%zu inodes=%zu  heap/inode=%.0f B  rss/inode=%.0f B (untrimmed %.0f B)  peak=%.0f MiB  "
      "TreeEntry heap/entry=%.0f B  build=%.3f s  find_path=%.0f ns/file\n",
      n, ns->inode_count(), heap / inodes, rss / inodes, rss_untrimmed / inodes, peak_rss_bytes() / 1048576.0,
      entries_heap / inodes, secs(t0, t1), secs(t2, t3) * 1e9 / static_cast<double>(n));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::strtoull(argv[i], nullptr, 10));
  if (sizes.empty()) sizes = {100000, 1000000};
  for (size_t n : sizes)
    if (int rc = run(n)) return rc;
  return 0;
}
