// Content-Range of a ranged answer (hubapi/headers.cc): an accepted value is within its bounds
// and its canonical form parses back to the same range.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "hubapi/headers.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view v(reinterpret_cast<const char*>(data), size);
  auto cr = hffs::hubapi::parse_content_range(v);
  if (cr) {
    FUZZ_CHECK(cr->first <= cr->last);
    if (cr->total) FUZZ_CHECK(cr->last < *cr->total);
    // The canonical form of what was accepted parses back to the same range.
    std::string canon = "bytes " + std::to_string(cr->first) + "-" + std::to_string(cr->last) + "/" +
                        (cr->total ? std::to_string(*cr->total) : std::string("*"));
    auto again = hffs::hubapi::parse_content_range(canon);
    FUZZ_CHECK(again && again->first == cr->first && again->last == cr->last && again->total == cr->total);
  }
  return 0;
}
