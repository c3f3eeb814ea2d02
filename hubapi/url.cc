#include "hubapi/url.h"

#include <charconv>

namespace hffs::hubapi {

namespace {

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-' || c == '~';
}

void append_escaped(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out += '%';
  out += kHex[c >> 4];
  out += kHex[c & 15];
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return r;
}

}  // namespace

std::string encode_segment(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 3);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (unreserved(c)) out += ch;
    else append_escaped(out, c);
  }
  return out;
}

std::string encode_path(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 3);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (unreserved(c) || c == '/') out += ch;
    else append_escaped(out, c);
  }
  return out;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
      if (h >= 0 && l >= 0) {
        out += static_cast<char>(h * 16 + l);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

std::string normalize_endpoint(std::string_view ep) {
  while (!ep.empty() && ep.back() == '/') ep.remove_suffix(1);
  return std::string(ep);
}

std::string Url::path() const {
  size_t q = target.find('?');
  return q == std::string::npos ? target : target.substr(0, q);
}

std::string Url::query() const {
  size_t q = target.find('?');
  return q == std::string::npos ? std::string() : target.substr(q + 1);
}

std::string Url::origin() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return scheme + "://" + h + ":" + std::to_string(port);
}

std::optional<Url> parse_url(std::string_view url) {
  size_t colon = url.find("://");
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  Url u;
  u.scheme = lower(url.substr(0, colon));
  if (u.scheme != "http" && u.scheme != "https") return std::nullopt;
  std::string_view rest = url.substr(colon + 3);
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  std::string_view port_str;
  if (!authority.empty() && authority.front() == '[') {
    size_t rb = authority.find(']');
    if (rb == std::string_view::npos) return std::nullopt;
    u.host = lower(authority.substr(1, rb - 1));
    std::string_view after = authority.substr(rb + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port_str = after.substr(1);
    }
  } else {
    size_t c = authority.rfind(':');
    if (c != std::string_view::npos) {
      port_str = authority.substr(c + 1);
      authority = authority.substr(0, c);
    }
    u.host = lower(authority);
    // "a:b" or "[a]b" is no host name; taken as one, its origin() would not parse back.
    if (u.host.find_first_of(":[]") != std::string::npos) return std::nullopt;
  }
  if (u.host.empty() || u.host.find_first_of("[]") != std::string::npos) return std::nullopt;
  if (!port_str.empty()) {
    int p = 0;
    auto [ptr, ec] = std::from_chars(port_str.data(), port_str.data() + port_str.size(), p);
    if (ec != std::errc() || ptr != port_str.data() + port_str.size() || p <= 0 || p > 65535)
      return std::nullopt;
    u.port = p;
  } else {
    u.port = u.scheme == "https" ? 443 : 80;
  }
  if (size_t h = tail.find('#'); h != std::string_view::npos) tail = tail.substr(0, h);
  if (tail.empty() || tail.front() == '?') u.target = "/" + std::string(tail);
  else u.target = std::string(tail);
  return u;
}

bool same_origin(const Url& a, const Url& b) {
  return a.scheme == b.scheme && a.host == b.host && a.port == b.port;
}

bool is_relative_reference(std::string_view ref) {
  if (ref.substr(0, 2) == "//") return false;
  size_t colon = ref.find(':');
  size_t slash = ref.find_first_of("/?#");
  // "scheme:" appears before any '/', '?' or '#'.
  return !(colon != std::string_view::npos && (slash == std::string_view::npos || colon < slash));
}

bool is_downgrade(const Url& from, const Url& to) { return from.scheme == "https" && to.scheme == "http"; }

std::optional<std::string> resolve_reference(const Url& base, std::string_view ref) {
  // Strip surrounding whitespace.
  while (!ref.empty() && (ref.front() == ' ' || ref.front() == '\t')) ref.remove_prefix(1);
  while (!ref.empty() && (ref.back() == ' ' || ref.back() == '\t' || ref.back() == '\r'))
    ref.remove_suffix(1);
  if (ref.empty()) return std::nullopt;
  std::string h = base.host.find(':') != std::string::npos ? "[" + base.host + "]" : base.host;
  bool default_port = (base.scheme == "https" && base.port == 443) ||
                      (base.scheme == "http" && base.port == 80);
  std::string authority = default_port ? h : h + ":" + std::to_string(base.port);
  if (ref.substr(0, 2) == "//") {
    std::string full = base.scheme + ":" + std::string(ref);
    if (!parse_url(full)) return std::nullopt;
    return full;
  }
  if (!is_relative_reference(ref)) {
    if (!parse_url(ref)) return std::nullopt;
    return std::string(ref);
  }
  if (ref.front() == '/') return base.scheme + "://" + authority + std::string(ref);
  std::string dir = base.path();
  size_t last = dir.rfind('/');
  dir = last == std::string::npos ? "/" : dir.substr(0, last + 1);
  if (ref.front() == '?') return base.scheme + "://" + authority + base.path() + std::string(ref);
  return base.scheme + "://" + authority + dir + std::string(ref);
}

std::string redact_url(std::string_view url) {
  size_t q = url.find('?');
  if (q == std::string_view::npos) return std::string(url);
  return std::string(url.substr(0, q)) + "?<redacted>";
}

std::string api_repo_url(std::string_view endpoint, const RepoId& repo) {
  // The repo id goes in raw: its allowed characters never need escaping and the Hub rejects %2F.
  return std::string(endpoint) + "/api/" + std::string(repo_type_plural(repo.type)) + "/" + repo.id;
}

std::string revision_url(std::string_view endpoint, const RepoId& repo, std::string_view rev) {
  // Only the fields hffs reads: without `expand` the Hub also sends `siblings`, one entry per file
  // (tens of MB for a dataset of a million files, past the bound on one answer). Each name is in
  // the huggingface_hub clients' lists for that repo type; Spaces have no `gated`.
  return api_repo_url(endpoint, repo) + "/revision/" + encode_segment(rev) +
         (repo.type == RepoType::kSpace ? "?expand=sha&expand=lastModified&expand=private"
                                        : "?expand=sha&expand=lastModified&expand=private&expand=gated");
}

std::string tree_url(std::string_view endpoint, const RepoId& repo, std::string_view rev,
                     int limit) {
  return tree_url(endpoint, repo, rev, "", true, limit);
}

std::string tree_url(std::string_view endpoint, const RepoId& repo, std::string_view rev, std::string_view dir,
                     bool recursive, int limit) {
  return api_repo_url(endpoint, repo) + "/tree/" + encode_segment(rev) + (dir.empty() ? "" : "/" + encode_path(dir)) +
         "?recursive=" + (recursive ? "true" : "false") + "&expand=false&limit=" + std::to_string(limit);
}

std::string resolve_url(std::string_view endpoint, const RepoId& repo, std::string_view rev,
                        std::string_view path) {
  return std::string(endpoint) + "/" + std::string(repo_type_web_prefix(repo.type)) + repo.id +
         "/resolve/" + encode_segment(rev) + "/" + encode_path(path);
}

std::string resolve_cache_url(std::string_view endpoint, const RepoId& repo, std::string_view commit,
                              std::string_view path) {
  return std::string(endpoint) + "/api/resolve-cache/" + std::string(repo_type_plural(repo.type)) + "/" + repo.id +
         "/" + encode_segment(commit) + "/" + encode_path(path);
}

}  // namespace hffs::hubapi
