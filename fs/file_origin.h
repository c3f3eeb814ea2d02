// Where a mount's file bytes come from on a cache miss (the Hub, or a fake in tests).
#pragma once
#include <cstdint>
#include <span>

#include "common/byte_sink.h"
#include "common/status.h"
#include "fs/namespace.h"

namespace hffs::fs {

class FileOrigin {
 public:
  virtual ~FileOrigin() = default;
  // Fill `out` with bytes [offset, offset+out.size()) of `file`. Thread-safe.
  virtual Status fetch(const Inode& file, uint64_t offset, std::span<char> out) = 0;
  // The same bytes handed to `sink` as they arrive (see ByteSink). The default goes through a
  // buffer of the range's size; an origin that streams overrides it.
  virtual Status fetch_to(const Inode& file, uint64_t offset, uint64_t len, ByteSink& sink) {
    return fetch_through_buffer(len, sink, [&](std::span<char> out) { return fetch(file, offset, out); });
  }
  // Where the bytes come from, for xattrs/status (no secrets, no signatures).
  virtual std::string describe(const Inode& file) const = 0;
  // The host that serves the file's bytes now (scheme://host:port), for log lines; "" if unknown.
  virtual std::string served_by(const Inode& file) const { return {}; }
  // The file's content failed verification: the next fetch must come from a fresh location.
  virtual void refresh(const Inode& file) {}
};

}  // namespace hffs::fs
