// What `hffs mount` and `hffs prefetch` share before touching the network: the repo argument and
// the Hub client's configuration from options and the HF environment.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/endpoints.h"
#include "cli/env.h"
#include "common/status.h"
#include "hubapi/hub_client.h"

namespace hffs::cli {

// "org/name" / "datasets/org/name" with an optional --repo-type; the message is ready to print.
Result<hubapi::RepoId> parse_repo_cli(const std::string& repo, const std::optional<std::string>& repo_type);

// Bounds of --endpoint-backoff, seconds: past the maximum the client's doubling stops anyway
// (HubConfig::endpoint_backoff_max).
inline constexpr double kEndpointBackoffMin = 0.001, kEndpointBackoffMax = 120;
// Bounds of --stall-timeout, seconds.
inline constexpr double kStallTimeoutMin = 0.1, kStallTimeoutMax = 3600;

struct HubSetup {
  hubapi::HubConfig config;
  EndpointList endpoints;    // what config holds, with where the list came from
  std::string token_source;  // where the token came from ("none" without one); never the token
};

// Whether a token is sent now (a token file may gain or lose one), and every token sent so far
// (what output must never show).
bool has_token(const hubapi::HubConfig& c);
std::vector<std::string> known_tokens(const hubapi::HubConfig& c);

// Endpoints (cli/endpoints.h), token (--token, --token-file, else the environment's; a token from
// a file comes with a TokenSource that re-reads it as it rotates), CA file, deadline and endpoint
// back-off. Every error is a usage error with a message ready to print.
Result<HubSetup> make_hub_config(const HubArgs& o, const HfEnv& env);

}  // namespace hffs::cli
