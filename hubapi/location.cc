#include "hubapi/location.h"

#include <charconv>
#include <string>

#include "hubapi/url.h"

namespace hffs::hubapi {

namespace {

std::optional<int64_t> parse_int(std::string_view s, size_t max_digits = 18) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::optional<int64_t> civil_to_epoch(int64_t y, int64_t mo, int64_t d, int64_t h, int64_t mi,
                                      int64_t s) {
  if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
    return std::nullopt;
  return days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
         h * 3600 + mi * 60 + s;
}

}  // namespace

std::optional<int64_t> parse_amz_date(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  auto y = parse_int(s.substr(0, 4)), mo = parse_int(s.substr(4, 2)), d = parse_int(s.substr(6, 2));
  auto h = parse_int(s.substr(9, 2)), mi = parse_int(s.substr(11, 2)), se = parse_int(s.substr(13, 2));
  if (!y || !mo || !d || !h || !mi || !se) return std::nullopt;
  return civil_to_epoch(*y, *mo, *d, *h, *mi, *se);
}

std::optional<int64_t> parse_iso8601(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|-HH:MM]
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      s[13] != ':' || s[16] != ':')
    return std::nullopt;
  auto y = parse_int(s.substr(0, 4)), mo = parse_int(s.substr(5, 2)), d = parse_int(s.substr(8, 2));
  auto h = parse_int(s.substr(11, 2)), mi = parse_int(s.substr(14, 2)), se = parse_int(s.substr(17, 2));
  if (!y || !mo || !d || !h || !mi || !se) return std::nullopt;
  auto base = civil_to_epoch(*y, *mo, *d, *h, *mi, *se);
  if (!base) return std::nullopt;
  std::string_view rest = s.substr(19);
  if (!rest.empty() && rest.front() == '.') {
    size_t i = 1;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') ++i;
    if (i == 1) return std::nullopt;
    rest.remove_prefix(i);
  }
  if (rest.empty() || rest == "Z" || rest == "z") return base;
  if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    auto oh = parse_int(rest.substr(1, 2)), om = parse_int(rest.substr(4, 2));
    if (!oh || !om || *oh > 23 || *om > 59) return std::nullopt;
    int64_t off = *oh * 3600 + *om * 60;
    return rest[0] == '+' ? *base - off : *base + off;
  }
  return std::nullopt;
}

std::optional<int64_t> signed_url_expiry(std::string_view url) {
  size_t q = url.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = url.substr(q + 1);
  if (size_t h = query.find('#'); h != std::string_view::npos) query = query.substr(0, h);
  std::optional<int64_t> expires, amz_date, amz_expires;
  size_t i = 0;
  while (i <= query.size()) {
    size_t amp = query.find('&', i);
    std::string_view kv = query.substr(i, amp == std::string_view::npos ? query.npos : amp - i);
    size_t eq = kv.find('=');
    if (eq != std::string_view::npos) {
      std::string key = percent_decode(kv.substr(0, eq));
      std::string val = percent_decode(kv.substr(eq + 1));
      if (key == "Expires") expires = parse_int(val, 12);
      else if (key == "X-Amz-Date") amz_date = parse_amz_date(val);
      else if (key == "X-Amz-Expires") amz_expires = parse_int(val, 9);
    }
    if (amp == std::string_view::npos) break;
    i = amp + 1;
  }
  std::optional<int64_t> result = expires;
  if (amz_date && amz_expires) {
    int64_t e = *amz_date + *amz_expires;
    if (!result || e < *result) result = e;
  }
  return result;
}

int64_t location_expiry(std::string_view url, int64_t now_epoch, int64_t default_ttl_s) {
  if (auto e = signed_url_expiry(url)) return *e;
  return now_epoch + default_ttl_s;
}

}  // namespace hffs::hubapi
