#include "cache/run_writer.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "cache/disk_store.h"

namespace hffs::cache {

namespace {

// Fits in L2 with room to spare; 16 pwrites per 4 MiB instead of 256 under TLS.
constexpr size_t kStage = 256u << 10;

char* stage_buffer() {
  // One per thread: a thread writes one run at a time (fetch_run is not re-entered).
  thread_local std::unique_ptr<char[]> buf(new char[kStage]);
  return buf.get();
}

}  // namespace

RunWriter::RunWriter(const CacheFile& f, uint64_t run_off, uint64_t run_len, char* out, uint64_t out_off,
                     uint64_t out_len)
    : f_(f), run_off_(run_off), run_len_(run_len), out_(out), out_off_(out_off), out_len_(out_len),
      stage_(stage_buffer()) {}

bool RunWriter::put(uint64_t at, std::span<const char> data) {
  if (!error_.is_ok()) return false;
  if (at > run_len_ || data.size() > run_len_ - at) {
    error_ = Status(Errc::kProtocol, "a source passed bytes outside the run it was asked for");
    return false;
  }
  if (at > covered_) {  // a source resumes at or before what it sent, never past a hole
    error_ = Status(Errc::kProtocol, "a source skipped bytes of the run it was asked for");
    return false;
  }
  covered_ = std::max(covered_, at + data.size());
  if (out_) {  // the reader's part, copied as it passes
    uint64_t lo = std::max(run_off_ + at, out_off_), hi = std::min(run_off_ + at + data.size(), out_off_ + out_len_);
    if (lo < hi) std::memcpy(out_ + (lo - out_off_), data.data() + (lo - run_off_ - at), hi - lo);
  }
  if (at != next_) {  // a retry resumed elsewhere: what is buffered goes first
    if (!flush()) return false;
    next_ = at;
  }
  if (staged_ == 0 && data.size() >= kStage) {  // plain HTTP hands over big pieces: write them as they are
    next_ += data.size();
    return write(at, data);
  }
  while (!data.empty()) {
    size_t k = std::min(kStage - staged_, data.size());
    std::memcpy(stage_ + staged_, data.data(), k);
    staged_ += k;
    next_ += k;
    data = data.subspan(k);
    if (staged_ == kStage && !flush()) return false;
  }
  return true;
}

bool RunWriter::finish() { return flush(); }

bool RunWriter::flush() {
  if (staged_ == 0) return error_.is_ok();
  size_t n = staged_;
  staged_ = 0;
  return write(next_ - n, std::span<const char>(stage_, n));
}

bool RunWriter::write(uint64_t at, std::span<const char> data) {
  if (Status s = f_.pwrite_all(data, run_off_ + at); !s) {
    error_ = s;
    return false;
  }
  return true;
}

}  // namespace hffs::cache
