// HubClient: revision pinning, paginated tree listing, and ranged reads through /resolve with a
// cache of signed data locations, hand-followed redirects, retries and deadlines.
#include "hubapi/hub_client.h"

#include <chrono>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "hubapi/errors.h"
#include "hubapi/headers.h"
#include "hubapi/http.h"
#include "hubapi/limits.h"
#include "hubapi/location.h"
#include "hubapi/retry.h"
#include "hubapi/tree_parse.h"
#include "hubapi/url.h"

namespace hffs::hubapi {

namespace {

using std::chrono::milliseconds;
using json = nlohmann::json;

constexpr int64_t kNeverExpires = INT64_C(1) << 62;

int64_t system_epoch() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool is_redirect(long s) { return s == 301 || s == 302 || s == 303 || s == 307 || s == 308; }

bool is_lower_hex40(std::string_view s) {
  if (s.size() != 40) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string strip_query(std::string_view url) {
  size_t q = url.find('?');
  return std::string(q == std::string_view::npos ? url : url.substr(0, q));
}

std::string mib_str(size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

std::string ms_str(Clock::duration d) {
  return std::to_string(std::chrono::duration_cast<milliseconds>(d).count()) + " ms";
}

// The outcome of one attempt, as seen by the retry loop.
struct Outcome {
  enum Kind { kDone, kRetry, kFail } kind = kDone;
  Status status;
  std::optional<milliseconds> server_delay;
  bool immediate = false;  // retry at once (a re-resolve or a redirect hop), no backoff
  bool uncounted = false;  // progress was made: does not use up an attempt
  static Outcome done() { return {}; }
  static Outcome fail(Status s) { return {kFail, std::move(s), std::nullopt, false, false}; }
  static Outcome retry(Status s, std::optional<milliseconds> d = std::nullopt) {
    return {kRetry, std::move(s), d, false, false};
  }
};

struct CachedLocation {
  std::string url;
  bool hub = false;  // served by the endpoint itself (auth allowed, errors are Hub errors)
  int64_t resolved_at = 0;
  int64_t expires_at = kNeverExpires;
};

}  // namespace

struct HubClient::Impl {
  HubConfig cfg;
  std::string endpoint;
  std::optional<Url> ep;
  HttpClient http;
  RetryPolicy policy;
  UnitRng rng = &default_unit_rng;
  std::function<int64_t()> wall_clock = &system_epoch;  // replaceable by tests
  int64_t now_epoch() const { return wall_clock(); }

  std::atomic<uint64_t> api_requests{0}, resolve_requests{0}, data_requests{0}, retries{0},
      bytes_received{0}, errors{0}, downgrades_refused{0};
  std::atomic<bool> downgrade_logged{false};

  std::mutex loc_mu;
  std::unordered_map<std::string, CachedLocation> locations;
  // One resolver at a time per file: concurrent readers of a file whose location is missing or
  // expired wait for the first one's HEAD instead of each sending their own.
  std::unordered_map<std::string, std::shared_ptr<std::mutex>> resolving;

  explicit Impl(HubConfig c)
      : cfg(std::move(c)),
        endpoint(normalize_endpoint(cfg.endpoint)),
        ep(parse_url(endpoint)),
        http(HttpOptions{cfg.user_agent, cfg.ca_file, 64}) {
    cfg.endpoint = endpoint;
    policy.max_attempts = std::max(0, cfg.max_attempts);
    policy.base = cfg.backoff_base;
    policy.cap = cfg.backoff_cap;
    if (cfg.token) {
      // As huggingface_hub does: drop CR/LF, trim; a token with other control characters would
      // allow header injection, so it is not used at all.
      std::string t;
      for (char ch : *cfg.token)
        if (ch != '\r' && ch != '\n') t += ch;
      while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.pop_back();
      size_t b = t.find_first_not_of(" \t");
      t = b == std::string::npos ? std::string() : t.substr(b);
      bool bad = false;
      for (char ch : t) bad |= static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
      if (bad) spdlog::warn("hubapi: the token contains control characters; it will not be sent");
      if (t.empty() || bad) cfg.token.reset();
      else cfg.token = std::move(t);
    }
  }

  bool may_send_auth(const std::string& url) const {
    if (!cfg.token || !ep) return false;
    auto u = parse_url(url);
    return u && same_origin(*u, *ep);
  }

  // A redirect from `from` to `to` that leaves https for plain http: refused unless allowed
  // (logged once, counted). Returns the failure, or ok.
  Status check_downgrade(const std::string& from, const Url& to, const std::string& what) {
    auto f = parse_url(from);
    if (!f || !is_downgrade(*f, to) || cfg.allow_http_redirect) return Status::ok();
    ++downgrades_refused;
    std::string msg = "the Hub at " + endpoint + " redirected " + what + " from https to plain http (" +
                      to.origin() + "): refused, bytes over http could be altered on the way; pass " +
                      "--allow-http-redirect (fstab allow_http_redirect) only for a mirror that serves http";
    if (!downgrade_logged.exchange(true)) spdlog::warn("hubapi: {}", msg);
    return Status(Errc::kProtocol, msg);
  }

  HttpRequest make_request(const std::string& url, Clock::time_point deadline, bool head) const {
    HttpRequest r;
    r.url = url;
    r.head = head;
    r.deadline = deadline;
    r.connect_timeout = cfg.connect_timeout;
    r.stall_timeout = cfg.stall_timeout;
    if (may_send_auth(url)) r.headers.push_back("Authorization: Bearer " + *cfg.token);
    return r;
  }

  std::string scrub(std::string s) const {
    return cfg.token ? scrub_secret(std::move(s), *cfg.token) : s;
  }
  Status scrubbed(const Status& s) const { return Status(s.code(), scrub(s.message())); }

  HttpErrorInfo error_info(const HttpResponse& r) const {
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

  Status net_status(const HttpResponse& r, const std::string& url) const {
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

  std::optional<milliseconds> server_delay(const HttpResponse& r) const {
    return server_requested_delay(r.headers.get("retry-after"), r.headers.get("ratelimit"));
  }

  // Runs attempts until success, a final failure, max_attempts, or the deadline.
  template <typename Fn>
  Status run(const std::string& what, Clock::time_point start, Clock::time_point deadline, Fn&& fn) {
    int counted = 0;
    int backoff_index = 0;
    int immediate_streak = 0;  // counted retries in a row without a wait
    Status last;
    for (int guard = 0; guard < 10'000; ++guard) {
      Outcome o = fn();
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

  // GET on the API with redirects (max 5 hops) and retries. On success `out` holds the 200.
  Status api_get(const std::string& url, const std::string& what, const ErrorContext& ctx,
                 HttpResponse& out, std::string& final_url,
                 std::optional<Clock::time_point> cap = std::nullopt) {
    auto start = Clock::now();
    auto deadline = start + cfg.op_deadline;
    if (cap && *cap < deadline) deadline = *cap;
    std::string cur = url;
    int hops = 0;
    return run(what, start, deadline, [&]() -> Outcome {
      HttpRequest req = make_request(cur, deadline, false);
      req.headers.push_back("Accept: application/json");
      req.max_string_body = kMaxApiAnswerBytes;
      ++api_requests;
      HttpResponse r = http.perform(req);
      if (r.overflow)
        return Outcome::fail(Status(Errc::kProtocol, "the Hub at " + endpoint + " sent more than " +
                                                         mib_str(kMaxApiAnswerBytes) + " " + what +
                                                         " (the bound on one API answer)"));
      if (!r.ok_transfer()) {
        Status s = net_status(r, cur);
        if (r.net == NetError::kTimeout || r.tls_verify_failed) return Outcome::fail(s);
        return Outcome::retry(s);
      }
      if (is_redirect(r.status)) {
        std::string loc = r.headers.get("location");
        auto base = parse_url(cur);
        auto target = base ? resolve_reference(*base, loc) : std::nullopt;
        if (loc.empty() || !target)
          return Outcome::fail(Status(Errc::kProtocol, "bad redirect (HTTP " + std::to_string(r.status) + ") " + what));
        if (++hops > kMaxRedirectHops)
          return Outcome::fail(Status(Errc::kProtocol, "the Hub at " + endpoint + " sent more than " +
                                                           std::to_string(kMaxRedirectHops) + " redirects " + what));
        if (auto tu = parse_url(*target)) {
          if (Status d = check_downgrade(cur, *tu, what); !d) return Outcome::fail(d);
          // An API answer is trusted as the repo's metadata: it must come from the Hub's host.
          if (ep && tu->host != ep->host)
            return Outcome::fail(Status(Errc::kProtocol, "the Hub at " + endpoint + " redirected " + what +
                                                             " to another host (" + tu->origin() + "), refused"));
        }
        spdlog::debug("hubapi: {} redirected to {}", what, redact_url(*target));
        cur = *target;
        Outcome o = Outcome::retry(Status(Errc::kProtocol, "redirect"));
        o.immediate = true;
        o.uncounted = true;
        return o;
      }
      if (r.status == 200) {
        out = std::move(r);
        final_url = cur;
        return Outcome::done();
      }
      Status s = map_http_error(error_info(r), ctx);
      if (is_retryable_status(r.status)) return Outcome::retry(s, server_delay(r));
      return Outcome::fail(s);
    });
  }

  ErrorContext context(const RepoId& repo, std::string_view rev, std::string_view path,
                       RequestKind kind, std::string what) const {
    ErrorContext c;
    c.endpoint = endpoint;
    c.repo_display = repo_display(repo);
    c.revision = std::string(rev);
    c.path = std::string(path);
    c.what = std::move(what);
    c.had_token = cfg.token.has_value();
    c.kind = kind;
    return c;
  }

  // ---- read path ----

  static std::string key_of(const RepoId& repo, std::string_view commit, std::string_view path) {
    std::string k(repo_type_name(repo.type));
    k += '\0';
    k += repo.id;
    k += '\0';
    k += commit;
    k += '\0';
    k += path;
    return k;
  }

  bool near_expiry(const CachedLocation& l, int64_t now) const {
    if (l.expires_at >= kNeverExpires) return false;
    // Re-resolve `margin` before expiry, but never more than half the URL's lifetime early, so
    // short-lived URLs are still used for a while.
    int64_t margin = cfg.location_refresh_margin.count();
    int64_t lifetime = l.expires_at - l.resolved_at;
    if (lifetime > 0) margin = std::min(margin, lifetime / 2);
    return now + margin >= l.expires_at;
  }

  std::optional<CachedLocation> cached_location(const std::string& key) {
    std::lock_guard lk(loc_mu);
    auto it = locations.find(key);
    if (it == locations.end()) return std::nullopt;
    if (near_expiry(it->second, now_epoch())) {
      locations.erase(it);
      return std::nullopt;
    }
    return it->second;
  }

  void store_location(const std::string& key, const CachedLocation& l) {
    std::lock_guard lk(loc_mu);
    if (locations.size() >= kMaxCachedLocations) locations.clear();  // crude bound
    if (resolving.size() >= kMaxCachedLocations) resolving.clear();   // held locks stay alive
    locations[key] = l;
  }

  // Forgets the cached location of `key` if it still is `url` (another reader may have stored a
  // fresher one meanwhile).
  void drop_location(const std::string& key, const std::string& url) {
    std::lock_guard lk(loc_mu);
    auto it = locations.find(key);
    if (it != locations.end() && it->second.url == url) locations.erase(it);
  }

  // The cached location of `key`, resolving it if missing/near expiry (single-flight per key).
  // `failed_url`: a location that just failed; a cached entry equal to it is not reused.
  Outcome location_for(const std::string& key, const std::string* failed_url, const RepoId& repo,
                       std::string_view commit, std::string_view path, Clock::time_point deadline,
                       const ErrorContext& ctx, CachedLocation& out) {
    if (!failed_url) {
      if (auto l = cached_location(key)) {
        out = *l;
        return Outcome::done();
      }
    }
    std::shared_ptr<std::mutex> km;
    {
      std::lock_guard lk(loc_mu);
      auto& slot = resolving[key];
      if (!slot) slot = std::make_shared<std::mutex>();
      km = slot;
    }
    Outcome o;
    {
      std::lock_guard kl(*km);
      auto l = cached_location(key);  // someone else may have resolved it meanwhile
      if (l && (!failed_url || l->url != *failed_url)) {
        out = *l;
        o = Outcome::done();
      } else {
        o = resolve_once(repo, commit, path, deadline, ctx, out);
        if (o.kind == Outcome::kDone) store_location(key, out);
      }
    }
    {
      std::lock_guard lk(loc_mu);
      auto it = resolving.find(key);
      if (it != resolving.end() && it->second == km && km.use_count() <= 2) resolving.erase(it);
    }
    return o;
  }

  // HEAD /resolve without auto-redirects; relative (same-origin) hops followed by hand.
  Outcome resolve_once(const RepoId& repo, std::string_view commit, std::string_view path,
                       Clock::time_point deadline, const ErrorContext& ctx, CachedLocation& out) {
    std::string cur = resolve_url(endpoint, repo, commit, path);
    std::string fallback;  // the current hop without its query, tried once if the hop fails
    for (int hop = 0; hop <= kMaxRedirectHops + 1; ++hop) {
      HttpRequest req = make_request(cur, deadline, true);
      ++resolve_requests;
      HttpResponse r = http.perform(req);
      if (!r.ok_transfer()) {
        Status s = net_status(r, cur);
        if (r.net == NetError::kTimeout || r.tls_verify_failed) return Outcome::fail(s);
        return Outcome::retry(s);
      }
      if (is_redirect(r.status)) {
        std::string loc = r.headers.get("location");
        auto base = parse_url(cur);
        auto target = base ? resolve_reference(*base, loc) : std::nullopt;
        auto tu = target ? parse_url(*target) : std::nullopt;
        if (loc.empty() || !tu)
          return Outcome::fail(Status(Errc::kProtocol, "the Hub sent a redirect without a usable Location " + ctx.what));
        if (ep && same_origin(*tu, *ep)) {
          if (hop == kMaxRedirectHops)
            return Outcome::fail(Status(Errc::kProtocol, "the Hub at " + endpoint + " sent more than " + std::to_string(kMaxRedirectHops) + " redirects " + ctx.what));
          cur = *target;
          fallback = tu->query().empty() ? std::string() : strip_query(cur);
          continue;
        }
        if (Status d = check_downgrade(cur, *tu, ctx.what); !d) return Outcome::fail(d);
        out.url = *target;
        out.hub = false;
        out.resolved_at = now_epoch();
        out.expires_at = location_expiry(*target, out.resolved_at);
        return Outcome::done();
      }
      if (r.status >= 200 && r.status < 300) {
        out.url = cur;
        out.hub = true;
        out.resolved_at = now_epoch();
        out.expires_at = kNeverExpires;
        return Outcome::done();
      }
      if (is_retryable_status(r.status))
        return Outcome::retry(map_http_error(error_info(r), ctx), server_delay(r));
      if (!fallback.empty() && r.status >= 400 && r.status < 500) {
        spdlog::debug("hubapi: redirect target failed with its query, retrying without it");
        cur = fallback;
        fallback.clear();
        continue;
      }
      return Outcome::fail(map_http_error(error_info(r), ctx));
    }
    return Outcome::fail(Status(Errc::kProtocol, "the Hub at " + endpoint + " sent more than " + std::to_string(kMaxRedirectHops) + " redirects " + ctx.what));
  }
};

HubClient::HubClient(HubConfig cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}
HubClient::~HubClient() = default;

const HubConfig& HubClient::config() const { return impl_->cfg; }

void HubClient::set_wall_clock_for_testing(std::function<int64_t()> now_epoch_seconds) {
  impl_->wall_clock = now_epoch_seconds ? std::move(now_epoch_seconds) : &system_epoch;
}

HubStats HubClient::stats() const {
  HubStats s;
  s.api_requests = impl_->api_requests.load();
  s.resolve_requests = impl_->resolve_requests.load();
  s.data_requests = impl_->data_requests.load();
  s.retries = impl_->retries.load();
  s.bytes_received = impl_->bytes_received.load();
  s.errors = impl_->errors.load();
  s.http_downgrades_refused = impl_->downgrades_refused.load();
  return s;
}

Result<RepoInfo> parse_repo_info(std::string_view body, const RepoId& repo) {
  auto bad = [](const std::string& why) { return Status(Errc::kProtocol, why); };
  if (!json_depth_ok(body, kMaxInfoJsonDepth)) return bad("JSON nested too deeply");
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  RepoInfo info;
  if (auto it = j.find("id"); it != j.end() && it->is_string()) info.id = it->get<std::string>();
  else info.id = repo.id;
  if (Status s = validate_repo_id(info.id); !s) return bad("invalid canonical id");
  auto sit = j.find("sha");
  if (sit == j.end() || !sit->is_string() || !is_lower_hex40(sit->get_ref<const std::string&>()))
    return bad("'sha' is not a 40-hex commit id");
  info.sha = sit->get<std::string>();
  if (auto it = j.find("lastModified"); it != j.end() && it->is_string()) {
    info.last_modified = sanitize_for_message(it->get<std::string>(), 64);
    info.last_modified_epoch = parse_iso8601(info.last_modified).value_or(0);
  }
  if (auto it = j.find("private"); it != j.end() && it->is_boolean()) info.is_private = it->get<bool>();
  if (auto it = j.find("gated"); it != j.end()) {
    if (it->is_string()) {
      std::string g = it->get<std::string>();
      info.gated = (g == "auto" || g == "manual") ? g : sanitize_for_message(g, 32);
    } else if (it->is_boolean() && it->get<bool>()) {
      info.gated = "manual";
    }
  }
  return info;
}

Result<RepoInfo> HubClient::repo_info(const RepoId& repo, std::string_view revision) {
  Impl& m = *impl_;
  if (!m.ep) return Status(Errc::kInvalidInput, "invalid endpoint URL '" + redact_url(m.endpoint) + "'");
  if (Status s = validate_repo_id(repo.id); !s) return s;
  if (Status s = validate_revision(revision); !s) return s;
  std::string url = revision_url(m.endpoint, repo, revision);
  std::string what = "getting info of " + repo_display(repo) + " at revision '" +
                     sanitize_for_message(revision, 200) + "'";
  auto ctx = m.context(repo, revision, "", RequestKind::kApi, what);
  HttpResponse r;
  std::string final_url;
  if (Status s = m.api_get(url, what, ctx, r, final_url); !s) return s;

  auto bad = [&](const std::string& why) {
    ++m.errors;
    return Status(Errc::kProtocol, "the Hub sent an invalid answer " + what + ": " + why);
  };
  auto info = parse_repo_info(r.body, repo);
  if (!info) return bad(info.status().message());
  return info;
}

Result<std::vector<TreeEntry>> HubClient::list_tree(const RepoId& repo, std::string_view commit) {
  Impl& m = *impl_;
  if (!m.ep) return Status(Errc::kInvalidInput, "invalid endpoint URL '" + redact_url(m.endpoint) + "'");
  if (Status s = validate_repo_id(repo.id); !s) return s;
  if (Status s = validate_revision(commit); !s) return s;
  std::string url = tree_url(m.endpoint, repo, commit);
  TreeBuilder builder;
  builder.set_max_entries(m.cfg.max_tree_entries);
  std::unordered_set<std::string> seen;
  const auto start = Clock::now();
  const auto deadline = start + m.cfg.listing_deadline;
  const std::string listing = "listing files of " + repo_display(repo) + " at " + sanitize_for_message(commit, 100);
  auto refuse = [&](const std::string& why, Errc code = Errc::kProtocol) {
    ++m.errors;
    return Status(code, "the Hub at " + m.endpoint + " " + why + " (" + listing + ")");
  };
  auto too_long = [&](int pages) {
    return refuse("did not finish the listing within " + ms_str(m.cfg.listing_deadline) + " (" +
                      std::to_string(pages) + " pages, " + std::to_string(builder.size()) + " entries)",
                  Errc::kTimeout);
  };
  int page = 0;
  int empty_in_a_row = 0;
  while (true) {
    ++page;
    if (page > m.cfg.max_tree_pages)
      return refuse("sent more than " + std::to_string(m.cfg.max_tree_pages) + " pages (the bound on one listing)");
    if (Clock::now() >= deadline) return too_long(page - 1);
    if (!seen.insert(url).second)
      return refuse("sent a pagination that loops (page " + std::to_string(page) + ")");
    std::string what = listing + " (page " + std::to_string(page) + ")";
    auto ctx = m.context(repo, commit, "", RequestKind::kApi, what);
    HttpResponse r;
    std::string final_url;
    if (Status s = m.api_get(url, what, ctx, r, final_url, deadline); !s) {
      if (s.code() == Errc::kTimeout && Clock::now() + milliseconds(50) >= deadline) return too_long(page - 1);
      return s;
    }
    size_t before = builder.size() + builder.skipped();
    if (Status s = builder.add_page(r.body); !s) {
      ++m.errors;
      return Status(s.code(), s.message() + " (" + what + ")");
    }
    r.body = std::string();  // the page's text is not needed any more
    empty_in_a_row = builder.size() + builder.skipped() == before ? empty_in_a_row + 1 : 0;
    std::string link = r.headers.joined("link");
    auto next = link.empty() ? std::nullopt : link_next(link);
    if (!next) break;
    if (empty_in_a_row >= kMaxEmptyTreePages)
      return refuse("sent " + std::to_string(empty_in_a_row) + " empty pages in a row, each with a next page");
    auto base = parse_url(final_url);
    auto abs = base ? resolve_reference(*base, *next) : std::nullopt;
    auto nu = abs ? parse_url(*abs) : std::nullopt;
    if (!nu) return refuse("sent an unusable next-page link (page " + std::to_string(page) + ")");
    // The next page must come from the Hub itself: a listing is trusted as the repo's content.
    if (!same_origin(*nu, *m.ep))
      return refuse("sent a next-page link to another origin (" + nu->origin() + "), refused (page " +
                    std::to_string(page) + ")");
    url = *abs;
  }
  if (builder.skipped() > 0)
    spdlog::info("hubapi: {} tree entries of unsupported types were skipped in {}", builder.skipped(),
                 repo_display(repo));
  return std::move(builder).finish();
}

Status HubClient::read_range_to(const RepoId& repo, std::string_view commit, std::string_view path,
                                uint64_t expected_size, uint64_t offset, uint64_t len, ByteSink& sink) {
  Impl& m = *impl_;
  if (len == 0) return Status::ok();
  if (!m.ep) return Status(Errc::kInvalidInput, "invalid endpoint URL");
  if (Status s = validate_revision(commit); !s) return s;
  if (std::string why = check_tree_path(path); !why.empty())
    return Status(Errc::kInvalidInput, "invalid path '" + sanitize_for_message(path, 300) + "': " + why);
  if (offset > expected_size || len > expected_size - offset)
    return Status(Errc::kInvalidInput, "read of " + std::to_string(len) + " bytes at " +
                                           std::to_string(offset) + " is past the end of '" +
                                           std::string(path) + "' (" + std::to_string(expected_size) +
                                           " bytes)");
  const std::string key = Impl::key_of(repo, commit, path);
  const auto start = Clock::now();
  const auto deadline = start + m.cfg.op_deadline;
  const uint64_t last = offset + len - 1;
  std::string what = "reading bytes " + std::to_string(offset) + "-" + std::to_string(last) + " of '" +
                     sanitize_for_message(path, 300) + "' in " + repo_display(repo) + "@" +
                     sanitize_for_message(commit, 64);
  auto resolve_ctx = m.context(repo, commit, path, RequestKind::kResolve, what);
  auto data_ctx = m.context(repo, commit, path, RequestKind::kData, what);

  uint64_t got = 0;
  int protocol_strikes = 0;
  int data_hops = 0;
  std::string failed_url;  // set when the last location must not be reused

  return m.run(what, start, deadline, [&]() -> Outcome {
    std::optional<CachedLocation> loc{CachedLocation{}};
    {
      Outcome o = m.location_for(key, failed_url.empty() ? nullptr : &failed_url, repo, commit, path,
                                 deadline, resolve_ctx, *loc);
      failed_url.clear();
      if (o.kind != Outcome::kDone) return o;
    }
    const uint64_t a = offset + got;
    HttpRequest req = m.make_request(loc->url, deadline, false);
    req.headers.push_back("Range: bytes=" + std::to_string(a) + "-" + std::to_string(last));
    req.sink = &sink;
    req.sink_at = got;
    req.sink_room = len - got;
    req.max_string_body = kMaxErrorBodyBytes;
    std::string bad_reply;
    req.decide = [&](long status, const HttpHeaders& h) {
      if (status == 206) {
        std::string cr_text = h.get("content-range");
        auto cr = parse_content_range(cr_text);
        if (cr && cr->first == a && cr->last == last && cr->total && *cr->total == expected_size)
          return BodyMode::kSink;
        bad_reply = "206 with Content-Range '" + sanitize_for_message(cr_text, 80) + "' (asked bytes " +
                    std::to_string(a) + "-" + std::to_string(last) + "/" + std::to_string(expected_size) + ")";
        return BodyMode::kAbort;
      }
      if (status >= 200 && status < 300) {
        bad_reply = "HTTP " + std::to_string(status) + " instead of 206 Partial Content";
        return BodyMode::kAbort;
      }
      return BodyMode::kString;
    };
    ++m.data_requests;
    HttpResponse r = m.http.perform(req);
    got += r.sink_bytes;
    m.bytes_received += r.sink_bytes;
    const std::string where = loc->hub ? m.endpoint : "the data host";
    if (r.sink_failed)
      return Outcome::fail(Status(Errc::kIo, "the destination refused the bytes " + what));

    if (!bad_reply.empty()) {
      m.drop_location(key, loc->url);
      failed_url = loc->url;
      Status s(Errc::kProtocol, where + " answered " + bad_reply + " " + what);
      // A misbehaving cache node is retried (on a fresh location); a third strike within one
      // range means the server cannot do ranges: fail, never guess.
      if (++protocol_strikes >= 3) return Outcome::fail(s);
      Outcome o = Outcome::retry(s);
      o.immediate = true;
      return o;
    }
    if (r.overflow) {
      m.drop_location(key, loc->url);
      return Outcome::fail(Status(Errc::kProtocol, where + " sent more bytes than asked " + what));
    }
    if (r.status == 206 && r.ok_transfer()) {
      if (got == len) return Outcome::done();
      // Complete response but short: resume from what arrived.
      Outcome o = Outcome::retry(Status(Errc::kNetwork, where + " sent a short body " + what));
      o.uncounted = r.sink_bytes > 0;
      return o;
    }
    if (!r.ok_transfer()) {
      Status s = m.net_status(r, loc->url);
      if (r.net == NetError::kTimeout || r.tls_verify_failed) return Outcome::fail(s);
      Outcome o = Outcome::retry(s);
      o.uncounted = r.sink_bytes > 0;  // progress: resume without using up an attempt
      return o;
    }
    if (is_redirect(r.status)) {
      // The data host moved the object (or the Hub URL redirected): follow by hand, deciding
      // about Authorization again for the new origin.
      auto base = parse_url(loc->url);
      auto target = base ? resolve_reference(*base, r.headers.get("location")) : std::nullopt;
      auto tu = target ? parse_url(*target) : std::nullopt;
      if (!tu || ++data_hops > kMaxRedirectHops)
        return Outcome::fail(Status(Errc::kProtocol, where + " sent an unusable or looping redirect " + what));
      if (Status d = m.check_downgrade(loc->url, *tu, what); !d) {
        m.drop_location(key, loc->url);
        return Outcome::fail(d);
      }
      CachedLocation next;
      next.url = *target;
      next.hub = m.ep && same_origin(*tu, *m.ep);
      next.resolved_at = m.now_epoch();
      next.expires_at = next.hub ? kNeverExpires : location_expiry(*target, next.resolved_at);
      m.store_location(key, next);
      Outcome o = Outcome::retry(Status(Errc::kProtocol, "redirect"));
      o.immediate = true;
      o.uncounted = true;
      return o;
    }
    if (!loc->hub && (r.status == 401 || r.status == 403 || r.status == 404 || r.status == 410)) {
      // Expired or revoked signed URL: get a fresh one from the Hub.
      m.drop_location(key, loc->url);
      failed_url = loc->url;
      Outcome o = Outcome::retry(map_http_error(m.error_info(r), data_ctx));
      o.immediate = true;
      return o;
    }
    Status s = loc->hub ? map_http_error(m.error_info(r), resolve_ctx)
                        : map_http_error(m.error_info(r), data_ctx);
    if (is_retryable_status(r.status)) return Outcome::retry(s, m.server_delay(r));
    m.drop_location(key, loc->url);
    return Outcome::fail(s);
  });
}

std::string HubClient::file_url(const RepoId& repo, std::string_view commit, std::string_view path) const {
  return resolve_url(normalize_endpoint(config().endpoint), repo, commit, path);
}

void HubClient::forget_location(const RepoId& repo, std::string_view commit, std::string_view path) {
  const std::string key = Impl::key_of(repo, commit, path);
  std::lock_guard lk(impl_->loc_mu);
  impl_->locations.erase(key);
}

std::string HubClient::location_origin(const RepoId& repo, std::string_view commit, std::string_view path) const {
  std::string url = impl_->endpoint;
  {
    std::lock_guard lk(impl_->loc_mu);
    auto it = impl_->locations.find(Impl::key_of(repo, commit, path));
    if (it != impl_->locations.end()) url = it->second.url;
  }
  auto u = parse_url(url);
  return u ? u->origin() : std::string("(unknown)");
}

}  // namespace hffs::hubapi
