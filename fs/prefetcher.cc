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
    inflight_.clear();
    wanting_.clear();
    budget_->add_files(-static_cast<int64_t>(active_.size()));
    active_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

Prefetcher::Stream* Prefetcher::match(Streams& ss, uint64_t off) {
  Stream* best = nullptr;
  uint64_t best_dist = UINT64_MAX;
  for (Stream& s : ss.s) {
    if (s.used == 0) continue;
    // Reads a little behind the frontier belong to the stream too: page faults on an mmap make the
    // kernel read *around* the faulting page (half of read_ahead_kb behind it), and readahead
    // requests complete out of order. Only a read beyond what was issued, or far behind, is a seek.
    uint64_t behind = std::max({cfg_.slack, s.window, 2 * cfg_.part_size});
    if (off + behind < s.frontier || off > std::max(s.frontier, s.issued) + cfg_.slack) continue;
    uint64_t dist = off > s.frontier ? off - s.frontier : s.frontier - off;
    if (dist < best_dist) {
      best = &s;
      best_dist = dist;
    }
  }
  return best;
}

void Prefetcher::on_read(uint64_t ino, uint64_t size, uint64_t off, uint64_t len) {
  if (!cfg_.enabled || size == 0) return;
  bool notify = false;
  {
    std::lock_guard lk(mu_);
    ++reads_;
    if (streams_.size() > 4096) streams_.clear();  // bound memory; streams restart cheaply
    auto [it, fresh] = streams_.try_emplace(ino);
    Streams& ss = it->second;
    const uint64_t end = std::min(size, off + len);
    ++ss.tick;
    Stream* s = fresh ? nullptr : match(ss, off);
    if (!s) {
      // A seek (or a first read): a new stream in the least recently used slot, no read-ahead
      // until reads confirm a pattern; most files are read from the start, so that one is trusted.
      s = std::min_element(std::begin(ss.s), std::end(ss.s),
                           [](const Stream& x, const Stream& y) { return x.used < y.used; });
      *s = Stream{end, end, 0, ss.tick, end - std::min(off, end)};
      if (!(fresh && off == 0)) return;
      s->window = cfg_.first_window;
    } else {
      s->used = ss.tick;
      if (end > s->frontier) {
        s->seen += end - std::max(off, s->frontier);
        s->frontier = end;
      }
      if (s->window == 0) {
        if (s->seen < cfg_.confirm_bytes) return;
        s->window = cfg_.first_window;
      } else if (s->frontier + s->window >= s->issued + cfg_.part_size) {
        // The reader consumed a part's worth of the window: grow it (geometrically, capped). The
        // test must not be "issued is less than half a window ahead": issuing refills the window
        // up to its last part boundary, so with a window of two parts that never held and the
        // window stayed at 16 MiB (two requests in flight) forever.
        s->window = std::min(cfg_.max_window, s->window * 2);
      }
    }
    notify = issue(ino, size, *s);
  }
  if (notify) cv_.notify_all();
}

uint64_t Prefetcher::fair_share(uint64_t ino) {
  for (auto it = wanting_.begin(); it != wanting_.end();) {
    if (reads_ - it->second > kWantMemory) {
      uint64_t gone = it->first;
      it = wanting_.erase(it);
      refresh(gone);
    } else {
      ++it;
    }
  }
  uint64_t files = budget_->files() + (active_.count(ino) ? 0 : 1);
  if (files == 1) return UINT64_MAX;  // alone: the budget is the only bound
  return std::max(cfg_.part_size, budget_->limit() / files);
}

bool Prefetcher::issue(uint64_t ino, uint64_t size, Stream& s) {
  bool queued = false;
  const uint64_t share = fair_share(ino);
  uint64_t from = std::max(s.issued, s.frontier);
  // End on a part boundary (or EOF) so no tiny tail parts are issued.
  uint64_t horizon = s.frontier + s.window;
  uint64_t to = horizon >= size ? size : horizon / cfg_.part_size * cfg_.part_size;
  while (from < to) {
    // Align parts to part_size so concurrent streams on one file request the same ranges.
    uint64_t part_end = std::min(to, (from / cfg_.part_size + 1) * cfg_.part_size);
    uint64_t plen = part_end - from;
    auto held = inflight_.find(ino);
    if (held != inflight_.end() && held->second + plen > share) {
      stats_.share_waits++;  // the next read of this file, once a part is done, issues more
      break;
    }
    if (!budget_->try_take(plen)) {
      stats_.budget_waits++;  // backpressure: the reader's own reads fetch what they need
      break;
    }
    queue_.push_back({ino, from, plen});
    inflight_[ino] += plen;
    stats_.parts_issued++;
    queued = true;
    from = part_end;
  }
  s.issued = std::max(s.issued, from);
  if (from < to) {
    wanting_[ino] = reads_;
  } else {
    wanting_.erase(ino);
  }
  refresh(ino);
  return queued;
}

void Prefetcher::refresh(uint64_t ino) {
  const bool now = inflight_.count(ino) || wanting_.count(ino);
  if (now == (active_.count(ino) > 0)) return;
  if (now) {
    active_.insert(ino);
  } else {
    active_.erase(ino);
  }
  budget_->add_files(now ? 1 : -1);
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
    if (auto it = inflight_.find(p.ino); it != inflight_.end() && (it->second -= p.len) == 0) {
      inflight_.erase(it);
      refresh(p.ino);
    }
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
