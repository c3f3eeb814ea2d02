// EndpointClient: construction, counters, request building and failure mapping shared by every
// operation, and the retry loop. The operations live by concern in hub_client_api.cc (metadata),
// hub_client_locations.cc (/resolve and the signed-location cache) and hub_client_range.cc
// (range reads); hub_client_impl.h is the state they share.
#include "hubapi/endpoint_client.h"

#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

#include "hubapi/headers.h"
#include "hubapi/endpoint_client_impl.h"
#include "hubapi/token_source.h"

namespace hffs::hubapi {

using std::chrono::milliseconds;

std::string mib_str(size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

std::string ms_str(Clock::duration d) {
  return std::to_string(std::chrono::duration_cast<milliseconds>(d).count()) + " ms";
}

namespace {

int64_t system_epoch() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

EndpointClient::Impl::Impl(HubConfig c, bool ff)
    : cfg(std::move(c)),
      fail_fast(ff),
      endpoint(normalize_endpoint(cfg.endpoint)),
      ep(parse_url(endpoint)),
      http(HttpOptions{cfg.user_agent, cfg.ca_file, 64}),
      wall_clock(&system_epoch) {
  cfg.endpoint = endpoint;
  policy.max_attempts = std::max(0, cfg.max_attempts);
  // One retry on the same host (a pooled connection the server had closed), then the next endpoint.
  if (fail_fast && (policy.max_attempts == 0 || policy.max_attempts > 2)) policy.max_attempts = 2;
  policy.base = cfg.backoff_base;
  policy.cap = cfg.backoff_cap;
  // One source for every endpoint of the list (a file is looked at once, not per endpoint); an
  // endpoint that must never see the token gets none.
  if (!cfg.endpoint_sends_token) tokens = TokenSource::fixed(std::nullopt);
  else if (cfg.token_source) tokens = cfg.token_source;
  else tokens = TokenSource::fixed(cfg.token);
  cfg.token_source = tokens;
  if (auto t = tokens->current()) cfg.token = *t;
  else cfg.token.reset();
}

bool EndpointClient::Impl::may_send_auth(const std::string& url) const {
  if (!ep) return false;
  auto u = parse_url(url);
  return u && same_origin(*u, *ep);
}

bool EndpointClient::Impl::token_rotated(const HttpResponse& r, const TokenSource::Token& used) const {
  if (r.status != 401 || !tokens->rejected(used)) return false;
  spdlog::info("hubapi: {} rejected the token; sending the request again with the token now in {}", endpoint,
               tokens->path());
  return true;
}

Status EndpointClient::Impl::check_downgrade(const std::string& from, const Url& to, const std::string& what) {
  auto f = parse_url(from);
  if (!f || !is_downgrade(*f, to) || cfg.allow_http_redirect) return Status::ok();
  ++downgrades_refused;
  std::string msg = "the Hub at " + endpoint + " redirected " + what + " from https to plain http (" +
                    to.origin() + "): refused, bytes over http could be altered on the way; pass " +
                    "--allow-http-redirect (fstab allow_http_redirect) only for a mirror that serves http";
  if (!downgrade_logged.exchange(true)) spdlog::warn("hubapi: {}", msg);
  return Status(Errc::kProtocol, msg);
}

HttpRequest EndpointClient::Impl::make_request(const std::string& url, Clock::time_point deadline, bool head,
                                               TokenSource::Token* used) const {
  HttpRequest r;
  r.url = url;
  r.head = head;
  r.deadline = deadline;
  r.connect_timeout = cfg.connect_timeout;
  r.stall_timeout = cfg.stall_timeout;
  TokenSource::Token t = may_send_auth(url) ? tokens->current() : nullptr;
  if (t) r.headers.push_back("Authorization: Bearer " + *t);
  if (used) *used = std::move(t);
  return r;
}

std::string EndpointClient::Impl::scrub(std::string s) const {
  for (const std::string& t : tokens->known()) s = scrub_secret(std::move(s), t);
  return s;
}

HttpErrorInfo EndpointClient::Impl::error_info(const HttpResponse& r) const {
  HttpErrorInfo e;
  e.status = r.status;
  e.error_code = r.headers.get("x-error-code");
  e.error_message = r.headers.get("x-error-message");
  if (e.error_message.empty()) e.error_message = error_message_from_body(r.body);
  for (const char* h : {"x-request-id", "x-amzn-trace-id", "x-amz-cf-id"}) {
    e.request_id = r.headers.get(h);
    if (!e.request_id.empty()) break;
  }
  return e;
}

Status EndpointClient::Impl::net_status(const HttpResponse& r, const std::string& url) const {
  std::string where;
  if (auto u = parse_url(url)) where = u->scheme + "://" + u->host + ":" + std::to_string(u->port);
  else where = redact_url(url);
  std::string msg = std::string(net_error_name(r.net)) + " talking to " + where;
  if (!r.curl_error.empty()) msg += " (curl: " + sanitize_for_message(r.curl_error, 200) + ")";
  if (r.net == NetError::kTimeout) return Status(Errc::kTimeout, msg);
  if (r.net == NetError::kAborted || r.overflow)
    return Status(Errc::kProtocol, msg + ": the response was not what was asked for");
  return Status(Errc::kNetwork, msg);
}

std::optional<milliseconds> EndpointClient::Impl::server_delay(const HttpResponse& r) const {
  return server_requested_delay(r.headers.get("retry-after"), r.headers.get("ratelimit"));
}

ErrorContext EndpointClient::Impl::context(const RepoId& repo, std::string_view rev, std::string_view path,
                                      RequestKind kind, std::string what) const {
  ErrorContext c;
  c.endpoint = endpoint;
  c.repo_display = repo_display(repo);
  c.revision = std::string(rev);
  c.path = std::string(path);
  c.what = std::move(what);
  c.had_token = tokens->current() != nullptr;
  c.kind = kind;
  return c;
}

Status EndpointClient::Impl::run(const std::string& what, Clock::time_point start, Clock::time_point deadline,
                            const std::function<Outcome()>& attempt) {
  int counted = 0;
  int backoff_index = 0;
  int immediate_streak = 0;  // counted retries in a row without a wait
  Status last;
  for (int guard = 0; guard < 10'000; ++guard) {
    Outcome o = attempt();
    if (o.kind == Outcome::kDone) return Status::ok();
    last = scrubbed(o.status);
    if (o.kind == Outcome::kFail) {
      ++errors;
      if (last.code() == Errc::kTimeout)
        return Status(Errc::kTimeout, "timed out after " + ms_str(Clock::now() - start) + " " + what +
                                          " (deadline " + ms_str(cfg.op_deadline) + "): " + last.message());
      return last;
    }
    if (!o.uncounted) ++counted;
    // Another endpoint can serve: a server asking for a long wait is not waited for.
    if (fail_fast && o.server_delay && *o.server_delay > cfg.failover_max_server_wait) {
      ++errors;
      return Status(last.code(), last.message() + " (asked to wait " + ms_str(*o.server_delay) + ")");
    }
    if (policy.max_attempts > 0 && counted >= policy.max_attempts) {
      ++errors;
      return Status(last.code(), last.message() + " (gave up after " + std::to_string(counted) +
                                     " attempts " + what + ")");
    }
    // An immediate retry (a fresh location, a redirect hop) waits only when it keeps failing:
    // two in a row, then the backoff spaces them like any other retry.
    bool wait = !o.immediate || (!o.uncounted && ++immediate_streak > 2);
    if (!o.immediate) immediate_streak = 0;
    if (o.uncounted && !o.immediate) backoff_index = 0;  // progress: the path works again
    milliseconds delay{0};
    auto now = Clock::now();
    if (wait) {
      delay = next_delay(policy, backoff_index++, rng(), o.server_delay);
      // Our own backoff never outlasts the deadline: near it, the last tries come sooner. A
      // server-requested wait past the deadline means failing now.
      auto left = std::chrono::duration_cast<milliseconds>(deadline - now);
      if (!o.server_delay && delay >= left && left > milliseconds(50)) delay = left / 2;
    }
    if (now + delay >= deadline) {
      ++errors;
      return Status(Errc::kTimeout,
                    "timed out after " + ms_str(now - start) + " " + what + " (deadline " +
                        ms_str(cfg.op_deadline) + (delay.count() ? ", next retry due in " + ms_str(delay) : "") +
                        "); last error: " + last.to_string());
    }
    if (!(o.immediate && o.uncounted)) ++retries;  // a redirect hop is not a retry
    spdlog::debug("hubapi: retrying {} in {} ms: {}", what, delay.count(), last.to_string());
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
  }
  ++errors;
  return last;
}

EndpointClient::EndpointClient(HubConfig cfg, bool fail_fast)
    : impl_(std::make_unique<Impl>(std::move(cfg), fail_fast)) {}
EndpointClient::~EndpointClient() = default;

const std::string& EndpointClient::endpoint() const { return impl_->endpoint; }

const HubConfig& EndpointClient::config() const { return impl_->cfg; }

void EndpointClient::set_wall_clock_for_testing(std::function<int64_t()> now_epoch_seconds) {
  impl_->wall_clock = now_epoch_seconds ? std::move(now_epoch_seconds) : &system_epoch;
}

HubStats EndpointClient::stats() const {
  HubStats s;
  s.api_requests = impl_->api_requests.load();
  s.resolve_requests = impl_->resolve_requests.load();
  s.data_requests = impl_->data_requests.load();
  s.retries = impl_->retries.load();
  s.bytes_received = impl_->bytes_received.load();
  s.errors = impl_->errors.load();
  s.http_downgrades_refused = impl_->downgrades_refused.load();
  s.site_cache_hit_bytes = impl_->site_hit_bytes.load();
  s.site_cache_miss_bytes = impl_->site_miss_bytes.load();
  return s;
}

}  // namespace hffs::hubapi
