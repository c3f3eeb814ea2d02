#include "unit/support/fault_source.h"

#include <algorithm>
#include <cstring>

namespace hffs::testing {

namespace {

uint64_t mix(uint64_t x) {  // splitmix64's finalizer: a fixed, well-spread hash of (seed, k)
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Passes on bytes [0, keep) of the range and drops the rest (as if the connection ended there).
class ClampSink final : public ByteSink {
 public:
  ClampSink(ByteSink& to, uint64_t keep, std::atomic<uint64_t>& passed) : to_(to), keep_(keep), passed_(passed) {}
  bool put(uint64_t at, std::span<const char> data) override {
    if (at >= keep_) return true;
    data = data.first(static_cast<size_t>(std::min<uint64_t>(data.size(), keep_ - at)));
    passed_.fetch_add(data.size());
    return to_.put(at, data);
  }

 private:
  ByteSink& to_;
  uint64_t keep_;
  std::atomic<uint64_t>& passed_;
};

// Flips bit 0 of the range's byte `pos` whenever a piece carries it (also on a resumed attempt).
class FlipSink final : public ByteSink {
 public:
  FlipSink(ByteSink& to, uint64_t pos, std::atomic<uint64_t>& passed) : to_(to), pos_(pos), passed_(passed) {}
  bool put(uint64_t at, std::span<const char> data) override {
    passed_.fetch_add(data.size());
    if (pos_ < at || pos_ - at >= data.size()) return to_.put(at, data);
    std::vector<char> copy(data.begin(), data.end());
    copy[pos_ - at] ^= 1;
    return to_.put(at, copy);
  }

 private:
  ByteSink& to_;
  uint64_t pos_;
  std::atomic<uint64_t>& passed_;
};

class CountSink final : public ByteSink {
 public:
  CountSink(ByteSink& to, std::atomic<uint64_t>& passed) : to_(to), passed_(passed) {}
  bool put(uint64_t at, std::span<const char> data) override {
    passed_.fetch_add(data.size());
    return to_.put(at, data);
  }

 private:
  ByteSink& to_;
  std::atomic<uint64_t>& passed_;
};

}  // namespace

bool When::matches(uint64_t k) const {
  if (every > 0 && k % every == 0) return true;
  if (at.count(k)) return true;
  if (probability > 0) {
    double u = static_cast<double>(mix(seed ^ mix(k)) >> 11) * 0x1.0p-53;
    if (u < probability) return true;
  }
  return false;
}

void FaultPlan::fail(When w, Errc code) {
  std::lock_guard lk(mu_);
  rules_.push_back(Rule{std::move(w), Kind::kFail, code, 0, Status::ok()});
}

void FaultPlan::short_read(When w, uint64_t keep, Status then) {
  std::lock_guard lk(mu_);
  rules_.push_back(Rule{std::move(w), Kind::kShort, Errc::kNetwork, keep, std::move(then)});
}

void FaultPlan::flip(When w, uint64_t at) {
  std::lock_guard lk(mu_);
  rules_.push_back(Rule{std::move(w), Kind::kFlip, Errc::kNetwork, at, Status::ok()});
}

void FaultPlan::stall(When w) {
  std::lock_guard lk(mu_);
  rules_.push_back(Rule{std::move(w), Kind::kStall, Errc::kNetwork, 0, Status::ok()});
}

void FaultPlan::release() {
  {
    std::lock_guard lk(mu_);
    released_ = true;
  }
  cv_.notify_all();
}

bool FaultPlan::wait_stalled(size_t n, std::chrono::seconds deadline) {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, deadline, [&] { return stalled_now_ >= n; });
}

bool FaultPlan::pick(uint64_t k, Rule& out) {
  std::lock_guard lk(mu_);
  for (Rule& r : rules_) {
    if (r.hits >= r.when.times || !r.when.matches(k)) continue;
    ++r.hits;
    out = r;
    return true;
  }
  return false;
}

void FaultPlan::block() {
  stalls.fetch_add(1);
  std::unique_lock lk(mu_);
  ++stalled_now_;
  cv_.notify_all();  // wait_stalled
  cv_.wait(lk, [&] { return released_; });
  --stalled_now_;
}

Status FaultSource::fetch(uint64_t offset, uint64_t len, ByteSink& sink) {
  const uint64_t k = plan_.calls.fetch_add(1) + 1;
  plan_.bytes_asked.fetch_add(len);
  FaultPlan::Rule rule;
  if (!plan_.pick(k, rule)) {
    CountSink counted(sink, plan_.bytes_passed);
    return inner_.fetch(offset, len, counted);
  }
  switch (rule.kind) {
    case FaultPlan::Kind::kFail:
      plan_.failures.fetch_add(1);
      return Status(rule.code, "injected failure of fetch " + std::to_string(k));
    case FaultPlan::Kind::kStall: {
      plan_.block();
      CountSink counted(sink, plan_.bytes_passed);
      return inner_.fetch(offset, len, counted);
    }
    case FaultPlan::Kind::kShort: {
      plan_.shorts.fetch_add(1);
      ClampSink clamp(sink, std::min(rule.arg, len > 0 ? len - 1 : 0), plan_.bytes_passed);
      if (Status s = inner_.fetch(offset, len, clamp); !s) return s;
      return rule.then;
    }
    case FaultPlan::Kind::kFlip: {
      plan_.flips.fetch_add(1);
      FlipSink flip(sink, std::min(rule.arg, len > 0 ? len - 1 : 0), plan_.bytes_passed);
      return inner_.fetch(offset, len, flip);
    }
  }
  return Status(Errc::kIo, "unknown fault");
}

void FaultSource::refresh() {
  plan_.refreshes.fetch_add(1);
  inner_.refresh();
}

}  // namespace hffs::testing
