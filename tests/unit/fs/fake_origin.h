// A FileOrigin that generates deterministic bytes and counts requests; can block or fail.
#pragma once
#include <atomic>
#include <condition_variable>
#include <mutex>

#include "fs/file_origin.h"

namespace hffs::test {

inline char byte_at(const std::string& key, uint64_t off) {
  return static_cast<char>((off * 2654435761u + key[0] * 31u + (off >> 13)) & 0xff);
}

class FakeOrigin : public fs::FileOrigin {
 public:
  Status fetch(const fs::Inode& file, uint64_t offset, std::span<char> out) override {
    calls.fetch_add(1);
    bytes.fetch_add(out.size());
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return !blocked; });
    }
    if (fail_next.exchange(false)) return Status(Errc::kNetwork, "injected failure");
    if (offset + out.size() > file.size) return Status(Errc::kProtocol, "read past EOF");
    for (size_t i = 0; i < out.size(); ++i) out[i] = byte_at(file.content_key, offset + i);
    return Status::ok();
  }
  std::string describe(const fs::Inode& f) const override { return "fake://" + f.path; }
  void set_blocked(bool b) {
    {
      std::lock_guard lk(mu);
      blocked = b;
    }
    cv.notify_all();
  }

  std::atomic<uint64_t> calls{0}, bytes{0};
  std::atomic<bool> fail_next{false};
  std::mutex mu;
  std::condition_variable cv;
  bool blocked = false;
};

}  // namespace hffs::test
