// An append-only array whose elements never move: a pointer or span handed out stays valid while
// the array grows, so readers go on without a lock while one writer appends (the tree of a lazily
// listed repo). Elements live in chunks of 2^shift; a run appended at once is contiguous (it may
// take several chunks' worth of index space, allocated as one block).
//
// One writer at a time (the caller's lock); any number of readers. A reader may use index i once
// it learned i through a release/acquire pair (size() here, or the caller's own publication).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

namespace hffs::fs {

template <class T>
class StableArray {
 public:
  // `exact`: every run gets a block of exactly its size (a tree built at once: no slack).
  explicit StableArray(unsigned chunk_shift = 16, bool exact = false) : shift_(chunk_shift), exact_(exact) {}
  StableArray(StableArray&& o) noexcept { *this = std::move(o); }
  StableArray& operator=(StableArray&& o) noexcept {
    shift_ = o.shift_;
    exact_ = o.exact_;
    blocks_ = std::move(o.blocks_);
    tables_ = std::move(o.tables_);
    table_.store(o.table_.load(std::memory_order_acquire), std::memory_order_release);
    slots_ = o.slots_;
    end_ = o.end_;
    size_.store(o.size_.load(std::memory_order_acquire), std::memory_order_release);
    bytes_ = o.bytes_;
    o.table_.store(nullptr);
    o.slots_ = 0;
    o.end_ = 0;
    o.size_.store(0);
    o.bytes_ = 0;
    return *this;
  }

  // Appends n value-initialized elements as one contiguous run; returns the index of the first.
  // Fails (returns npos) when the index space (uint32) is used up.
  static constexpr uint32_t npos = std::numeric_limits<uint32_t>::max();
  uint32_t append_n(size_t n) {
    const uint64_t chunk = uint64_t{1} << shift_;
    uint64_t at = size_.load(std::memory_order_relaxed);
    if (n == 0) return static_cast<uint32_t>(at);
    if (at + n > end_) {  // a new block, from the next chunk boundary
      at = (at + chunk - 1) >> shift_ << shift_;
      const uint64_t chunks = (n + chunk - 1) >> shift_;
      if (at + chunks * chunk >= npos) return npos;
      const uint64_t len = exact_ ? n : chunks * chunk;
      blocks_.push_back(std::unique_ptr<T[]>(new T[len]()));
      bytes_ += len * sizeof(T);
      T* base = blocks_.back().get();
      ensure_slots((at >> shift_) + chunks);
      T** table = table_.load(std::memory_order_relaxed);
      for (uint64_t c = 0; c < chunks; ++c) table[(at >> shift_) + c] = base + c * chunk;
      end_ = exact_ ? at + n : at + chunks * chunk;
    }
    size_.store(at + n, std::memory_order_release);
    return static_cast<uint32_t>(at);
  }
  uint32_t append(const T* src, size_t n) {
    uint32_t at = append_n(n);
    if (at != npos) std::copy(src, src + n, at_mut(at));
    return at;
  }

  T* at_mut(uint32_t i) const {
    return table_.load(std::memory_order_acquire)[i >> shift_] + (uint64_t{i} & ((uint64_t{1} << shift_) - 1));
  }
  const T* at(uint32_t i) const { return at_mut(i); }
  // One past the last index handed out (indices below may include skipped slack).
  size_t size() const { return size_.load(std::memory_order_acquire); }
  size_t memory_bytes() const { return bytes_ + slots_ * sizeof(T*); }

 private:
  void ensure_slots(uint64_t need) {
    if (need <= slots_) return;
    const uint64_t n = std::max<uint64_t>({need, slots_ * 2, 4});
    auto grown = std::make_unique<T*[]>(n);
    if (T** old = table_.load(std::memory_order_relaxed)) std::copy(old, old + slots_, grown.get());
    table_.store(grown.get(), std::memory_order_release);
    tables_.push_back(std::move(grown));  // the old tables stay: a reader may still hold one
    slots_ = n;
  }

  unsigned shift_ = 16;
  bool exact_ = false;
  std::vector<std::unique_ptr<T[]>> blocks_;
  std::vector<std::unique_ptr<T*[]>> tables_;
  std::atomic<T**> table_{nullptr};
  uint64_t slots_ = 0;
  uint64_t end_ = 0;  // one past the last index the current block can hold
  std::atomic<uint64_t> size_{0};
  size_t bytes_ = 0;
};

}  // namespace hffs::fs
