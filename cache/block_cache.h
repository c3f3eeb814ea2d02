// On-disk block cache keyed by content (sha256 / git sha1 + block index), shared by processes.
// See docs/ARCHITECTURE.md "Cache format". This is the read path a mount (or prefetch) uses;
// what only `hffs cache` needs (usage, gc, clear, verify_all) is cache/maintenance.h.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "cache/block_source.h"
#include "common/fd.h"
#include "cache/file_ref.h"
#include "common/sha.h"
#include "common/status.h"

namespace hffs::cache {

// Space on the cache's filesystem (statvfs: f_blocks and f_bavail times f_frsize).
struct FsSpace {
  uint64_t total = 0;
  uint64_t avail = 0;
};

// A size given as bytes or as a percentage of the cache filesystem's total size.
struct SizeSpec {
  uint64_t bytes = 0;
  double percent = 0;  // used when > 0
  bool is_set() const { return bytes > 0 || percent > 0; }
  uint64_t resolve(uint64_t fs_total) const {
    return percent > 0 ? static_cast<uint64_t>(static_cast<double>(fs_total) * percent / 100.0) : bytes;
  }
};
// "500M", "20G", "1.5T", "4096", "4K", "10%" (binary units: K = 1024). Zero is invalid.
Result<SizeSpec> parse_size(const std::string& text);

// Both ends of a pipe (pipe2): what splice_present writes into and drains on a failed check.
struct PipeFds {
  int rd = -1;
  int wr = -1;
};
// Reads and throws away up to n bytes waiting in the pipe.
void drain_pipe(const PipeFds& p, size_t n);

enum class VerifyMode {
  kOff,     // nothing is hashed (test fakes)
  kAuto,    // files up to whole_file_max: fetched whole and verified before their first byte is
            // served; larger files: hashed as their blocks arrive, and the read that finds the file
            // complete fails (kCorrupt) if the hash does not match; a file that failed once is then
            // served only once it has been fetched whole and verified
  kStrict,  // no byte of any file is served before the whole file is verified
};
// "auto" / "strict" (and "off", for tests and benchmarks only).
Result<VerifyMode> parse_verify_mode(const std::string& text);

struct CacheConfig {
  std::filesystem::path dir;          // root; created if missing
  uint32_t block_size = 1u << 20;     // 1 MiB; fixed per cache dir (recorded on first open)
  // fdatasync the data file before a block is marked present. Off: a kill -9 can never make the
  // cache serve wrong bytes (page cache survives the process), but a power loss can (the map page
  // may reach disk before the data pages). On: power-loss safe, one fdatasync per fetched run.
  bool durable = false;
  // How fetched content is checked against its key (docs/CACHE.md "Verification"). kOff by
  // default because callers whose keys are not real content hashes (test fakes) would see their
  // data dropped; `hffs mount` uses kAuto unless told otherwise.
  VerifyMode verify = VerifyMode::kOff;
  // kAuto: files up to this size are fetched whole and verified before their first byte is served.
  uint64_t whole_file_max = uint64_t{4} << 20;
  // After a file failed verification twice in a row, reads answer EIO for this long without
  // fetching; then the next read fetches and verifies again.
  std::chrono::milliseconds corrupt_retry_after{30'000};
  // Bound on per-file open state kept around (2 fds + 1 mmap each), least recently used evicted.
  size_t max_open_files = 256;

  // Bound on the bytes of blocks kept (summed over every process sharing `dir`). Unset: 50% of
  // the filesystem's total size, capped by (bytes kept now + free space - min_free), and never
  // below 64 blocks. Above it, least recently used files' blocks are evicted down to the low-water
  // mark: 90% of the bound (or bound - the run being stored, if lower).
  SizeSpec max_size;
  // Free-space floor on the cache filesystem. Unset: min(1 GiB, 5% of the total). Below it blocks
  // are evicted; if that cannot free enough, fetched bytes are served without being kept.
  SizeSpec min_free;
  // A file's last-use time (its map's mtime) is refreshed at most this often per process.
  uint32_t touch_interval_ms = 1000;
  // statvfs of the cache directory; injectable for tests. Unset: statvfs(2).
  std::function<Result<FsSpace>(const std::filesystem::path&)> statfs;
  // Called on the verifier thread (verify_on_complete) right after a complete file was hashed
  // and marked verified. Must not call back into the cache's verification; keep it short or hand
  // the work to a thread of its own (the cli publishes into the HF cache from here).
  std::function<void(const FileRef&)> on_verified;
  // Called (on the thread that found it) after content failed verification and its blocks were
  // dropped: whoever may hold copies of the bad bytes (the kernel's page cache) should drop them.
  // Must return quickly and must not call back into the cache.
  std::function<void(const FileRef&)> on_corrupt;
};

struct CacheStats {
  uint64_t hit_bytes = 0;      // bytes served from disk
  uint64_t miss_bytes = 0;     // bytes fetched from a source
  uint64_t fetches = 0;        // BlockSource::fetch calls
  uint64_t waits = 0;          // readers that waited on another's in-flight fetch
  uint64_t shared_bytes = 0;   // bytes handed to waiters from the leader's in-memory buffer
  uint64_t write_errors = 0;   // fetched runs that could not be written (ENOSPC, EIO): served, not kept
  uint64_t lock_waits = 0;     // fetched runs whose blocks another process filled while we waited
  uint64_t verified_files = 0; // verify_file successes
  uint64_t corrupt_files = 0;  // verify_file mismatches (blocks dropped)
  uint64_t evicted_bytes = 0;  // bytes this instance evicted to keep the bound / the floor
  uint64_t evictions = 0;      // eviction passes run by this instance
  uint64_t unkept_bytes = 0;   // fetched bytes not kept because the free-space floor was reached
  uint64_t verify_refetches = 0;  // whole files fetched again (fresh location) after a mismatch
  uint64_t verify_failures = 0;   // files that failed verification twice in a row (EIO for a while)
};

// A complete file handed to the kernel to read directly (FUSE passthrough). While it lives, no
// process evicts, clears or drops the file's blocks (they count as busy).
class FilePin {
 public:
  explicit FilePin(UniqueFd fd) : fd_(std::move(fd)) {}
  explicit FilePin(int fd) : fd_(fd) {}  // takes the fd: closed with the pin
  virtual ~FilePin() = default;
  FilePin(const FilePin&) = delete;
  FilePin& operator=(const FilePin&) = delete;
  int data_fd() const { return fd_.get(); }  // read-only fd of the whole content

 private:
  UniqueFd fd_;
};

class BlockCache {
 public:
  // Opens (creating if missing) the cache under cfg.dir. A set cfg.max_size is recorded with the
  // cache while this instance lives, so that `hffs cache stats` shows the bound mounts enforce.
  static Result<std::unique_ptr<BlockCache>> open(const CacheConfig& cfg);
  virtual ~BlockCache() = default;

  // Reads [offset, offset+out.size()) of `file` (caller clamps at EOF). Missing blocks are
  // fetched from `src`, one fetch per block however many readers (threads or processes) want
  // it. Returns the number of bytes read.
  virtual Result<size_t> read(const FileRef& file, uint64_t offset, std::span<char> out,
                              BlockSource& src) = 0;
  // Makes [offset, offset+len) present like read() does, without copying a byte out: present
  // blocks are skipped, blocks another reader of this process is fetching are left to it (no
  // wait), the rest are fetched (one fetch per run of missing blocks) and stored. Used by read-ahead.
  virtual Status prefetch(const FileRef& file, uint64_t offset, uint64_t len, BlockSource& src) = 0;
  // Zero-copy serving: when every block of [offset, offset+len) (clamped at EOF) is present,
  // splices those bytes of the data file into `pipe` (page references, no copy) and
  // returns how many. Returns 0, with the pipe untouched, when a block is missing, or when the
  // verification policy wants read() to serve the range (unverified blocks of a file that must be
  // verified first, or the read that finds a file complete): the caller reads instead. A block dropped while it was spliced is detected with the same drop-generation
  // check read() uses; the pipe is then drained again and 0 is returned. The pipe must have room
  // for len bytes (F_SETPIPE_SZ).
  virtual Result<size_t> splice_present(const FileRef& file, uint64_t offset, size_t len, const PipeFds& pipe) = 0;
  // Pins `file` when every block is present (and nobody is evicting it) and, unless verification
  // is off, verified: null otherwise. A complete unverified file is queued for verification, so a
  // later open can be pinned.
  virtual std::unique_ptr<FilePin> pin_complete(const FileRef& file) = 0;
  // True when every byte of [offset, offset+len) is on disk (no fetch needed).
  virtual bool contains(const FileRef& file, uint64_t offset, uint64_t len) = 0;
  // How many times `file`'s content failed verification in this process (0: never). A reader that
  // was served bytes of the file at one epoch and sees another had bytes that were dropped as bad.
  virtual uint64_t corrupt_epoch(const FileRef& file) const = 0;
  virtual CacheStats stats() const = 0;
  virtual uint32_t block_size() const = 0;

  // When every block of `file` is present: hash the data file (sha256 or git blob sha1 by
  // file.kind) and compare with file.key. Match: blocks are marked verified, ok. Mismatch: every
  // block is dropped (map bytes cleared, holes punched) and kCorrupt is returned, so the next
  // read refetches. Not every block present: kInvalidInput ("not fully cached"), nothing changes.
  virtual Status verify_file(const FileRef& file) = 0;
  // Waits until background work queued so far (verify_on_complete) has finished.
  virtual void quiesce() = 0;
};

}  // namespace hffs::cache
