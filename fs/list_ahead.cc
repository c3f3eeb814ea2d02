#include "fs/list_ahead.h"

namespace hffs::fs {

ListAhead::ListAhead(const Namespace& ns, unsigned workers, size_t max_queued)
    : ns_(ns), workers_(workers), max_queued_(max_queued) {}

ListAhead::~ListAhead() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ListAhead::on_readdir(const Inode& dir) {
  if (ns_.complete() || workers_ == 0) return;
  bool added = false;
  {
    std::lock_guard lk(mu_);
    if (stop_) return;
    for (uint32_t c : ns_.children(dir)) {
      const Inode* n = ns_.get(c);
      if (!n || !n->is_dir || ns_.listed(*n) || queue_.size() >= max_queued_) continue;
      if (!queued_.insert(c).second) continue;
      queue_.push_back(c);
      added = true;
    }
    if (added && threads_.empty())
      for (unsigned i = 0; i < workers_; ++i) threads_.emplace_back([this] { work(); });
  }
  if (added) cv_.notify_all();
}

uint64_t ListAhead::listed() const {
  std::lock_guard lk(mu_);
  return listed_;
}

void ListAhead::work() {
  std::unique_lock lk(mu_);
  while (true) {
    cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    const uint32_t ino = queue_.front();
    queue_.pop_front();
    lk.unlock();
    // A failure is left for the reader's own lookup to retry (and to report).
    const Inode* n = ns_.get(ino);
    const bool ok = n && ns_.ensure_listed(*n);
    lk.lock();
    queued_.erase(ino);
    if (ok) listed_++;
  }
}

}  // namespace hffs::fs
