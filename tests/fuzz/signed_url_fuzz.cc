// Expiry of signed CDN locations (hubapi/location.cc): Expires=, X-Amz-Date + X-Amz-Expires, and the
// ISO-8601 lastModified parser. No overflow (UBSan), and a URL without a parsable expiry gets the
// default lifetime.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "hubapi/location.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hffs::hubapi;
  FuzzedDataProvider in(data, size);
  std::string date = in.ConsumeRandomLengthString(48);
  std::string url = in.ConsumeRemainingBytesAsString();

  (void)parse_amz_date(date);
  (void)parse_iso8601(date);
  auto exp = signed_url_expiry(url);
  const int64_t now = 1'764'460'800;  // a fixed "now" keeps runs reproducible
  int64_t loc = location_expiry(url, now, 3600);
  if (!exp) FUZZ_CHECK(loc == now + 3600);
  return 0;
}
