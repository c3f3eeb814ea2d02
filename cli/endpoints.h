// The ordered list of endpoints a command talks to (README "Mirrors and failover"): --endpoint
// (command line or fstab endpoint=; repeatable, first = preferred) replaces HF_ENDPOINT (one URL
// or a comma-separated list), else https://huggingface.co. --no-token-endpoint and
// HFFS_NO_TOKEN_ENDPOINTS name endpoints of that list that are never sent the token.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "cli/env.h"
#include "common/status.h"
#include "hubapi/hub_client.h"

namespace hffs::cli {

inline constexpr const char* kDefaultEndpoint = "https://huggingface.co";

struct EndpointList {
  std::vector<hubapi::EndpointSpec> endpoints;  // never empty; first = preferred; trailing '/' stripped
  std::string source;                           // "--endpoint", "HF_ENDPOINT" or "the default"
  const std::string& preferred() const { return endpoints.front().url; }
  std::vector<std::string> urls() const;
};

// A comma-separated list as HF_ENDPOINT and HFFS_NO_TOKEN_ENDPOINTS hold it: spaces around items
// ignored; an empty item is an error that names `what` (the variable).
Result<std::vector<std::string>> split_endpoint_list(std::string_view text, std::string_view what);

// One endpoint URL as the Hub client needs it: http or https, a host (and port), maybe a path; no
// user:password@ (the token is the only credential), no query or fragment, no space or ','.
// Returns it with trailing '/' stripped. `what` (an option or variable) starts the error message,
// which never repeats credentials or a query.
Result<std::string> check_endpoint(std::string_view url, std::string_view what);

// Two spellings of one endpoint have the same key: scheme and host lowercased, the port explicit,
// the path without trailing '/'. `url` must have passed check_endpoint.
std::string endpoint_key(std::string_view url);

// The list from the options (`option`: every --endpoint in order; `no_token`: every
// --no-token-endpoint) and the environment. Errors (exit 2): a bad URL, an empty list item, the
// same endpoint twice, a no-token mark that names none of the endpoints in use.
Result<EndpointList> choose_endpoints(const std::vector<std::string>& option, const std::vector<std::string>& no_token,
                                      const HfEnv& env);

// For log lines and messages: "https://a" for one endpoint; for a list
// "https://a, then https://b (no token) (endpoints from HF_ENDPOINT)".
std::string describe(const EndpointList& list);

}  // namespace hffs::cli
