// URL encoding, decoding, parsing and reference resolution (hubapi/url.cc).
// Properties: decode(encode(s)) == s for both encoders, encoders emit only unreserved octets and
// %XX (plus '/' for paths), a parsed URL has a host, a port in 1..65535 and a target starting with
// '/', and a relative Location/Link reference never leaves the base's origin (credentials follow
// the origin).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "hubapi/url.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

bool unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-' || c == '~';
}

bool hex_upper(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

void check_encoded(const std::string& e, bool slash_ok) {
  for (size_t i = 0; i < e.size(); ++i) {
    if (e[i] == '%') {
      FUZZ_CHECK(i + 2 < e.size() && hex_upper(e[i + 1]) && hex_upper(e[i + 2]));
      i += 2;
    } else {
      FUZZ_CHECK(unreserved(e[i]) || (slash_ok && e[i] == '/'));
    }
  }
}

void check_url(const hffs::hubapi::Url& u) {
  FUZZ_CHECK(u.scheme == "http" || u.scheme == "https");
  FUZZ_CHECK(!u.host.empty());
  FUZZ_CHECK(u.port >= 1 && u.port <= 65535);
  FUZZ_CHECK(!u.target.empty() && u.target.front() == '/');
  FUZZ_CHECK(u.target.find('#') == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hffs::hubapi;
  FuzzedDataProvider in(data, size);
  std::string a = in.ConsumeRandomLengthString(512);
  std::string ref = in.ConsumeRandomLengthString(512);
  std::string base_text = in.ConsumeRemainingBytesAsString();

  std::string seg = encode_segment(a);
  check_encoded(seg, false);
  FUZZ_CHECK(percent_decode(seg) == a);
  std::string path = encode_path(a);
  check_encoded(path, true);
  FUZZ_CHECK(percent_decode(path) == a);
  (void)percent_decode(ref);
  (void)redact_url(base_text);
  FUZZ_CHECK(redact_url(base_text).find('?') == std::string::npos ||
             redact_url(base_text).ends_with("?<redacted>"));

  auto base = parse_url(base_text);
  if (!base) base = parse_url("https://huggingface.co/api/models/org/name/tree/main?recursive=true");
  FUZZ_CHECK(base);
  check_url(*base);
  (void)base->path();
  (void)base->query();
  auto again = parse_url(base->origin() + base->target);
  if (base->host.find_first_of("[]@") == std::string::npos) {
    FUZZ_CHECK(again && same_origin(*again, *base) && again->target == base->target);
  }

  if (auto r = resolve_reference(*base, ref)) {
    auto ru = parse_url(*r);
    FUZZ_CHECK(ru);
    check_url(*ru);
    // resolve_reference trims blanks first (a Location " //evil/x" is scheme-relative, not a path).
    std::string_view t = ref;
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    if (is_relative_reference(t)) FUZZ_CHECK(same_origin(*ru, *base));
  }
  return 0;
}
