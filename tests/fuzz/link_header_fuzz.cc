// `Link` pagination headers (hubapi/headers.cc): link_next agrees with the full parse, and every
// rel is lowercased as documented.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "hubapi/headers.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hffs::hubapi;
  std::string_view v(reinterpret_cast<const char*>(data), size);
  auto links = parse_link_header(v);
  std::optional<std::string> first_next;
  for (const auto& l : links) {
    FUZZ_CHECK(l.target.size() <= size);
    for (const auto& r : l.rels) {
      for (char c : r) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
      if (r == "next" && !first_next) first_next = l.target;
    }
  }
  FUZZ_CHECK(link_next(v) == first_next);
  return 0;
}
