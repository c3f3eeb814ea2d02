// EndpointClient, the location side: where the bytes of a file are served from. HEAD /resolve (hops
// on the Hub's origin followed by hand, the first off-origin hop is the signed data location) and
// the cache of those locations: re-resolved near expiry, single-flight per file, dropped when
// they fail.
#include <spdlog/spdlog.h>

#include "hubapi/endpoint_client_impl.h"
#include "hubapi/limits.h"
#include "hubapi/location.h"

namespace hffs::hubapi {

namespace {

std::string strip_query(std::string_view url) {
  size_t q = url.find('?');
  return std::string(q == std::string_view::npos ? url : url.substr(0, q));
}

}  // namespace

std::string EndpointClient::Impl::key_of(const RepoId& repo, std::string_view commit, std::string_view path) {
  std::string k(repo_type_name(repo.type));
  k += '\0';
  k += repo.id;
  k += '\0';
  k += commit;
  k += '\0';
  k += path;
  return k;
}

bool EndpointClient::Impl::near_expiry(const CachedLocation& l, int64_t now) const {
  if (l.expires_at >= kNeverExpires) return false;
  // Re-resolve `margin` before expiry, but never more than half the URL's lifetime early, so
  // short-lived URLs are still used for a while.
  int64_t margin = cfg.location_refresh_margin.count();
  int64_t lifetime = l.expires_at - l.resolved_at;
  if (lifetime > 0) margin = std::min(margin, lifetime / 2);
  return now + margin >= l.expires_at;
}

std::optional<CachedLocation> EndpointClient::Impl::cached_location(const std::string& key) {
  std::lock_guard lk(loc_mu);
  auto it = locations.find(key);
  if (it == locations.end()) return std::nullopt;
  if (near_expiry(it->second, now_epoch())) {
    locations.erase(it);
    return std::nullopt;
  }
  return it->second;
}

void EndpointClient::Impl::store_location(const std::string& key, const CachedLocation& l) {
  std::lock_guard lk(loc_mu);
  if (locations.size() >= kMaxCachedLocations) locations.clear();  // crude bound
  if (resolving.size() >= kMaxCachedLocations) resolving.clear();   // held locks stay alive
  locations[key] = l;
}

void EndpointClient::Impl::drop_location(const std::string& key, const std::string& url) {
  std::lock_guard lk(loc_mu);
  auto it = locations.find(key);
  if (it != locations.end() && it->second.url == url) locations.erase(it);
}

Outcome EndpointClient::Impl::location_for(const std::string& key, const std::string* failed_url,
                                      const RepoId& repo, std::string_view commit, std::string_view path,
                                      Clock::time_point deadline, const ErrorContext& ctx,
                                      CachedLocation& out) {
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

Outcome EndpointClient::Impl::resolve_once(const RepoId& repo, std::string_view commit, std::string_view path,
                                      Clock::time_point deadline, const ErrorContext& ctx,
                                      CachedLocation& out) {
  std::string cur = resolve_url(endpoint, repo, commit, path);
  std::string fallback;  // the current hop without its query, tried once if the hop fails
  for (int hop = 0; hop <= kMaxRedirectHops + 1; ++hop) {
    TokenSource::Token used;
    HttpRequest req = make_request(cur, deadline, true, &used);
    ++resolve_requests;
    HttpResponse r = http.perform(req);
    if (!r.ok_transfer()) {
      Status s = net_status(r, cur);
      if (final_net_failure(r)) return Outcome::fail(s);
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
    if (token_rotated(r, used)) return Outcome::again(map_http_error(error_info(r), ctx), /*hop=*/false);
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

std::string EndpointClient::file_url(const RepoId& repo, std::string_view commit, std::string_view path) const {
  return resolve_url(normalize_endpoint(config().endpoint), repo, commit, path);
}

void EndpointClient::forget_location(const RepoId& repo, std::string_view commit, std::string_view path) {
  const std::string key = Impl::key_of(repo, commit, path);
  std::lock_guard lk(impl_->loc_mu);
  impl_->locations.erase(key);
}

std::string EndpointClient::location_origin(const RepoId& repo, std::string_view commit, std::string_view path) const {
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
