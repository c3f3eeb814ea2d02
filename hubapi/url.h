// URL building and parsing helpers (hub-protocol.md 1.4, 1.5). Private to hubapi.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "hubapi/types.h"

namespace hffs::hubapi {

// Percent-encodes everything except A-Za-z0-9_.-~ (UTF-8 octets as %XX). `/` is escaped too.
std::string encode_segment(std::string_view s);
// As encode_segment but keeps '/' separators (file paths in /resolve/).
std::string encode_path(std::string_view s);
// Decodes %XX; invalid escapes are kept literally.
std::string percent_decode(std::string_view s);

// Strips trailing '/' characters.
std::string normalize_endpoint(std::string_view ep);

struct Url {
  std::string scheme;  // lowercased
  std::string host;    // lowercased; IPv6 literal without brackets
  int port = 0;        // explicit or the scheme default
  std::string target;  // path + query ("/" when empty), no fragment
  std::string path() const;   // target without query
  std::string query() const;  // after '?', "" when none
  // scheme://host:port, used to decide whether credentials may be sent.
  std::string origin() const;
};
std::optional<Url> parse_url(std::string_view url);

// True when `a` and `b` have the same scheme, host and port.
bool same_origin(const Url& a, const Url& b);
// True when going from `from` to `to` leaves https for plain http.
bool is_downgrade(const Url& from, const Url& to);

// Resolves a Location / Link target against `base` (absolute, scheme-relative, absolute-path or
// relative-path reference). Returns nullopt when it cannot be understood.
std::optional<std::string> resolve_reference(const Url& base, std::string_view ref);
// True for "/x", "x", "../x" (a reference without scheme and without "//host").
bool is_relative_reference(std::string_view ref);

// Drops the query of a URL for log and error messages (signed URLs carry credentials).
std::string redact_url(std::string_view url);

// URL builders. `endpoint` must be normalized.
std::string api_repo_url(std::string_view endpoint, const RepoId& repo);  // {EP}/api/{types}/{repo}
// The revision info, asking only for id, sha, lastModified, private and gated (no `siblings`).
std::string revision_url(std::string_view endpoint, const RepoId& repo, std::string_view rev);
// `dir` "" lists from the root; a non-recursive listing names only the direct children of `dir`.
std::string tree_url(std::string_view endpoint, const RepoId& repo, std::string_view rev, std::string_view dir,
                     bool recursive, int limit = 1000);
std::string tree_url(std::string_view endpoint, const RepoId& repo, std::string_view rev,
                     int limit = 1000);
std::string resolve_url(std::string_view endpoint, const RepoId& repo, std::string_view rev,
                        std::string_view path);
// Where the Hub's /resolve of a regular (non-LFS) file redirects: {EP}/api/resolve-cache/{types}/
// {repo}/{commit}/{path}, without the query the redirect adds (huggingface_hub drops it too).
std::string resolve_cache_url(std::string_view endpoint, const RepoId& repo, std::string_view commit,
                              std::string_view path);

}  // namespace hffs::hubapi
