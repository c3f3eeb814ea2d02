// Shared helpers for cache tests: temp dirs, a deterministic counting BlockSource.
#pragma once
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cache/block_cache.h"
#include "cache/maintenance.h"
#include "common/sha.h"

namespace hffs::cache::test {

// Byte `offset` of generated content `salt`: deterministic, not periodic in block sizes.
inline char gen_byte(uint64_t offset, uint32_t salt = 0) {
  uint64_t x = (offset + salt) * 0x9E3779B97F4A7C15ull;
  x ^= x >> 29;
  return static_cast<char>(x >> 24);
}

inline std::string gen_content(uint64_t size, uint32_t salt = 0) {
  std::string s(size, '\0');
  for (uint64_t i = 0; i < size; ++i) s[i] = gen_byte(i, salt);
  return s;
}

// A FileRef whose key is the real sha256 of the generated content.
inline FileRef gen_file(uint64_t size, uint32_t salt = 0) {
  return FileRef{sha256_hex(gen_content(size, salt)), HashKind::kSha256, size};
}

class GenSource : public BlockSource {
 public:
  explicit GenSource(uint64_t size, uint32_t salt = 0) : size_(size), salt_(salt) {}
  // Pieces of `piece` bytes, in order, like a network source (0: the whole range in one piece).
  // rewind_at > 0 then also replays a resume after a dropped connection: once that many bytes
  // are out, the stream goes back to rewind_to and sends from there again.
  Status fetch(uint64_t offset, uint64_t len, ByteSink& sink) override {
    calls.fetch_add(1);
    const uint32_t salt = next_salt();
    bytes.fetch_add(len);
    {
      std::lock_guard lk(mu);
      ranges.emplace_back(offset, len);
    }
    if (hook) {
      Status s = hook(offset, len);
      if (!s) return s;
    }
    if (offset + len > size_) return Status(Errc::kProtocol, "fetch past EOF");
    const uint64_t step = piece ? piece : std::max<uint64_t>(len, 1);
    std::vector<char> buf(static_cast<size_t>(step));
    bool rewound = false;
    for (uint64_t at = 0; at < len;) {
      if (rewind_at > 0 && !rewound && at >= rewind_at) {
        rewound = true;
        at = std::min(rewind_to, at);
      }
      size_t n = static_cast<size_t>(std::min<uint64_t>(step, len - at));
      for (size_t i = 0; i < n; ++i) buf[i] = gen_byte(offset + at + i, salt);
      if (!sink.put(at, std::span<const char>(buf.data(), n))) return Status(Errc::kIo, "the sink refused");
      at += n;
    }
    return Status::ok();
  }
  void refresh() override { refreshes.fetch_add(1); }
  std::string name() const override { return "'gen-file' (test source)"; }
  size_t piece = 0;
  uint64_t rewind_at = 0, rewind_to = 0;
  // The first `lies` fetches serve the content of salt `lie_salt` instead (right length, wrong bytes).
  std::atomic<int> lies{0};
  uint32_t lie_salt = 99;
  std::atomic<int> refreshes{0};
  std::atomic<uint64_t> calls{0}, bytes{0};
  std::mutex mu;
  std::vector<std::pair<uint64_t, size_t>> ranges;
  std::function<Status(uint64_t, size_t)> hook;  // runs before generating; may block or fail

 private:
  uint32_t next_salt() {
    int l = lies.load();
    while (l > 0 && !lies.compare_exchange_weak(l, l - 1)) {
    }
    return l > 0 ? lie_salt : salt_;
  }
  uint64_t size_;
  uint32_t salt_;
};

// Polls `pred` (no sleeping as synchronisation: yields) until true or the deadline passes.
inline bool eventually(const std::function<bool()>& pred, std::chrono::seconds deadline = std::chrono::seconds(20)) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::yield();
  }
  return true;
}

class CacheTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kBlock = 4096;
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "hffs-cache-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  // verify: VerifyMode::kAuto, with files up to whole_max verified before they are served (0: every
  // file hashed as it arrives). Tests whose keys are not content hashes leave it off.
  std::unique_ptr<BlockCache> open_cache(uint32_t block = kBlock, bool verify = false, uint64_t whole_max = 0,
                                         VerifyMode mode = VerifyMode::kAuto) {
    CacheConfig cfg;
    cfg.dir = dir_;
    cfg.block_size = block;
    cfg.verify = verify ? mode : VerifyMode::kOff;
    cfg.whole_file_max = whole_max;
    cfg.on_corrupt = [this](const FileRef& f) { corrupt_calls.fetch_add(1); };
    auto c = BlockCache::open(cfg);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    last_cfg_ = cfg;
    return c ? std::move(*c) : nullptr;
  }
  // `hffs cache`'s view of the directory, opened (once) with the config of the last cache opened
  // through the fixture: what a maintenance command run next to it sees.
  CacheMaintenance& maint() {
    if (!maint_) {
      auto m = CacheMaintenance::open(last_cfg_);
      EXPECT_TRUE(m.ok()) << m.status().to_string();
      if (m) maint_ = std::move(*m);
    }
    return *maint_;
  }
  std::filesystem::path data_path(const FileRef& f) const {
    return dir_ / "hffs-v1" / "data" / f.key.substr(0, 2) / f.key;
  }
  std::filesystem::path map_path(const FileRef& f) const {
    return dir_ / "hffs-v1" / "data" / f.key.substr(0, 2) / (f.key + ".map");
  }
  // Reads [off, off+len) and checks the bytes against the generated content.
  void expect_read(BlockCache& c, const FileRef& f, GenSource& src, uint64_t off, size_t len, uint32_t salt = 0) {
    std::string buf(len, '\x55');
    auto r = c.read(f, off, std::span<char>(buf.data(), buf.size()), src);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    size_t want = off >= f.size ? 0 : static_cast<size_t>(std::min<uint64_t>(len, f.size - off));
    ASSERT_EQ(*r, want) << "read at " << off << " len " << len;
    for (size_t i = 0; i < want; ++i) ASSERT_EQ(buf[i], gen_byte(off + i, salt)) << "byte " << off + i;
  }

  std::filesystem::path dir_;
  std::atomic<int> corrupt_calls{0};  // CacheConfig::on_corrupt calls
  CacheConfig last_cfg_;
  std::unique_ptr<CacheMaintenance> maint_;
};

}  // namespace hffs::cache::test
