// EndpointClient, the range-read side: how one range of a file is read into a ByteSink. Top to bottom:
// an attempt finds the file's location (hub_client_locations.cc), sends one ranged GET whose body
// goes straight to the sink once its status and Content-Range are checked, then judges the answer:
// done, resumed from the bytes received, re-resolved, redirected, retried, or failed. The retry
// loop (`Impl::run`, hub_client.cc) spaces the attempts and enforces the deadline.
#include "hubapi/headers.h"
#include "hubapi/endpoint_client_impl.h"
#include "hubapi/limits.h"
#include "hubapi/location.h"
#include "hubapi/tree_parse.h"

namespace hffs::hubapi {

// One read_range_to call: what survives between attempts (bytes already in the sink, strikes,
// hops, the location that must not be reused) and one method per step of an attempt.
class EndpointClient::Impl::RangeRead {
 public:
  RangeRead(Impl& m, const RepoId& repo, std::string_view commit, std::string_view path,
            uint64_t expected_size, uint64_t offset, uint64_t len, ByteSink& sink,
            Clock::time_point deadline, bool regular)
      : m_(m),
        repo_(repo),
        commit_(commit),
        path_(path),
        expected_size_(expected_size),
        offset_(offset),
        len_(len),
        last_(offset + len - 1),
        sink_(sink),
        deadline_(deadline),
        key_(Impl::key_of(repo, commit, path)),
        what_("reading bytes " + std::to_string(offset) + "-" + std::to_string(last_) + " of '" +
              sanitize_for_message(path, 300) + "' in " + repo_display(repo) + "@" +
              sanitize_for_message(commit, 64)),
        resolve_ctx_(m.context(repo, commit, path, RequestKind::kResolve, what_)),
        data_ctx_(m.context(repo, commit, path, RequestKind::kData, what_)),
        regular_(regular),
        direct_(regular && one_trip_ && m.resolve_cache.load(std::memory_order_relaxed) == Impl::kSeen) {}

  const std::string& what() const { return what_; }

  // Locate, send the ranged GET for the bytes still missing, judge the answer.
  Outcome attempt() {
    CachedLocation loc;
    if (direct_ && failed_url_.empty() && !m_.cached_location(key_)) {
      // A regular file: the Hub's /resolve would redirect to its resolve-cache URL, asked at once.
      loc.url = resolve_cache_url(m_.endpoint, repo_, commit_, path_);
      loc.hub = true;
      loc.resolved_at = m_.now_epoch();
      loc.expires_at = kNeverExpires;
      in_direct_ = true;
    } else if (one_trip_ && failed_url_.empty() && !m_.cached_location(key_)) {
      // A read of a whole file whose location is not known (small files, read in one request):
      // the ranged GET goes to the resolve URL itself, so a file the Hub serves costs one round
      // trip instead of a HEAD and a GET, and a redirect to the CDN is followed as a data host's
      // (it becomes the file's location). Anything else but bytes, a redirect or a busy server
      // falls back to the HEAD path, which reports errors as it always has.
      loc.url = resolve_url(m_.endpoint, repo_, commit_, path_);
      loc.hub = true;
      loc.resolved_at = m_.now_epoch();
      loc.expires_at = kNeverExpires;
      in_one_trip_ = true;
    } else {
      Outcome o = m_.location_for(key_, failed_url_.empty() ? nullptr : &failed_url_, repo_, commit_,
                                  path_, deadline_, resolve_ctx_, loc);
      failed_url_.clear();
      if (o.kind != Outcome::kDone) return o;
    }
    bad_reply_.clear();
    HttpRequest req = ranged_get(loc, offset_ + got_);
    site_cache_.clear();
    HttpResponse r = m_.http.perform(req);
    // A GET the Hub answers with a redirect did a resolve's job (the one-trip GET of a whole file,
    // a relative hop): counted as one, so `data` counts the requests that carry (or fail) bytes.
    ++(loc.hub && is_redirect(r.status) ? m_.resolve_requests : m_.data_requests);
    got_ += r.sink_bytes;
    m_.bytes_received += r.sink_bytes;
    count_site_cache(r.sink_bytes);
    return judge(r, loc);
  }

 private:
  // GET bytes first..last_; the body goes to the sink after the bytes already there, and only
  // once judge_headers has seen a 206 with exactly the range asked for.
  HttpRequest ranged_get(const CachedLocation& loc, uint64_t first) {
    HttpRequest req = m_.make_request(loc.url, deadline_, false, &used_);
    req.headers.push_back("Range: bytes=" + std::to_string(first) + "-" + std::to_string(last_));
    req.sink = &sink_;
    req.sink_at = got_;
    req.sink_room = len_ - got_;
    req.max_string_body = kMaxErrorBodyBytes;
    req.decide = [this, first](long status, const HttpHeaders& h) { return judge_headers(status, h, first); };
    return req;
  }

  // Where the body goes: the sink for the exact 206 asked for, a string for an error body, and
  // nowhere for any other success (recorded in bad_reply_, the transfer is aborted).
  BodyMode judge_headers(long status, const HttpHeaders& h, uint64_t first) {
    if (status == 206) {
      std::string cr_text = h.get("content-range");
      auto cr = parse_content_range(cr_text);
      if (cr && cr->first == first && cr->last == last_ && cr->total && *cr->total == expected_size_) {
        site_cache_ = h.get("x-site-cache");
        return BodyMode::kSink;
      }
      bad_reply_ = "206 with Content-Range '" + sanitize_for_message(cr_text, 80) + "' (asked bytes " +
                   std::to_string(first) + "-" + std::to_string(last_) + "/" +
                   std::to_string(expected_size_) + ")";
      return BodyMode::kAbort;
    }
    if (status >= 200 && status < 300) {
      bad_reply_ = "HTTP " + std::to_string(status) + " instead of 206 Partial Content";
      return BodyMode::kAbort;
    }
    return BodyMode::kString;
  }

  // A site cache (deploy/site-cache) labels each answer with its cache status: HIT (and STALE,
  // UPDATING, REVALIDATED) came from its disk, anything else (MISS, EXPIRED, BYPASS) it fetched
  // upstream. nginx labels a sliced answer by its first slice: close enough for `hffs status`.
  void count_site_cache(uint64_t bytes) {
    if (site_cache_.empty() || bytes == 0) return;
    const bool hit = site_cache_ == "HIT" || site_cache_ == "STALE" || site_cache_ == "UPDATING" ||
                     site_cache_ == "REVALIDATED";
    (hit ? m_.site_hit_bytes : m_.site_miss_bytes) += bytes;
  }

  Outcome judge(const HttpResponse& r, const CachedLocation& loc) {
    const std::string where = loc.hub ? m_.endpoint : "the data host";
    // The endpoint refused a token that the token file has replaced since: the same request
    // again, with the new token (before the one-trip and resolve-cache fallbacks, which would
    // send another request with the old one).
    if (loc.hub && r.ok_transfer() && m_.token_rotated(r, used_)) {
      in_direct_ = false;
      return Outcome::again(map_http_error(m_.error_info(r), resolve_ctx_), /*hop=*/false);
    }
    if (in_direct_) {
      in_direct_ = false;
      // Anything but the bytes (or a busy server, or a lost connection: tried again as usual):
      // this endpoint does not serve resolve-cache URLs as the Hub does; /resolve says why.
      if (r.ok_transfer() && !r.sink_failed && !is_retryable_status(r.status) &&
          !(r.status == 206 && bad_reply_.empty() && !r.overflow)) {
        m_.resolve_cache.store(Impl::kRefused, std::memory_order_relaxed);
        direct_ = false;
        return Outcome::again(Status(Errc::kProtocol, where + " did not serve the file at its resolve-cache URL " + what_),
                              /*hop=*/true);
      }
    }
    if (in_one_trip_ && r.ok_transfer() && !r.sink_failed && !is_redirect(r.status) &&
        !is_retryable_status(r.status) && !(r.status == 206 && bad_reply_.empty() && !r.overflow)) {
      m_.drop_location(key_, loc.url);
      one_trip_ = in_one_trip_ = false;
      return Outcome::again(Status(Errc::kProtocol, where + " did not serve the file at its resolve URL " + what_),
                            /*hop=*/true);
    }
    if (r.sink_failed)
      return Outcome::fail(Status(Errc::kIo, "the destination refused the bytes " + what_));
    if (!bad_reply_.empty()) return on_bad_reply(loc, where);
    if (r.overflow) {
      m_.drop_location(key_, loc.url);
      return Outcome::fail(Status(Errc::kProtocol, where + " sent more bytes than asked " + what_));
    }
    if (r.status == 206 && r.ok_transfer()) {
      if (got_ == len_) return Outcome::done();
      // Complete response but short: resume from what arrived.
      Outcome o = Outcome::retry(Status(Errc::kNetwork, where + " sent a short body " + what_));
      o.uncounted = r.sink_bytes > 0;
      return o;
    }
    if (!r.ok_transfer()) {
      Status s = m_.net_status(r, loc.url);
      if (m_.final_net_failure(r)) return Outcome::fail(s);
      Outcome o = Outcome::retry(s);
      o.uncounted = r.sink_bytes > 0;  // progress: resume without using up an attempt
      return o;
    }
    if (is_redirect(r.status)) return on_redirect(r, loc, where);
    return on_http_error(r, loc);
  }

  // A 2xx other than the exact 206 asked for: nothing reached the sink.
  Outcome on_bad_reply(const CachedLocation& loc, const std::string& where) {
    m_.drop_location(key_, loc.url);
    failed_url_ = loc.url;
    Status s(Errc::kProtocol, where + " answered " + bad_reply_ + " " + what_);
    // A misbehaving cache node is retried (on a fresh location); a third strike within one
    // range means the server cannot do ranges: fail, never guess.
    if (++protocol_strikes_ >= 3) return Outcome::fail(s);
    return Outcome::again(s, /*hop=*/false);
  }

  // The data host moved the object (or the Hub URL redirected): follow by hand, deciding about
  // Authorization again for the new origin. The target becomes the file's cached location.
  Outcome on_redirect(const HttpResponse& r, const CachedLocation& loc, const std::string& where) {
    auto base = parse_url(loc.url);
    auto target = base ? resolve_reference(*base, r.headers.get("location")) : std::nullopt;
    auto tu = target ? parse_url(*target) : std::nullopt;
    if (!tu || ++data_hops_ > kMaxRedirectHops)
      return Outcome::fail(Status(Errc::kProtocol, where + " sent an unusable or looping redirect " + what_));
    if (Status d = m_.check_downgrade(loc.url, *tu, what_); !d) {
      m_.drop_location(key_, loc.url);
      return Outcome::fail(d);
    }
    CachedLocation next;
    next.url = *target;
    next.hub = m_.ep && same_origin(*tu, *m_.ep);
    if (regular_ && in_one_trip_ && loc.hub && next.hub &&
        target->starts_with(m_.endpoint + "/api/resolve-cache/")) {
      int unknown = Impl::kUnknown;  // the endpoint redirects regular files as the Hub does
      m_.resolve_cache.compare_exchange_strong(unknown, Impl::kSeen, std::memory_order_relaxed);
    }
    next.resolved_at = m_.now_epoch();
    next.expires_at = next.hub ? kNeverExpires : location_expiry(*target, next.resolved_at);
    m_.store_location(key_, next);
    return Outcome::again(Status(Errc::kProtocol, "redirect"), /*hop=*/true);
  }

  Outcome on_http_error(const HttpResponse& r, const CachedLocation& loc) {
    if (!loc.hub && (r.status == 401 || r.status == 403 || r.status == 404 || r.status == 410)) {
      // Expired or revoked signed URL: get a fresh one from the Hub.
      m_.drop_location(key_, loc.url);
      failed_url_ = loc.url;
      return Outcome::again(map_http_error(m_.error_info(r), data_ctx_), /*hop=*/false);
    }
    Status s = map_http_error(m_.error_info(r), loc.hub ? resolve_ctx_ : data_ctx_);
    if (is_retryable_status(r.status)) return Outcome::retry(s, m_.server_delay(r));
    m_.drop_location(key_, loc.url);
    return Outcome::fail(s);
  }

  Impl& m_;
  TokenSource::Token used_;  // the token the last request carried
  const RepoId& repo_;
  const std::string_view commit_, path_;
  const uint64_t expected_size_, offset_, len_, last_;
  ByteSink& sink_;
  const Clock::time_point deadline_;
  const std::string key_;
  const std::string what_;
  const ErrorContext resolve_ctx_, data_ctx_;

  uint64_t got_ = 0;            // bytes of the range already in the sink
  int protocol_strikes_ = 0;    // answers that were not the exact 206 asked for
  int data_hops_ = 0;           // redirects followed by data GETs
  std::string failed_url_;      // set when the last location must not be reused
  std::string bad_reply_;       // this attempt's answer, when it was not the 206 asked for
  std::string site_cache_;      // this attempt's X-Site-Cache label (a site cache answered)
  bool one_trip_ = offset_ == 0 && len_ == expected_size_;  // the whole file: GET its resolve URL
  bool in_one_trip_ = false;    // the location in use came from that GET (or its redirects)
  const bool regular_;          // a regular (non-LFS) file
  bool direct_;                 // a whole regular file: GET its resolve-cache URL first
  bool in_direct_ = false;      // this attempt's GET went to the resolve-cache URL
};

Status EndpointClient::read_range_to(const RepoId& repo, std::string_view commit, std::string_view path,
                                uint64_t expected_size, uint64_t offset, uint64_t len, ByteSink& sink,
                                std::optional<Clock::time_point> cap, bool regular) {
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
  const auto start = Clock::now();
  const auto deadline = cap ? std::min(*cap, start + m.cfg.op_deadline) : start + m.cfg.op_deadline;
  Impl::RangeRead read(m, repo, commit, path, expected_size, offset, len, sink, deadline, regular);
  return m.run(read.what(), start, deadline, [&read] { return read.attempt(); });
}

}  // namespace hffs::hubapi
