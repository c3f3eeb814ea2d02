// The one owner of a file descriptor: closed exactly once, when its UniqueFd goes away or is
// reset. No code outside this header calls close(2) on an fd it owns; pass `get()` to syscalls
// and `release()` only to an API that takes ownership (the kernel via FUSE, a FilePin).
#pragma once
#include <unistd.h>

#include <utility>

namespace hffs {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }
  // Gives the fd up without closing it.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  // Closes the fd held (if any) and takes `fd`. close(2)'s result is ignored on purpose: the fd
  // is gone either way (Linux), and read-only/cache fds have nothing left to flush.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0 && fd_ != fd) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Closes an fd this process does not hold in a UniqueFd (one received from the kernel, an
// atomic slot). Spelled once so that `grep close(` finds only this header.
inline void close_fd(int fd) noexcept {
  if (fd >= 0) ::close(fd);
}

// Closes `fd` now and tells whether close(2) succeeded. For a file just written: on NFS or under
// a quota, a failed close means its bytes may not have landed. The fd is gone either way.
[[nodiscard]] inline bool close_checked(UniqueFd& fd) noexcept {
  int f = fd.release();
  return f < 0 || ::close(f) == 0;
}

}  // namespace hffs
