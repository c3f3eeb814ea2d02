#include "cli/hub_setup.h"

#include <cmath>

#include <chrono>
#include <fstream>
#include <sstream>

namespace hffs::cli {

Result<hubapi::RepoId> parse_repo_cli(const std::string& repo, const std::optional<std::string>& repo_type) {
  std::optional<hubapi::RepoType> type;
  if (repo_type) {
    auto t = hubapi::parse_repo_type(*repo_type);
    if (!t) return t.status();
    type = *t;
  }
  auto r = hubapi::parse_repo_arg(repo, type);
  if (!r) return Status(Errc::kInvalidInput, "invalid repository '" + repo + "': " + r.status().message());
  return r;
}

Result<hubapi::HubConfig> make_hub_config(const HubOptions& o, const HfEnv& env, std::string* token_source) {
  hubapi::HubConfig hc;
  hc.endpoint = o.endpoint.value_or(env.endpoint);
  while (!hc.endpoint.empty() && hc.endpoint.back() == '/') hc.endpoint.pop_back();
  std::string source = "none";
  if (o.token) {
    hc.token = clean_token(*o.token);
    source = "--token";
  } else if (o.token_file) {
    std::ifstream tf(*o.token_file);
    if (!tf) return Status(Errc::kInvalidInput, "cannot read token file " + *o.token_file);
    std::stringstream ts;
    ts << tf.rdbuf();
    hc.token = clean_token(ts.str());
    source = *o.token_file;
  } else if (env.token) {
    hc.token = env.token;
    source = env.token_source;
  }
  if (o.ca_file) hc.ca_file = *o.ca_file;
  // NaN, infinity or absurd values would overflow the conversion below (a week is plenty).
  if (!std::isfinite(o.deadline_s) || o.deadline_s <= 0 || o.deadline_s > 7 * 86400.0)
    return Status(Errc::kInvalidInput, "--deadline must be a number of seconds between 0 and 604800");
  hc.op_deadline = std::chrono::milliseconds(static_cast<int64_t>(o.deadline_s * 1000));
  hc.allow_http_redirect = o.allow_http_redirect;
  if (token_source) *token_source = hc.token ? source : "none";
  return hc;
}

}  // namespace hffs::cli
