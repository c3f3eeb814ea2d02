// Retry policy: which failures are retried and how long to wait (hub-protocol.md 9.2).
// Pure and deterministic given the random draw, so the math is unit-testable.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

namespace hffs::hubapi {

struct RetryPolicy {
  int max_attempts = 6;
  std::chrono::milliseconds base{250};
  std::chrono::milliseconds cap{8'000};
  // Upper bound on a server-requested wait (Retry-After / RateLimit t=).
  std::chrono::milliseconds server_wait_cap{60'000};
};

// 408, 429, 500, 502, 503, 504.
bool is_retryable_status(long status);

// Full jitter: uniform in [0, min(cap, base * 2^retry_index)], `unit` in [0, 1).
std::chrono::milliseconds backoff_delay(const RetryPolicy& p, int retry_index, double unit);

// Server-requested wait: RateLimit `t=` when `r=0`, else Retry-After seconds. nullopt if none.
std::optional<std::chrono::milliseconds> server_requested_delay(std::string_view retry_after,
                                                                std::string_view ratelimit);

// The wait before the next attempt: the server's request when given (capped), else backoff.
std::chrono::milliseconds next_delay(const RetryPolicy& p, int retry_index, double unit,
                                     std::optional<std::chrono::milliseconds> server_delay);

// Source of uniform [0,1) draws; the default is a thread-local PRNG.
using UnitRng = std::function<double()>;
double default_unit_rng();

}  // namespace hffs::hubapi
