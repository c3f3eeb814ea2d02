// Fakes of what the FUSE adapter hands to FsOps: the kernel's backing files, a readdir page, a
// worker thread's pipe and buffer. No /dev/fuse.
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/fd.h"
#include "fs/ops.h"

namespace hffs::test {

// Registers backing files without a kernel; can refuse, or be off (not negotiated).
class FakeKernel final : public fs::BackingFiles {
 public:
  bool enabled() const override { return on; }
  int open(int fd) override {
    ++opens;
    if (refuse) {
      on = false;  // what the adapter does when the kernel refuses
      return 0;
    }
    last_fd = fd;
    return ++next_id;
  }
  void close(int id) override { closed.push_back(id); }

  bool on = true;
  bool refuse = false;
  int opens = 0;
  int next_id = 0;
  int last_fd = -1;
  std::vector<int> closed;
};

// A readdir page of at most `room` entries.
class PageFiller final : public fs::DirFiller {
 public:
  struct Item {
    std::string name;
    fs::Attr attr;
    bool entry;
    uint64_t next;
  };
  explicit PageFiller(size_t room, bool plus = false) : room_(room), plus_(plus) {}
  bool plus() const override { return plus_; }
  bool add(std::string_view name, const fs::Attr& a, bool entry, uint64_t next) override {
    if (items.size() == room_) return false;
    items.push_back({std::string(name), a, entry, next});
    return true;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (auto& i : items) out.push_back(i.name);
    return out;
  }
  std::vector<Item> items;

 private:
  size_t room_;
  bool plus_;
};

// A worker thread's pipe (optional) and buffer; counts what the core asked for.
class FakeTarget final : public fs::ReadTarget {
 public:
  explicit FakeTarget(bool with_pipe) {
    if (!with_pipe) return;
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return;
    rd_.reset(p[0]);
    wr_.reset(p[1]);
    ::fcntl(p[1], F_SETPIPE_SZ, 1 << 20);  // may stay smaller: the tests read a few blocks
    pipe_ = {p[0], p[1]};
  }
  const fs::Pipe* pipe() override {
    ++pipe_asks;
    return rd_ ? &pipe_ : nullptr;
  }
  std::span<char> buffer(size_t len) override {
    ++buffer_asks;
    if (buf.size() < len) buf.resize(len);
    return buf;
  }
  // The n bytes a spliced read left in the pipe.
  std::string take(size_t n) {
    std::string s(n, '\0');
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::read(pipe_.rd, s.data() + got, n - got);
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
    s.resize(got);
    return s;
  }

  int pipe_asks = 0, buffer_asks = 0;
  std::vector<char> buf;

 private:
  UniqueFd rd_, wr_;
  fs::Pipe pipe_;
};

}  // namespace hffs::test
