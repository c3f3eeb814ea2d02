// Expiry of signed data locations (hub-protocol.md 4.5). Private to hubapi.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

namespace hffs::hubapi {

// Unix time at which a signed URL stops working, from its query: CloudFront `Expires=<epoch>`
// and/or S3 `X-Amz-Date=YYYYMMDDTHHMMSSZ` + `X-Amz-Expires=<seconds>` (the earlier wins).
// nullopt when the URL carries neither.
std::optional<int64_t> signed_url_expiry(std::string_view url);

// As above, defaulting to `now_epoch + default_ttl_s` (1 h) when the URL says nothing.
int64_t location_expiry(std::string_view url, int64_t now_epoch, int64_t default_ttl_s = 3600);

// "20251008T221543Z" -> epoch. nullopt when malformed.
std::optional<int64_t> parse_amz_date(std::string_view s);
// "2024-02-19T11:06:12.000Z" / "+00:00" offsets -> epoch seconds. nullopt when malformed.
std::optional<int64_t> parse_iso8601(std::string_view s);

}  // namespace hffs::hubapi
