#include "hubapi/headers.h"

#include <charconv>

namespace hffs::hubapi {

namespace {

bool is_ws(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (is_ws(s.front()) || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (is_ws(s.back()) || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return r;
}

std::optional<uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::vector<LinkValue> parse_link_header(std::string_view v) {
  std::vector<LinkValue> out;
  size_t i = 0, n = v.size();
  while (i < n) {
    // Skip separators up to the next '<'.
    while (i < n && (is_ws(v[i]) || v[i] == ',')) ++i;
    if (i >= n) break;
    LinkValue lv;
    bool valid = false;
    if (v[i] == '<') {
      size_t close = v.find('>', i + 1);
      if (close == std::string_view::npos) break;
      lv.target = std::string(trim(v.substr(i + 1, close - i - 1)));
      i = close + 1;
      valid = true;
    }
    // Parameters until a ',' outside quotes.
    while (i < n && v[i] != ',') {
      if (v[i] != ';') {
        if (v[i] == '"') {  // stray quoted string: skip it whole
          ++i;
          while (i < n && v[i] != '"') i += (v[i] == '\\' && i + 1 < n) ? 2 : 1;
          if (i < n) ++i;
        } else {
          ++i;
        }
        continue;
      }
      ++i;  // ';'
      while (i < n && is_ws(v[i])) ++i;
      size_t name_start = i;
      while (i < n && v[i] != '=' && v[i] != ';' && v[i] != ',' && !is_ws(v[i])) ++i;
      std::string name = lower(v.substr(name_start, i - name_start));
      while (i < n && is_ws(v[i])) ++i;
      std::string value;
      if (i < n && v[i] == '=') {
        ++i;
        while (i < n && is_ws(v[i])) ++i;
        if (i < n && v[i] == '"') {
          ++i;
          while (i < n && v[i] != '"') {
            if (v[i] == '\\' && i + 1 < n) ++i;
            value += v[i++];
          }
          if (i < n) ++i;  // closing quote
        } else {
          size_t vs = i;
          while (i < n && v[i] != ';' && v[i] != ',') ++i;
          value = std::string(trim(v.substr(vs, i - vs)));
        }
      }
      if (name == "rel") {
        std::string lv_rel = lower(value);
        size_t p = 0;
        while (p < lv_rel.size()) {
          while (p < lv_rel.size() && is_ws(lv_rel[p])) ++p;
          size_t q = p;
          while (q < lv_rel.size() && !is_ws(lv_rel[q])) ++q;
          if (q > p) lv.rels.push_back(lv_rel.substr(p, q - p));
          p = q;
        }
      }
    }
    if (valid && !lv.target.empty()) out.push_back(std::move(lv));
  }
  return out;
}

std::optional<std::string> link_next(std::string_view value) {
  for (auto& lv : parse_link_header(value))
    for (auto& r : lv.rels)
      if (r == "next") return lv.target;
  return std::nullopt;
}

std::optional<ContentRange> parse_content_range(std::string_view v) {
  v = trim(v);
  if (v.size() < 6 || lower(v.substr(0, 6)) != "bytes ") return std::nullopt;
  v.remove_prefix(6);
  v = trim(v);
  size_t dash = v.find('-');
  size_t slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || dash > slash)
    return std::nullopt;
  auto first = parse_u64(v.substr(0, dash));
  auto last = parse_u64(v.substr(dash + 1, slash - dash - 1));
  if (!first || !last || *first > *last) return std::nullopt;
  ContentRange cr{*first, *last, std::nullopt};
  std::string_view tot = v.substr(slash + 1);
  if (tot != "*") {
    auto t = parse_u64(tot);
    if (!t || *last >= *t) return std::nullopt;
    cr.total = *t;
  }
  return cr;
}

std::optional<int64_t> parse_retry_after_seconds(std::string_view v) {
  auto s = parse_u64(trim(v));
  if (!s || *s > 86400ull * 365) return std::nullopt;
  return static_cast<int64_t>(*s);
}

std::optional<RateLimit> parse_ratelimit(std::string_view v) {
  RateLimit rl;
  bool any = false;
  size_t i = 0;
  while (i <= v.size()) {
    size_t semi = v.find_first_of(";,", i);
    std::string_view item = trim(v.substr(i, semi == std::string_view::npos ? v.npos : semi - i));
    size_t eq = item.find('=');
    if (eq != std::string_view::npos) {
      std::string key = lower(trim(item.substr(0, eq)));
      std::string_view val = trim(item.substr(eq + 1));
      if (!val.empty() && val.front() == '"' && val.size() >= 2 && val.back() == '"')
        val = val.substr(1, val.size() - 2);
      auto num = parse_u64(val);
      if (num && *num < (1ull << 40)) {
        if (key == "r") { rl.remaining = static_cast<int64_t>(*num); any = true; }
        if (key == "t") { rl.reset = static_cast<int64_t>(*num); any = true; }
      }
    }
    if (semi == std::string_view::npos) break;
    i = semi + 1;
  }
  if (!any) return std::nullopt;
  return rl;
}

std::string normalize_etag(std::string_view e) {
  e = trim(e);
  if (e.substr(0, 2) == "W/") e.remove_prefix(2);
  if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
  return std::string(e);
}

}  // namespace hffs::hubapi
