// Streams a fetched run of blocks into its cache file as the pieces arrive, through a small
// per-thread buffer that stays in the CPU cache (under TLS the pieces are single 16 KiB records),
// and copies the part a reader asked for into its buffer on the way. No buffer of the run's size:
// the network's bytes are copied once into the page cache, instead of into memory and then
// into the page cache.
#pragma once
#include <cstdint>
#include <span>

#include "common/byte_sink.h"
#include "common/status.h"

namespace hffs::cache {

struct CacheFile;

class RunWriter final : public ByteSink {
 public:
  // The run is the file's bytes [run_off, run_off + run_len). `out` (may be null) wants the
  // file's bytes [out_off, out_off + out_len); the overlap is copied there.
  RunWriter(const CacheFile& f, uint64_t run_off, uint64_t run_len, char* out, uint64_t out_off, uint64_t out_len);
  bool put(uint64_t at, std::span<const char> data) override;
  // Writes what is still buffered; false (see error()) if a write failed.
  bool finish();
  // Every byte of the run arrived (a source that reports success without them is lying: its
  // ok must not mark blocks present whose bytes were never written).
  bool complete() const { return covered_ == run_len_; }
  uint64_t covered() const { return covered_; }
  // The write that failed (the source's own failures are its return value, not this).
  const Status& error() const { return error_; }

 private:
  bool flush();
  bool write(uint64_t at, std::span<const char> data);

  const CacheFile& f_;
  uint64_t run_off_, run_len_;
  char* out_;
  uint64_t out_off_, out_len_;
  char* stage_;
  size_t staged_ = 0;  // bytes in stage_, which hold the run's bytes [next_ - staged_, next_)
  uint64_t next_ = 0;  // the `at` that continues the stream
  uint64_t covered_ = 0;  // the run's bytes [0, covered_) have all been put
  Status error_;
};

}  // namespace hffs::cache
