// What `hffs mount` and `hffs prefetch` share before touching the network: the repo argument and
// the Hub client's configuration from options and the HF environment.
#pragma once
#include <optional>
#include <string>

#include "cli/env.h"
#include "common/status.h"
#include "hubapi/hub_client.h"

namespace hffs::cli {

// "org/name" / "datasets/org/name" with an optional --repo-type; the message is ready to print.
Result<hubapi::RepoId> parse_repo_cli(const std::string& repo, const std::optional<std::string>& repo_type);

struct HubOptions {
  std::optional<std::string> endpoint, token, token_file, ca_file;
  double deadline_s = 60;
  bool allow_http_redirect = false;
};

// Endpoint (option, else HF_ENDPOINT), token (--token, --token-file, else the environment's),
// CA file and deadline. `token_source` names where the token came from (never the token).
Result<hubapi::HubConfig> make_hub_config(const HubOptions& o, const HfEnv& env, std::string* token_source);

}  // namespace hffs::cli
