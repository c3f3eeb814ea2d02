#include "cli/hub_setup.h"

#include <cmath>

#include <chrono>
#include <fstream>
#include <filesystem>

#include "hubapi/token_source.h"

namespace hffs::cli {

namespace {

// Seconds as milliseconds, for a value already checked finite and bounded.
std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

}  // namespace

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

bool has_token(const hubapi::HubConfig& c) {
  return c.token_source ? c.token_source->current() != nullptr : c.token.has_value();
}

std::vector<std::string> known_tokens(const hubapi::HubConfig& c) {
  if (c.token_source) return c.token_source->known();
  return c.token ? std::vector<std::string>{*c.token} : std::vector<std::string>{};
}

Result<HubSetup> make_hub_config(const HubArgs& o, const HfEnv& env) {
  HubSetup out;
  hubapi::HubConfig& hc = out.config;
  auto list = choose_endpoints(o.endpoint, o.no_token_endpoint, env);
  if (!list) return list.status();
  out.endpoints = std::move(*list);
  hc.set_endpoints(out.endpoints.endpoints);
  std::string source = "none";
  std::optional<std::filesystem::path> file;  // a token file rotates: re-read as it changes
  if (o.token) {
    hc.token = clean_token(*o.token);
    source = "--token";
  } else if (o.token_file) {
    if (!std::ifstream(*o.token_file)) return Status(Errc::kInvalidInput, "cannot read token file " + *o.token_file);
    file = *o.token_file;
  } else if (env.token) {
    hc.token = env.token;
    source = env.token_source;
    file = env.token_file;
  }
  if (file) {
    // Absolute: the daemon runs in "/".
    std::error_code ec;
    auto full = std::filesystem::absolute(*file, ec);
    source = (ec ? *file : full.lexically_normal()).string();
    hc.token_source = hubapi::TokenSource::file(source, env.token_recheck);
    if (auto t = hc.token_source->current()) hc.token = *t;
    else hc.token.reset();
  } else {
    hc.token_source = hubapi::TokenSource::fixed(hc.token);
  }
  if (o.ca_file) hc.ca_file = *o.ca_file;
  // NaN, infinity or absurd values would overflow the conversion below (a week is plenty).
  if (!std::isfinite(o.op_deadline_s) || o.op_deadline_s <= 0 || o.op_deadline_s > 7 * 86400.0)
    return Status(Errc::kInvalidInput, "--deadline must be a number of seconds between 0 and 604800");
  hc.op_deadline = millis(o.op_deadline_s);
  if (!(o.endpoint_backoff_s >= kEndpointBackoffMin) || !(o.endpoint_backoff_s <= kEndpointBackoffMax))
    return Status(Errc::kInvalidInput, "--endpoint-backoff must be a number of seconds from 0.001 to 120");
  hc.endpoint_backoff = millis(o.endpoint_backoff_s);
  if (!(o.stall_timeout_s >= kStallTimeoutMin) || !(o.stall_timeout_s <= kStallTimeoutMax))
    return Status(Errc::kInvalidInput, "--stall-timeout must be a number of seconds from 0.1 to 3600");
  hc.stall_timeout = millis(o.stall_timeout_s);
  hc.allow_http_redirect = o.allow_http_redirect;
  out.token_source = hc.token || file ? source : "none";
  if (file) out.token_source += " (re-read when it changes)";
  return out;
}

}  // namespace hffs::cli
