// Fault injection at the cache's seam (as mountpoint-s3 wraps its client): a FaultSource wraps a
// BlockSource and, as a FaultPlan says, fails a fetch, delivers fewer bytes than asked, stalls
// until the test releases it, or flips a bit, counting what passed. Deterministic: whether fetch
// number k (1-based, over every source sharing the plan) is hit depends only on k and the rule,
// never on timing (a probability is decided by a hash of the rule's seed and k).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cache/block_source.h"

namespace hffs::testing {

// Which fetches a rule hits.
struct When {
  uint64_t every = 0;          // fetches every, 2*every, ...
  std::set<uint64_t> at;       // these fetch numbers
  double probability = 0;      // each fetch with this probability...
  uint64_t seed = 0;           // ...decided by (seed, fetch number)
  uint64_t times = UINT64_MAX;  // at most this many hits

  static When nth(std::set<uint64_t> k) {
    When w;
    w.at = std::move(k);
    return w;
  }
  static When every_nth(uint64_t n) {
    When w;
    w.every = n;
    return w;
  }
  static When chance(double p, uint64_t seed) {
    When w;
    w.probability = p;
    w.seed = seed;
    return w;
  }
  static When always() { return every_nth(1); }
  bool matches(uint64_t k) const;
};

class FaultPlan {
 public:
  // The fetch fails at once with `code`, before the wrapped source is asked.
  void fail(When w, Errc code = Errc::kNetwork);
  // Only the first `keep` bytes of the range reach the sink (fewer if the range is shorter: at
  // most len - 1), then the fetch returns `then`: an error (a cut connection) or ok (a source that
  // claims to have delivered everything).
  void short_read(When w, uint64_t keep, Status then = Status(Errc::kNetwork, "injected short read"));
  // One bit of the range's byte `at` (clamped to the range) is flipped on its way to the sink.
  void flip(When w, uint64_t at = 0);
  // The fetch blocks before asking the wrapped source until release().
  void stall(When w);

  // Lets every stalled fetch go on; later fetches hit by a stall rule do not block any more.
  void release();
  // Waits (bounded by `deadline`, on a condition variable) until `n` fetches are stalled at once.
  bool wait_stalled(size_t n, std::chrono::seconds deadline = std::chrono::seconds(20));

  // Counters over every source of this plan.
  std::atomic<uint64_t> calls{0};        // fetches entered
  std::atomic<uint64_t> bytes_asked{0};  // sum of their lengths
  std::atomic<uint64_t> bytes_passed{0};  // bytes that reached a sink (after faults)
  std::atomic<uint64_t> failures{0}, shorts{0}, flips{0}, stalls{0}, refreshes{0};

 private:
  friend class FaultSource;
  enum class Kind { kFail, kShort, kFlip, kStall };
  struct Rule {
    When when;
    Kind kind;
    Errc code = Errc::kNetwork;
    uint64_t arg = 0;
    Status then;
    uint64_t hits = 0;
  };
  // The rule that hits fetch k (first match wins), copied out; nullptr-like kind when none.
  bool pick(uint64_t k, Rule& out);
  void block();  // a stall: wait for release()

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Rule> rules_;
  bool released_ = false;
  size_t stalled_now_ = 0;
};

class FaultSource final : public cache::BlockSource {
 public:
  FaultSource(cache::BlockSource& inner, FaultPlan& plan) : inner_(inner), plan_(plan) {}
  FaultSource(std::unique_ptr<cache::BlockSource> owned, FaultPlan& plan)
      : owned_(std::move(owned)), inner_(*owned_), plan_(plan) {}
  Status fetch(uint64_t offset, uint64_t len, ByteSink& sink) override;
  void refresh() override;
  std::string name() const override { return inner_.name(); }

 private:
  std::unique_ptr<cache::BlockSource> owned_;
  cache::BlockSource& inner_;
  FaultPlan& plan_;
};

}  // namespace hffs::testing
