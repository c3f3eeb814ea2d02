// The configuration of the Hub client and the numbers it reports: plain data shared by the
// failover client (hub_client.h) and the client of one endpoint (endpoint_client.h).
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hubapi/limits.h"

namespace hffs::hubapi {

class TokenSource;  // token_source.h

// One endpoint of an ordered list (a mirror, a site cache, the Hub).
struct EndpointSpec {
  std::string url;
  bool send_token = true;  // false: never sent the token (a third party's public mirror)
};

struct HubConfig {
  std::string endpoint = "https://huggingface.co";  // the preferred endpoint; trailing '/' stripped
  bool endpoint_sends_token = true;
  // Tried in this order when the preferred endpoint cannot serve (host failures, or a mirror that
  // lacks the repo, the commit, or refuses a gated repo). Empty: one endpoint, as it always was.
  std::vector<EndpointSpec> fallback_endpoints;
  std::optional<std::string> token;  // sent only to endpoints (never to a CDN a redirect names)
  // When set, where the token comes from instead of `token` (a file re-read as it rotates,
  // token_source.h); shared by every endpoint of the list.
  std::shared_ptr<TokenSource> token_source;
  std::string ca_file;                              // extra CA bundle ("" = system default;
                                                    // SSL_CERT_FILE / CURL_CA_BUNDLE honoured)
  std::string user_agent = "hffs/" HFFS_VERSION;
  std::chrono::milliseconds connect_timeout{10'000};
  // An attempt whose transfer makes no progress for this long is aborted (stall detection).
  std::chrono::milliseconds stall_timeout{15'000};
  // Hard deadline of one logical operation (all attempts and backoff included). After it: kTimeout.
  std::chrono::milliseconds op_deadline{60'000};
  // Retries go on until op_deadline whenever progress is possible (attempts are counted only to
  // space them with capped exponential backoff and jitter). > 0: also stop after this many
  // attempts (tests).
  int max_attempts = 0;
  std::chrono::milliseconds backoff_base{250};
  std::chrono::milliseconds backoff_cap{8'000};
  // Re-resolve a cached signed CDN location this long before its advertised expiry.
  std::chrono::seconds location_refresh_margin{300};
  // Follow a redirect from https to plain http (a documented http-only mirror). Off: refused.
  bool allow_http_redirect = false;
  // Bounds of one tree listing (defaults from hubapi/limits.h; lower in tests).
  int max_tree_pages = kMaxTreePages;
  size_t max_tree_entries = kMaxTreeEntries;
  std::chrono::milliseconds listing_deadline{kMaxListingTime};
  // With fallback endpoints: a host that failed is put aside this long, then probed in the
  // background; each failed probe doubles the wait, up to endpoint_backoff_max.
  std::chrono::milliseconds endpoint_backoff{2'000};
  std::chrono::milliseconds endpoint_backoff_max{120'000};
  // With fallback endpoints: a 429/503 asking to wait longer than this moves the request on.
  std::chrono::milliseconds failover_max_server_wait{5'000};

  // The ordered list: `endpoint` first, then the fallbacks.
  std::vector<EndpointSpec> endpoints() const;
  // Sets the list (first = preferred). Empty leaves the default endpoint.
  void set_endpoints(const std::vector<EndpointSpec>& list);
};

// The health of one endpoint as the client sees it now.
struct EndpointHealth {
  std::string url;
  bool up = true;            // false: put aside after a host failure, probed in the background
  bool serving = false;      // new requests go here first now
  bool sends_token = true;
  uint64_t failures = 0;     // host failures seen (connect/TLS errors, timeouts, stalls, 5xx, 429)
  std::string last_error;    // why it was put aside ("" while up)
  uint64_t bytes = 0;        // file bytes received from this endpoint (and the hosts it sent us to)
  // Of those, what a site cache (deploy/site-cache, header X-Site-Cache) served from its cache
  // and what it had to fetch upstream for us; both 0 for an endpoint that is not a site cache.
  uint64_t site_cache_hit_bytes = 0;
  uint64_t site_cache_miss_bytes = 0;
};

// Requests moved from one endpoint to another.
struct FailoverCount {
  std::string from, to;
  uint64_t count = 0;
};

// Counters for tests, `hffs status` and metrics. Monotonic.
struct HubStats {
  uint64_t api_requests = 0;      // /api/... requests sent (info, tree pages)
  uint64_t resolve_requests = 0;  // HEAD /resolve (and relative hops)
  uint64_t data_requests = 0;     // ranged GETs (to CDN or Hub)
  uint64_t retries = 0;
  uint64_t bytes_received = 0;    // body bytes of data requests
  uint64_t errors = 0;            // operations that failed after all retries
  uint64_t http_downgrades_refused = 0;  // https -> http redirects refused
  uint64_t site_cache_hit_bytes = 0;     // of bytes_received: served from a site cache's cache
  uint64_t site_cache_miss_bytes = 0;    // of bytes_received: a site cache fetched them for us
  std::vector<EndpointHealth> endpoints;  // in preference order (one entry for one endpoint)
  std::vector<FailoverCount> failovers;   // only pairs that happened
};

}  // namespace hffs::hubapi
