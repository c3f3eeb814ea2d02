// The one deterministic byte generator of the unit tests: byte `offset` of the file with `seed`.
// Not periodic in any block size, so a block served at the wrong offset or from another file
// shows; two seeds differ at almost every byte (wrong bytes of the right length are "seed+1").
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "common/sha.h"

namespace hffs::testing {

inline char gen_byte(uint64_t offset, uint32_t seed = 0) {
  uint64_t x = (offset + seed) * 0x9E3779B97F4A7C15ull;
  x ^= x >> 29;
  return static_cast<char>(x >> 24);
}

// Bytes [offset, offset + out.size()) of file `seed`.
inline void gen_fill(std::span<char> out, uint64_t offset, uint32_t seed = 0) {
  for (size_t i = 0; i < out.size(); ++i) out[i] = gen_byte(offset + i, seed);
}

// The first `size` bytes of file `seed`.
inline std::string gen_content(uint64_t size, uint32_t seed = 0) {
  std::string s(size, '\0');
  gen_fill(s, 0, seed);
  return s;
}

// Its sha256 (lowercase hex): a real content key, so that verification can run.
inline std::string gen_sha256(uint64_t size, uint32_t seed = 0) { return sha256_hex(gen_content(size, seed)); }

}  // namespace hffs::testing
