// Retry-After and RateLimit (hubapi/headers.cc, hubapi/retry.cc): values are never negative and the
// wait the client takes stays within the policy's caps whatever the server asks for.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "hubapi/headers.h"
#include "hubapi/retry.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hffs::hubapi;
  FuzzedDataProvider in(data, size);
  std::string retry_after = in.ConsumeRandomLengthString(64);
  std::string ratelimit = in.ConsumeRandomLengthString(256);
  int retry_index = in.ConsumeIntegralInRange<int>(0, 64);
  double unit = in.ConsumeProbability<double>();

  if (auto s = parse_retry_after_seconds(retry_after)) FUZZ_CHECK(*s >= 0);
  if (auto rl = parse_ratelimit(ratelimit)) {
    if (rl->remaining) FUZZ_CHECK(*rl->remaining >= 0);
    if (rl->reset) FUZZ_CHECK(*rl->reset >= 0);
  }
  RetryPolicy p;
  auto server = server_requested_delay(retry_after, ratelimit);
  if (server) FUZZ_CHECK(server->count() >= 0);
  auto d = next_delay(p, retry_index, unit, server);
  FUZZ_CHECK(d.count() >= 0);
  FUZZ_CHECK(d <= std::max(p.cap, p.server_wait_cap));
  auto b = backoff_delay(p, retry_index, unit);
  FUZZ_CHECK(b.count() >= 0 && b <= p.cap);
  return 0;
}
