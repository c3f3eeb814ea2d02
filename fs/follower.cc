#include "fs/follower.h"

#include <spdlog/spdlog.h>

namespace hffs::fs {

Follower::Follower(Filesystem& fs, std::string label, Check check, Forget forget, std::chrono::milliseconds interval)
    : fs_(fs), label_(std::move(label)), check_(std::move(check)), forget_(std::move(forget)), interval_(interval) {
  thread_ = std::thread([this] { loop(); });
}

Follower::~Follower() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string Follower::check_now(std::chrono::milliseconds wait) {
  std::unique_lock lk(mu_);
  const uint64_t ticket = ++asked_;
  cv_.notify_all();
  if (!cv_.wait_for(lk, wait, [&] { return stop_ || done_ >= ticket; }))
    return "failed: the check did not finish in " + std::to_string(wait.count() / 1000) + " s";
  if (done_ < ticket) return "failed: the mount is going away";
  return last_;
}

void Follower::loop() {
  std::unique_lock lk(mu_);
  auto next = std::chrono::steady_clock::now() + interval_;
  while (!stop_) {
    auto asked = [&] { return stop_ || asked_ > done_; };
    if (interval_.count() > 0) cv_.wait_until(lk, next, asked);
    else cv_.wait(lk, asked);
    if (stop_) break;
    const uint64_t serving = asked_;  // every caller so far gets this check's outcome
    lk.unlock();
    std::string out = run_check();
    lk.lock();
    next = std::chrono::steady_clock::now() + interval_;  // the next periodic one: an interval after any check
    done_ = std::max(done_, serving);
    last_ = std::move(out);
    cv_.notify_all();
  }
}

std::string Follower::run_check() {
  FsStats& st = fs_.stats();
  st.refresh_checks.fetch_add(1, std::memory_order_relaxed);
  const std::string cur = fs_.commit();
  auto r = check_(cur);
  if (!r) {
    st.refresh_failures.fetch_add(1, std::memory_order_relaxed);
    if (!failing_) spdlog::warn("{}: cannot check for a new commit ({}); still serving {}, trying again later", label_,
                                r.status().to_string(), cur);
    failing_ = true;
    return "failed: " + r.status().to_string();
  }
  if (failing_) spdlog::info("{}: checking for a new commit works again", label_);
  failing_ = false;
  if (!*r) return "unchanged " + cur;
  SwitchReport rep = fs_.switch_to(std::move(**r));
  spdlog::info("{}: {} -> {} ({} files unchanged, {} changed, {} added, {} removed)", label_, rep.old_commit,
               rep.new_commit, rep.unchanged, rep.changed, rep.added, rep.removed);
  if (forget_) forget_(rep.inval);
  st.view_switches.fetch_add(1, std::memory_order_relaxed);  // counted once the kernel was told
  return rep.old_commit + " -> " + rep.new_commit;
}

}  // namespace hffs::fs
