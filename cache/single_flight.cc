#include "cache/single_flight.h"

#include <functional>

namespace hffs::cache {

void Flight::finish(FlightOutcome o) {
  {
    std::lock_guard lk(mu_);
    outcome_ = std::move(o);
    done_ = true;
  }
  cv_.notify_all();
}

const FlightOutcome& Flight::wait() {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return done_; });
  return outcome_;
}

std::string SingleFlight::id(std::string_view key, uint64_t block) {
  std::string s(key);
  s += ':';
  s += std::to_string(block);
  return s;
}

SingleFlight::Shard& SingleFlight::shard(const std::string& id) {
  return shards_[std::hash<std::string>{}(id) % shards_.size()];
}

SingleFlight::Claim SingleFlight::claim(std::string_view key, uint64_t block) {
  std::string k = id(key, block);
  Shard& s = shard(k);
  std::lock_guard lk(s.mu);
  if (auto it = s.inflight.find(k); it != s.inflight.end()) return {it->second, false};
  auto f = std::make_shared<Flight>();
  s.inflight.emplace(std::move(k), f);
  return {std::move(f), true};
}

void SingleFlight::complete(std::string_view key, uint64_t block, const std::shared_ptr<Flight>& f,
                            FlightOutcome o) {
  std::string k = id(key, block);
  Shard& s = shard(k);
  {
    std::lock_guard lk(s.mu);
    if (auto it = s.inflight.find(k); it != s.inflight.end() && it->second == f) s.inflight.erase(it);
  }
  f->finish(std::move(o));
}

}  // namespace hffs::cache
