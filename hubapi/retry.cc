#include "hubapi/retry.h"

#include <algorithm>
#include <random>

#include "hubapi/headers.h"

namespace hffs::hubapi {

bool is_retryable_status(long s) {
  return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

std::chrono::milliseconds backoff_delay(const RetryPolicy& p, int retry_index, double unit) {
  using std::chrono::milliseconds;
  int64_t base = std::max<int64_t>(0, p.base.count());
  int64_t cap = std::max<int64_t>(0, p.cap.count());
  int64_t ceiling = base;
  for (int i = 0; i < retry_index && ceiling < cap; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap);
  unit = std::clamp(unit, 0.0, 1.0);
  auto v = static_cast<int64_t>(unit * static_cast<double>(ceiling));
  return milliseconds(std::min(v, ceiling));
}

std::optional<std::chrono::milliseconds> server_requested_delay(std::string_view retry_after,
                                                                std::string_view ratelimit) {
  if (!ratelimit.empty()) {
    if (auto rl = parse_ratelimit(ratelimit); rl && rl->remaining && *rl->remaining == 0 && rl->reset)
      return std::chrono::seconds(*rl->reset);
  }
  if (!retry_after.empty()) {
    if (auto s = parse_retry_after_seconds(retry_after)) return std::chrono::seconds(*s);
  }
  return std::nullopt;
}

std::chrono::milliseconds next_delay(const RetryPolicy& p, int retry_index, double unit,
                                     std::optional<std::chrono::milliseconds> server_delay) {
  if (server_delay) return std::min(*server_delay, p.server_wait_cap);
  return backoff_delay(p, retry_index, unit);
}

double default_unit_rng() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
}

}  // namespace hffs::hubapi
