// Parsers for response headers the client relies on. Private to hubapi; pure functions (fuzzable).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hffs::hubapi {

struct LinkValue {
  std::string target;             // inside <...>, unmodified
  std::vector<std::string> rels;  // lowercased, from rel="a b"
};
// Parses an RFC 8288 Link header value (possibly several comma-joined values). Quoted strings may
// contain ',' and ';'. Malformed members are skipped.
std::vector<LinkValue> parse_link_header(std::string_view value);
// The first target with rel "next", if any.
std::optional<std::string> link_next(std::string_view value);

struct ContentRange {
  uint64_t first = 0;
  uint64_t last = 0;
  std::optional<uint64_t> total;  // nullopt for "*"
};
// Strict "bytes a-b/total" (or "/*"): digits only, first <= last < total.
std::optional<ContentRange> parse_content_range(std::string_view value);

// Retry-After in the delay-seconds form (HTTP-date is not used by the Hub; ignored).
std::optional<int64_t> parse_retry_after_seconds(std::string_view value);

struct RateLimit {
  std::optional<int64_t> remaining;  // r=
  std::optional<int64_t> reset;      // t= (seconds)
};
// `"resolvers";r=2998;t=172`
std::optional<RateLimit> parse_ratelimit(std::string_view value);

// Strips a leading W/ and surrounding quotes.
std::string normalize_etag(std::string_view etag);

}  // namespace hffs::hubapi
