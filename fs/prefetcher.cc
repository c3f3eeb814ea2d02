#include "fs/prefetcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace hffs::fs {

Prefetcher::Prefetcher(PrefetchConfig cfg, WarmFn warm)
    : cfg_(cfg), warm_(std::move(warm)),
      budget_(cfg_.budget ? cfg_.budget : std::make_shared<InflightBudget>(cfg_.max_inflight_bytes)) {
  if (!cfg_.enabled) return;
  for (unsigned i = 0; i < cfg_.workers; ++i) threads_.emplace_back([this] { worker(); });
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
    for (const Part& p : queue_) budget_->give(p.len);  // never fetched: back to the shared budget
    queue_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void Prefetcher::on_read(uint64_t ino, uint64_t size, uint64_t off, uint64_t len) {
  if (!cfg_.enabled || size == 0) return;
  bool notify = false;
  {
    std::lock_guard lk(mu_);
    auto [it, fresh] = streams_.try_emplace(ino);
    Stream& s = it->second;
    uint64_t end = std::min(size, off + len);
    // Reads a little behind the frontier belong to the stream too: page faults on an mmap make the
    // kernel read *around* the faulting page (half of read_ahead_kb behind it), and readahead
    // requests complete out of order. Only a read beyond what was issued, or far behind, is a seek.
    uint64_t behind = std::max({cfg_.slack, s.window, 2 * cfg_.part_size});
    bool sequential = !fresh && off + behind >= s.frontier && off <= std::max(s.frontier, s.issued) + cfg_.slack;
    if (fresh && off == 0) sequential = true;  // most files are read from the start
    if (!sequential) {
      // A far seek: a new stream, no read-ahead until the next read confirms a pattern.
      s = Stream{end, end, 0};
      return;
    }
    s.frontier = std::max(s.frontier, end);
    if (s.window == 0) {
      s.window = cfg_.first_window;
    } else if (s.frontier + s.window >= s.issued + cfg_.part_size) {
      // The reader consumed a part's worth of the window: grow it (geometrically, capped). The
      // test must not be "issued is less than half a window ahead": issuing refills the window
      // up to its last part boundary, so with a window of two parts that never held and the
      // window stayed at 16 MiB (two requests in flight) forever.
      s.window = std::min(cfg_.max_window, s.window * 2);
    }
    uint64_t from = std::max(s.issued, s.frontier);
    // End on a part boundary (or EOF) so no tiny tail parts are issued.
    uint64_t horizon = s.frontier + s.window;
    uint64_t to = horizon >= size ? size : horizon / cfg_.part_size * cfg_.part_size;
    while (from < to) {
      // Align parts to part_size so concurrent streams on one file request the same ranges.
      uint64_t part_end = std::min(to, (from / cfg_.part_size + 1) * cfg_.part_size);
      uint64_t plen = part_end - from;
      if (!budget_->try_take(plen)) {
        stats_.budget_waits++;  // backpressure: the reader's own reads fetch what they need
        break;
      }
      queue_.push_back({ino, from, plen});
      stats_.parts_issued++;
      notify = true;
      from = part_end;
    }
    s.issued = std::max(s.issued, from);
    if (streams_.size() > 4096) streams_.clear();  // bound memory; streams restart cheaply
  }
  if (notify) cv_.notify_all();
}

void Prefetcher::worker() {
  for (;;) {
    Part p;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      p = queue_.front();
      queue_.pop_front();
    }
    Status s = warm_(p.ino, p.off, p.len);
    budget_->give(p.len);
    std::lock_guard lk(mu_);
    if (!s) {
      stats_.parts_failed++;
      spdlog::debug("prefetch ino={} off={} len={} failed: {}", p.ino, p.off, p.len, s.to_string());
    }
  }
}

PrefetchStats Prefetcher::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

}  // namespace hffs::fs
