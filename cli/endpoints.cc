#include "cli/endpoints.h"

#include <map>

// The client's own URL parser: an endpoint accepted here is one the client can use.
#include "hubapi/url.h"

namespace hffs::cli {

namespace {

Status bad(std::string_view what, const std::string& why) {
  return Status(Errc::kInvalidInput, std::string(what) + ": " + why);
}

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

}  // namespace

std::vector<std::string> EndpointList::urls() const {
  std::vector<std::string> out;
  for (const auto& e : endpoints) out.push_back(e.url);
  return out;
}

Result<std::vector<std::string>> split_endpoint_list(std::string_view text, std::string_view what) {
  std::vector<std::string> out;
  for (size_t start = 0;;) {
    size_t comma = text.find(',', start);
    size_t len = comma == std::string_view::npos ? std::string_view::npos : comma - start;
    std::string item = trim(text.substr(start, len));
    if (item.empty())
      return bad(what, "item " + std::to_string(out.size() + 1) + " of the list is empty (give URLs separated by ',')");
    out.push_back(std::move(item));
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

Result<std::string> check_endpoint(std::string_view url, std::string_view what) {
  if (url.empty()) return bad(what, "an empty endpoint URL");
  // First, and without quoting the URL: it holds a secret.
  size_t scheme_end = url.find("://");
  std::string_view authority = scheme_end == std::string_view::npos ? url : url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos)
    return bad(what, "an endpoint URL must not carry credentials (user:password@host): give the token with "
                     "HF_TOKEN or --token-file");
  if (url.find_first_of("?#") != std::string_view::npos)
    return bad(what, "'" + hubapi::redact_url(url) + "' has a query or fragment: give the endpoint's base URL");
  for (char c : url) {
    if (c == ',')
      return bad(what, "'" + std::string(url) +
                           "' holds a ',': give one URL per --endpoint (repeat the option for a list)");
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
      return bad(what, "'" + std::string(url) + "' holds a space or control character");
  }
  std::string normalized = hubapi::normalize_endpoint(url);
  if (!hubapi::parse_url(normalized))
    return bad(what, "'" + std::string(url) + "' is not an http:// or https:// URL with a host");
  return normalized;
}

std::string endpoint_key(std::string_view url) {
  auto u = hubapi::parse_url(url);
  if (!u) return std::string(url);
  std::string path = u->path();
  while (!path.empty() && path.back() == '/') path.pop_back();
  return u->origin() + path;
}

Result<EndpointList> choose_endpoints(const std::vector<std::string>& option, const std::vector<std::string>& no_token,
                                      const HfEnv& env) {
  EndpointList out;
  std::vector<std::string> given;
  if (!option.empty()) {
    given = option;
    out.source = "--endpoint";
  } else if (env.endpoint_list) {
    auto items = split_endpoint_list(*env.endpoint_list, "HF_ENDPOINT");
    if (!items) return items.status();
    given = std::move(*items);
    out.source = "HF_ENDPOINT";
  } else {
    given = {kDefaultEndpoint};
    out.source = "the default";
  }
  std::map<std::string, std::string> seen;  // key -> as given
  for (const auto& g : given) {
    auto url = check_endpoint(g, out.source);
    if (!url) return url.status();
    auto [it, fresh] = seen.emplace(endpoint_key(*url), *url);
    if (!fresh)
      return bad(out.source, "the endpoint " + it->second + " is listed twice" +
                                 (it->second == *url ? std::string() : " (also as " + *url + ")"));
    out.endpoints.push_back({*url, true});
  }

  // A mark that matches nothing is refused: a typo would otherwise send the token where the user
  // meant it not to go.
  auto mark = [&out](const std::string& given_url, std::string_view what) -> Status {
    auto url = check_endpoint(given_url, what);
    if (!url) return url.status();
    const std::string key = endpoint_key(*url);
    for (auto& e : out.endpoints) {
      if (endpoint_key(e.url) != key) continue;
      e.send_token = false;
      return Status::ok();
    }
    return bad(what, *url + " is not one of the endpoints in use (" + join(out.urls()) + ", from " + out.source + ")");
  };
  for (const auto& n : no_token)
    if (auto st = mark(n, "--no-token-endpoint"); !st) return st;
  if (env.no_token_endpoints) {
    auto items = split_endpoint_list(*env.no_token_endpoints, "HFFS_NO_TOKEN_ENDPOINTS");
    if (!items) return items.status();
    for (const auto& n : *items)
      if (auto st = mark(n, "HFFS_NO_TOKEN_ENDPOINTS"); !st) return st;
  }
  return out;
}

std::string describe(const EndpointList& list) {
  std::string out;
  for (const auto& e : list.endpoints)
    out += (out.empty() ? "" : ", then ") + e.url + (e.send_token ? "" : " (no token)");
  if (list.endpoints.size() > 1) out += " (endpoints from " + list.source + ")";
  return out;
}

}  // namespace hffs::cli
