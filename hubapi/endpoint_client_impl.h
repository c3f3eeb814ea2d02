// Private to hubapi: the state EndpointClient's operations share, split by concern over
//   endpoint_client.cc            construction, counters, request building, the retry loop (`run`)
//   endpoint_client_api.cc        the metadata side: revision pinning and tree listing (API GETs)
//   endpoint_client_locations.cc  the location side: HEAD /resolve and the signed-location cache
//   endpoint_client_range.cc      the range-read side: one ranged GET into a ByteSink, retried, resumed
// Only these files include it (libcurl stays behind http.h, nlohmann/json in the .cc files).
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "hubapi/errors.h"
#include "hubapi/http.h"
#include "hubapi/endpoint_client.h"
#include "hubapi/retry.h"
#include "hubapi/token_source.h"
#include "hubapi/url.h"

namespace hffs::hubapi {

inline constexpr int64_t kNeverExpires = INT64_C(1) << 62;

inline bool is_redirect(long s) { return s == 301 || s == 302 || s == 303 || s == 307 || s == 308; }

std::string ms_str(Clock::duration d);
std::string mib_str(size_t bytes);

// The outcome of one attempt, as seen by the retry loop (EndpointClient::Impl::run).
struct Outcome {
  enum Kind { kDone, kRetry, kFail } kind = kDone;
  Status status;
  std::optional<std::chrono::milliseconds> server_delay;
  bool immediate = false;  // retry at once (a re-resolve or a redirect hop), no backoff
  bool uncounted = false;  // progress was made: does not use up an attempt
  static Outcome done() { return {}; }
  static Outcome fail(Status s) { return {kFail, std::move(s), std::nullopt, false, false}; }
  static Outcome retry(Status s, std::optional<std::chrono::milliseconds> d = std::nullopt) {
    return {kRetry, std::move(s), d, false, false};
  }
  // A retry sent at once: a fresh location, or a redirect hop (`hop`: not a failure, so it
  // neither uses up an attempt nor counts as a retry).
  static Outcome again(Status s, bool hop) {
    Outcome o = retry(std::move(s));
    o.immediate = true;
    o.uncounted = hop;
    return o;
  }
};

// Where the bytes of one file are served from now: a signed CDN URL, or the Hub's own URL.
struct CachedLocation {
  std::string url;
  bool hub = false;  // served by the endpoint itself (auth allowed, errors are Hub errors)
  int64_t resolved_at = 0;
  int64_t expires_at = kNeverExpires;
};

struct EndpointClient::Impl {
  HubConfig cfg;
  std::shared_ptr<TokenSource> tokens;  // never null (a fixed "none" for an endpoint not sent the token)
  bool fail_fast = false;
  std::string endpoint;
  std::optional<Url> ep;
  HttpClient http;
  RetryPolicy policy;
  UnitRng rng = &default_unit_rng;
  std::function<int64_t()> wall_clock;  // replaceable by tests
  int64_t now_epoch() const { return wall_clock(); }

  std::atomic<uint64_t> api_requests{0}, resolve_requests{0}, data_requests{0}, retries{0},
      bytes_received{0}, errors{0}, downgrades_refused{0}, site_hit_bytes{0}, site_miss_bytes{0};
  std::atomic<bool> downgrade_logged{false};
  // Whether a regular file read whole is asked for at its resolve-cache URL at once (one round
  // trip): only once this endpoint's /resolve redirected one there (the Hub does; a mirror that
  // serves /resolve itself, or a site cache that follows redirects for its nodes, never does), and
  // no longer once a resolve-cache URL answered anything but the bytes.
  enum ResolveCache : int { kUnknown, kSeen, kRefused };
  std::atomic<int> resolve_cache{kUnknown};

  std::mutex loc_mu;
  std::unordered_map<std::string, CachedLocation> locations;
  // One resolver at a time per file: concurrent readers of a file whose location is missing or
  // expired wait for the first one's HEAD instead of each sending their own.
  std::unordered_map<std::string, std::shared_ptr<std::mutex>> resolving;

  Impl(HubConfig c, bool fail_fast);

  // The state of one operation between its attempts, with one method per step of an attempt.
  class ApiGet;     // hub_client_api.cc
  class RangeRead;  // hub_client_range.cc

  // ---- requests and their failures (hub_client.cc) ----
  // A request to `url` carries the token (the endpoint's origin only, never a CDN's).
  bool may_send_auth(const std::string& url) const;
  // `r` is the endpoint's 401 to a request sent with `used`, and the token file holds another
  // token now (read again at once): the request is worth sending again (logged).
  bool token_rotated(const HttpResponse& r, const TokenSource::Token& used) const;
  // A redirect from `from` to `to` that leaves https for plain http: refused unless allowed
  // (logged once, counted). Returns the failure, or ok.
  Status check_downgrade(const std::string& from, const Url& to, const std::string& what);
  // `used`: the token the request carries (null: none).
  HttpRequest make_request(const std::string& url, Clock::time_point deadline, bool head,
                           TokenSource::Token* used = nullptr) const;
  std::string scrub(std::string s) const;
  Status scrubbed(const Status& s) const { return Status(s.code(), scrub(s.message())); }
  HttpErrorInfo error_info(const HttpResponse& r) const;
  Status net_status(const HttpResponse& r, const std::string& url) const;
  std::optional<std::chrono::milliseconds> server_delay(const HttpResponse& r) const;
  ErrorContext context(const RepoId& repo, std::string_view rev, std::string_view path,
                       RequestKind kind, std::string what) const;

  // A network failure that is not retried on this host: a timeout, a refused certificate, and with
  // fail_fast a stall, a refused connection or an unknown name (another endpoint takes the
  // request at once instead; a connection cut mid-body is still retried here once).
  bool final_net_failure(const HttpResponse& r) const {
    if (r.net == NetError::kTimeout || r.tls_verify_failed) return true;
    return fail_fast && (r.net == NetError::kStalled || r.net == NetError::kConnect || r.net == NetError::kResolve);
  }
  // Runs attempts until success, a final failure, max_attempts, or the deadline (endpoint_client.cc).
  Status run(const std::string& what, Clock::time_point start, Clock::time_point deadline,
             const std::function<Outcome()>& attempt);

  // ---- the metadata side (hub_client_api.cc) ----
  // GET on the API with redirects (max 5 hops) and retries. On success `out` holds the 200.
  Status api_get(const std::string& url, const std::string& what, const ErrorContext& ctx,
                 HttpResponse& out, std::string& final_url,
                 std::optional<Clock::time_point> cap = std::nullopt);

  // ---- the location side (hub_client_locations.cc) ----
  static std::string key_of(const RepoId& repo, std::string_view commit, std::string_view path);
  bool near_expiry(const CachedLocation& l, int64_t now) const;
  std::optional<CachedLocation> cached_location(const std::string& key);
  void store_location(const std::string& key, const CachedLocation& l);
  // Forgets the cached location of `key` if it still is `url` (another reader may have stored a
  // fresher one meanwhile).
  void drop_location(const std::string& key, const std::string& url);
  // The cached location of `key`, resolving it if missing/near expiry (single-flight per key).
  // `failed_url`: a location that just failed; a cached entry equal to it is not reused.
  Outcome location_for(const std::string& key, const std::string* failed_url, const RepoId& repo,
                       std::string_view commit, std::string_view path, Clock::time_point deadline,
                       const ErrorContext& ctx, CachedLocation& out);
  // HEAD /resolve without auto-redirects; relative (same-origin) hops followed by hand.
  Outcome resolve_once(const RepoId& repo, std::string_view commit, std::string_view path,
                       Clock::time_point deadline, const ErrorContext& ctx, CachedLocation& out);
};

}  // namespace hffs::hubapi
