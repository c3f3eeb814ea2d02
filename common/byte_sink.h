// Where a byte range goes as it arrives: a buffer, or (cache/) straight into a cache file. Lets the
// network path hand each received piece to its destination without a range-sized staging buffer.
#pragma once
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <memory>
#include <span>

#include "common/status.h"

namespace hffs {

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Bytes [at, at + data.size()) of the range, `at` counted from the range's start. Pieces come
  // in order, but after a failed attempt a source resumes (or restarts) at an earlier `at`: a
  // sink must accept bytes again. false stops the transfer for the sink's own reason (a failed
  // write), which the source reports without retrying.
  virtual bool put(uint64_t at, std::span<const char> data) = 0;
};

// The plain case: the range lands in a caller's buffer.
class SpanSink final : public ByteSink {
 public:
  explicit SpanSink(std::span<char> out) : out_(out) {}
  bool put(uint64_t at, std::span<const char> data) override {
    if (at > covered_ || data.size() > out_.size() - at) return false;  // a hole, or past the end
    if (!data.empty()) std::memcpy(out_.data() + at, data.data(), data.size());
    covered_ = std::max<uint64_t>(covered_, at + data.size());
    return true;
  }
  // Every byte of the span arrived: a source's ok without them must not be trusted.
  bool complete() const { return covered_ == out_.size(); }
  uint64_t covered() const { return covered_; }

 private:
  std::span<char> out_;
  uint64_t covered_ = 0;  // [0, covered_) has been put
};

// For sources that can only fill a buffer: fetch(span) into one of `len` bytes, then one put.
template <class Fetch>
Status fetch_through_buffer(uint64_t len, ByteSink& sink, Fetch&& fetch) {
  std::unique_ptr<char[]> buf(new char[len]);
  if (Status s = fetch(std::span<char>(buf.get(), len)); !s) return s;
  if (!sink.put(0, std::span<const char>(buf.get(), len))) return Status(Errc::kIo, "the destination refused the bytes");
  return Status::ok();
}

}  // namespace hffs
