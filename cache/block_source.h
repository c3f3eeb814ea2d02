// What the cache pulls bytes from on a miss. Implemented outside cache/ (fs/ adapts the Hub
// client), so cache/ knows nothing of HTTP.
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "common/byte_sink.h"
#include "common/status.h"

namespace hffs::cache {

class BlockSource {
 public:
  virtual ~BlockSource() = default;
  // Fill `out` with the file's bytes at [offset, offset + out.size()). Must be thread-safe.
  virtual Status fetch(uint64_t offset, std::span<char> out) = 0;
  // The same bytes handed to `sink` as they arrive (see ByteSink), so that the cache can write
  // them into its file without a buffer of the range's size. The default goes through one.
  virtual Status fetch_to(uint64_t offset, uint64_t len, ByteSink& sink) {
    return fetch_through_buffer(len, sink, [&](std::span<char> out) { return fetch(offset, out); });
  }
  // The file's content failed verification: the next fetch must not reuse what served it (a
  // cached signed location), so that it comes from a fresh location or another endpoint.
  virtual void refresh() {}
  // The file and where its bytes come from now, for log lines (no secrets, no signatures).
  virtual std::string name() const { return {}; }
};

}  // namespace hffs::cache
