// The bytes of one file, where the cache pulls them from on a miss. Implemented outside cache/
// (fs/ hands one out per file from its RepoSource), so cache/ knows nothing of HTTP.
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
  // Hands the file's bytes [offset, offset + len) to `sink` as they arrive (see ByteSink), so that
  // the cache writes them into its file without a buffer of the range's size. Thread-safe.
  virtual Status fetch(uint64_t offset, uint64_t len, ByteSink& sink) = 0;
  // The file's content failed verification: the next fetch must not reuse what served it (a
  // cached signed location), so that it comes from a fresh location or another endpoint.
  virtual void refresh() {}
  // The file and where its bytes come from now, for log lines (no secrets, no signatures).
  virtual std::string name() const { return {}; }
};

// The range into a caller's buffer (a SpanSink over `out`). A source that reports success
// without having handed over every byte gets kProtocol: its ok is not trusted as data.
inline Status fetch_span(BlockSource& src, uint64_t offset, std::span<char> out) {
  SpanSink sink(out);
  Status s = src.fetch(offset, out.size(), sink);
  if (s && !sink.complete())
    return Status(Errc::kProtocol, src.name() + ": the source reported success after " +
                                       std::to_string(sink.covered()) + " of " + std::to_string(out.size()) + " bytes");
  return s;
}

}  // namespace hffs::cache
