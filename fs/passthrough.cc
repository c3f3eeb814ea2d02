#include "fs/passthrough.h"

#include <linux/fuse.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include "fs/errno_map.h"

namespace hffs::fs {

namespace {

// Kernel ABI 7.40+ pieces missing from Debian 12's <linux/fuse.h> (kernel 6.1 headers).
constexpr uint32_t kInitExt = 1u << 30;            // FUSE_INIT_EXT: flags2 is valid
constexpr uint32_t kPassthroughFlags2 = 1u << 5;   // FUSE_PASSTHROUGH = 1ULL << 37
constexpr uint32_t kFopenPassthrough = 1u << 7;    // FOPEN_PASSTHROUGH
constexpr uint32_t kOpcodeInit = 26;               // FUSE_INIT

struct InitIn {  // struct fuse_init_in, 7.36+
  uint32_t major, minor, max_readahead, flags, flags2;
};
struct InitOut {  // struct fuse_init_out, 7.40: max_stack_depth took unused[0]
  uint32_t major, minor, max_readahead, flags;
  uint16_t max_background, congestion_threshold;
  uint32_t max_write, time_gran;
  uint16_t max_pages, map_alignment;
  uint32_t flags2, max_stack_depth;
};
struct OpenOut {  // struct fuse_open_out, 7.40: backing_id took the padding
  uint64_t fh;
  uint32_t open_flags;
  int32_t backing_id;
};
struct BackingMap {  // struct fuse_backing_map
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
static_assert(sizeof(OpenOut) == sizeof(fuse_open_out));
static_assert(offsetof(InitOut, flags2) == 32);

#define HFFS_FUSE_DEV_IOC_BACKING_OPEN _IOW(229, 1, BackingMap)
#define HFFS_FUSE_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

thread_local int pending_backing_id = 0;

const fuse_out_header* reply_header(const struct iovec* iov, int count) {
  if (count < 2 || iov[0].iov_len < sizeof(fuse_out_header)) return nullptr;
  auto* h = static_cast<const fuse_out_header*>(iov[0].iov_base);
  return h->error == 0 ? h : nullptr;
}

}  // namespace

bool init_offers_passthrough(const void* msg, size_t len, uint64_t* unique) {
  if (len < sizeof(fuse_in_header) + sizeof(InitIn)) return false;
  fuse_in_header h;
  std::memcpy(&h, msg, sizeof h);
  if (h.opcode != kOpcodeInit) return false;
  InitIn in;
  std::memcpy(&in, static_cast<const char*>(msg) + sizeof h, sizeof in);
  if (!(in.flags & kInitExt) || !(in.flags2 & kPassthroughFlags2)) return false;
  *unique = h.unique;
  return true;
}

bool amend_init_reply(struct iovec* iov, int count, uint64_t init_unique) {
  const fuse_out_header* h = reply_header(iov, count);
  if (!h || h->unique != init_unique || iov[1].iov_len < sizeof(InitOut)) return false;
  auto* out = static_cast<InitOut*>(iov[1].iov_base);
  out->flags |= kInitExt;
  out->flags2 |= kPassthroughFlags2;
  out->max_stack_depth = 1;  // backing files are on a plain filesystem
  return true;
}

bool amend_open_reply(struct iovec* iov, int count, int backing_id) {
  const fuse_out_header* h = reply_header(iov, count);
  if (!h || backing_id <= 0 || iov[1].iov_len != sizeof(OpenOut)) return false;
  auto* out = static_cast<OpenOut*>(iov[1].iov_base);
  out->open_flags |= kFopenPassthrough;
  out->backing_id = backing_id;
  return true;
}

int passthrough_backing_open(int dev_fd, int backing_fd) {
  BackingMap m{backing_fd, 0, 0};
  int id = ::ioctl(dev_fd, HFFS_FUSE_DEV_IOC_BACKING_OPEN, &m);
  return backing_open_result(id, errno);
}

void passthrough_backing_close(int dev_fd, int backing_id) {
  uint32_t id = static_cast<uint32_t>(backing_id);
  (void)::ioctl(dev_fd, HFFS_FUSE_DEV_IOC_BACKING_CLOSE, &id);
}

void set_pending_backing_id(int id) { pending_backing_id = id; }
int take_pending_backing_id() {
  int id = pending_backing_id;
  pending_backing_id = 0;
  return id;
}

}  // namespace hffs::fs
