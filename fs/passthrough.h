// FUSE passthrough (Linux >= 6.9) for libfuse 3.14, which predates it. The kernel reads a
// passthrough file straight from a backing file we register; hffs uses it for files that are
// entirely on local disk (complete in the block cache, or a blob of the HF cache), so warm and hot
// reads cost what a local file costs. Negotiation: the kernel offers FUSE_PASSTHROUGH in INIT's
// flags2; we amend libfuse's INIT reply (flags2 bit, max_stack_depth 1) in a writev hook, then
// amend each passthrough open reply (FOPEN_PASSTHROUGH + backing id). Pure functions over the
// wire structs, so they are unit-tested without a kernel.
#pragma once
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

namespace hffs::fs {

// The INIT request (as read from /dev/fuse): true when it offers passthrough; *unique is its id.
bool init_offers_passthrough(const void* msg, size_t len, uint64_t* unique);
// If iov is the successful reply to request `init_unique`, turns passthrough on in it. True if amended.
bool amend_init_reply(struct iovec* iov, int count, uint64_t init_unique);
// If iov is a successful open reply, marks it FOPEN_PASSTHROUGH with `backing_id`. True if amended.
bool amend_open_reply(struct iovec* iov, int count, int backing_id);

// FUSE_DEV_IOC_BACKING_OPEN on the session's /dev/fuse fd: a backing id (> 0) or -errno.
int passthrough_backing_open(int dev_fd, int backing_fd);
void passthrough_backing_close(int dev_fd, int backing_id);

// The open reply about to be sent by this thread carries this backing id (0: none).
void set_pending_backing_id(int id);
int take_pending_backing_id();

}  // namespace hffs::fs
