// What the FUSE adapter calls: one repo's Filesystem, or the HubNamespace of many repos. Every
// decision is made behind this interface (open modes and handles, when to splice, read-ahead,
// directory paging, which error); the adapter only translates between libfuse and these calls.
// Neither a cache type nor a FUSE type appears here: the adapter sees files, handles, pipes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hffs::fs {

struct Attr {
  uint64_t ino = 0;
  bool is_dir = false;
  uint64_t size = 0;
  uint32_t mode = 0;  // includes S_IFDIR/S_IFREG
  uint32_t nlink = 1;
  int64_t mtime = 0;
  uint32_t uid = 0, gid = 0;
  uint64_t blocks512 = 0;
  double entry_timeout = -1;  // < 0: the adapter's default (the pinned tree never changes)
};

struct DirEntry {
  std::string name;
  uint64_t ino;
  bool is_dir;
};

struct FsSummary {
  uint64_t bytes = 0;
  uint64_t inodes = 0;
};

// Both ends of a pipe the adapter owns (one per worker thread), for zero-copy replies.
struct Pipe {
  int rd = -1;
  int wr = -1;
};
// Reads and throws away up to n bytes waiting in the pipe (what a reply did not take).
void drain_pipe(const Pipe& p, size_t n);

// Where the bytes of one read go; the core picks one of the two per read. Owned by the adapter.
class ReadTarget {
 public:
  // A pipe with room for the whole request, or null (no zero-copy for this read). Asked only
  // when the bytes could be spliced (present in the block cache).
  virtual const Pipe* pipe() = 0;
  // A buffer of at least `len` bytes. Asked only when the bytes are copied, so a thread that only
  // ever splices never grows one.
  virtual std::span<char> buffer(size_t len) = 0;

 protected:
  ~ReadTarget() = default;
};

struct ReadDone {
  size_t bytes = 0;      // 0: EOF (or a zero-length read)
  bool spliced = false;  // true: the bytes wait in pipe(); false: they are at the start of buffer()
};

// The kernel's backing files (FUSE passthrough), registered over /dev/fuse by the adapter.
class BackingFiles {
 public:
  // Negotiated with the kernel, and not refused since.
  virtual bool enabled() const = 0;
  // Registers `fd` (the core keeps it open until close()): a backing id > 0, or 0 when the
  // kernel refused (the adapter then stops offering passthrough).
  virtual int open(int fd) = 0;
  virtual void close(int backing_id) = 0;

 protected:
  ~BackingFiles() = default;
};

// How the kernel is to keep a file it opened.
struct OpenReply {
  uint64_t fh = 0;          // the handle: given back to read() and release()
  bool keep_cache = false;  // the kernel may keep its page cache of the file across opens
  int backing_id = 0;       // > 0: passthrough; the kernel reads this backing file itself
};

// Takes the entries of one readdir page.
class DirFiller {
 public:
  // True for readdirplus: entries come with their attributes.
  virtual bool plus() const = 0;
  // Adds one entry; the listing resumes at `next` after it. `attr` has at least ino and the
  // S_IFMT bits of mode; with `entry` (readdirplus only) it is complete and the kernel may keep
  // it as a looked-up entry. False when the page is full: this entry was not added.
  virtual bool add(std::string_view name, const Attr& attr, bool entry, uint64_t next) = 0;

 protected:
  ~DirFiller() = default;
};

class FsOps {
 public:
  virtual ~FsOps() = default;
  virtual Result<Attr> lookup(uint64_t parent, std::string_view name) = 0;
  virtual Result<Attr> getattr(uint64_t ino) = 0;
  // access(2): kEntryNotFound for an unknown inode, kReadOnly for write access, else ok.
  Status access(uint64_t ino, int mask);
  // Any write access is kReadOnly. The reply says which handle, page-cache and passthrough mode
  // the kernel is to use; every successful open is matched by one release() with its handle.
  virtual Result<OpenReply> open(uint64_t ino, int flags, BackingFiles& kernel) = 0;
  virtual void release(uint64_t ino, uint64_t fh) = 0;
  // Reads up to `len` bytes at `offset` through handle `fh` (short at EOF, 0 past it): spliced
  // into to.pipe() when every byte is present in the block cache (and may be served so), else
  // copied into to.buffer(). One call, one lookup of the file, whichever way the bytes go. A
  // handle opened before the file's content failed verification reads nothing (kIo): it may have
  // been served bytes that were dropped as bad.
  virtual Result<ReadDone> read(uint64_t ino, uint64_t fh, uint64_t offset, size_t len, ReadTarget& to) = 0;
  virtual Status opendir(uint64_t ino) = 0;
  // One page of a directory from `offset` (0: the start): ".", "..", then the children in a
  // stable order, until `out` is full.
  virtual Status readdir(uint64_t ino, uint64_t offset, DirFiller& out) = 0;
  virtual Result<std::string> getxattr(uint64_t ino, std::string_view name) = 0;
  virtual Result<std::vector<std::string>> listxattr(uint64_t ino) = 0;
  virtual FsSummary summary() = 0;
  // Inodes whose content is `key` (to drop the kernel's page cache after a mismatch). Linear in
  // the tree: for rare events only.
  virtual std::vector<uint64_t> inodes_of(const std::string& key) { return {}; }
};

}  // namespace hffs::fs
