#include "hubapi/http.h"

#include "hubapi/limits.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <mutex>

namespace hffs::hubapi {

namespace {

std::once_flag g_curl_init_once;

void global_init() {
  std::call_once(g_curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return std::string(s);
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return r;
}

struct Transfer {
  const HttpRequest* req = nullptr;
  HttpResponse* resp = nullptr;
  CURL* easy = nullptr;
  bool decided = false;
  bool aborted_by_us = false;
  bool stalled = false;
  curl_off_t last_progress_bytes = -1;
  Clock::time_point last_progress_time;

  void decide() {
    if (decided) return;
    decided = true;
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    resp->status = code;
    resp->mode = req->decide ? req->decide(code, resp->headers) : BodyMode::kString;
  }
};

size_t header_cb(char* data, size_t size, size_t nmemb, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  size_t n = size * nmemb;
  std::string_view line(data, n);
  if (line.substr(0, 5) == "HTTP/") {
    // A new response (e.g. after 100 Continue): start over.
    t->resp->headers.items.clear();
    return n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return n;
  if (t->resp->headers.items.size() >= kMaxResponseHeaders) return n;  // header flood: ignore the rest
  t->resp->headers.items.emplace_back(lower(trim(line.substr(0, colon))),
                                      trim(line.substr(colon + 1)));
  return n;
}

size_t write_cb(char* data, size_t size, size_t nmemb, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  size_t n = size * nmemb;
  t->decide();
  HttpResponse& r = *t->resp;
  r.body_bytes += n;
  switch (r.mode) {
    case BodyMode::kAbort:
      t->aborted_by_us = true;
      return 0;  // CURLE_WRITE_ERROR: stop the transfer now
    case BodyMode::kSink: {
      const HttpRequest& q = *t->req;
      if (!q.sink) {
        t->aborted_by_us = true;
        return 0;
      }
      size_t fit = static_cast<size_t>(std::min<uint64_t>(n, q.sink_room - std::min(q.sink_room, r.sink_bytes)));
      // Keep what fits (it is still correct data), flag the excess and stop.
      if (fit > 0 && !q.sink->put(q.sink_at + r.sink_bytes, std::span<const char>(data, fit))) {
        r.sink_failed = true;
        t->aborted_by_us = true;
        return 0;
      }
      r.sink_bytes += fit;
      if (fit < n) {
        r.overflow = true;
        t->aborted_by_us = true;
        return 0;
      }
      return n;
    }
    case BodyMode::kString:
      if (r.body.size() + n > t->req->max_string_body) {
        r.overflow = true;
        t->aborted_by_us = true;
        return 0;
      }
      r.body.append(data, n);
      return n;
  }
  return 0;
}

int xferinfo_cb(void* userp, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t ulnow) {
  auto* t = static_cast<Transfer*>(userp);
  auto now = Clock::now();
  curl_off_t total = dlnow + ulnow;
  if (total != t->last_progress_bytes) {
    t->last_progress_bytes = total;
    t->last_progress_time = now;
    return 0;
  }
  // Connecting is covered by the connect timeout; stall detection starts with the request.
  if (now - t->last_progress_time > t->req->stall_timeout) {
    t->stalled = true;
    return 1;  // CURLE_ABORTED_BY_CALLBACK
  }
  return 0;
}

NetError classify(CURLcode c) {
  switch (c) {
    case CURLE_OK: return NetError::kNone;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return NetError::kResolve;
    case CURLE_COULDNT_CONNECT: return NetError::kConnect;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE: return NetError::kTls;
    case CURLE_OPERATION_TIMEDOUT: return NetError::kTimeout;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return NetError::kPartial;
    case CURLE_WRITE_ERROR: return NetError::kAborted;
    default: return NetError::kOther;
  }
}

}  // namespace

std::string HttpHeaders::get(std::string_view name) const {
  for (auto it = items.rbegin(); it != items.rend(); ++it)
    if (it->first == name) return it->second;
  return {};
}

bool HttpHeaders::has(std::string_view name) const {
  return std::any_of(items.begin(), items.end(), [&](auto& kv) { return kv.first == name; });
}

std::string HttpHeaders::joined(std::string_view name) const {
  std::string r;
  for (auto& [k, v] : items) {
    if (k != name) continue;
    if (!r.empty()) r += ", ";
    r += v;
  }
  return r;
}

std::string_view net_error_name(NetError e) {
  switch (e) {
    case NetError::kNone: return "none";
    case NetError::kResolve: return "DNS resolution failed";
    case NetError::kConnect: return "connection failed";
    case NetError::kTls: return "TLS error";
    case NetError::kTimeout: return "timed out";
    case NetError::kStalled: return "transfer stalled";
    case NetError::kPartial: return "connection lost";
    case NetError::kAborted: return "aborted";
    case NetError::kOther: return "transfer error";
  }
  return "error";
}

struct HttpClient::Impl {
  HttpOptions opts;
  std::string ca;
  CURLSH* share = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> share_locks;
  std::mutex pool_mu;
  std::vector<CURL*> pool;

  static void lock_cb(CURL*, curl_lock_data data, curl_lock_access, void* userp) {
    auto* self = static_cast<Impl*>(userp);
    self->share_locks[static_cast<size_t>(data) % CURL_LOCK_DATA_LAST].lock();
  }
  static void unlock_cb(CURL*, curl_lock_data data, void* userp) {
    auto* self = static_cast<Impl*>(userp);
    self->share_locks[static_cast<size_t>(data) % CURL_LOCK_DATA_LAST].unlock();
  }

  CURL* acquire() {
    {
      std::lock_guard lk(pool_mu);
      if (!pool.empty()) {
        CURL* h = pool.back();
        pool.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }
  void release(CURL* h) {
    curl_easy_reset(h);  // keeps live connections and caches
    std::lock_guard lk(pool_mu);
    if (pool.size() < opts.max_pooled_handles) {
      pool.push_back(h);
      return;
    }
    curl_easy_cleanup(h);
  }
};

HttpClient::HttpClient(HttpOptions opts) : impl_(std::make_unique<Impl>()) {
  global_init();
  impl_->opts = std::move(opts);
  impl_->ca = impl_->opts.ca_file;
  if (impl_->ca.empty()) {
    for (const char* var : {"SSL_CERT_FILE", "CURL_CA_BUNDLE"}) {
      const char* v = std::getenv(var);
      if (v && *v) {
        impl_->ca = v;
        break;
      }
    }
  }
  impl_->share = curl_share_init();
  if (impl_->share) {
    curl_share_setopt(impl_->share, CURLSHOPT_LOCKFUNC, &Impl::lock_cb);
    curl_share_setopt(impl_->share, CURLSHOPT_UNLOCKFUNC, &Impl::unlock_cb);
    curl_share_setopt(impl_->share, CURLSHOPT_USERDATA, impl_.get());
    curl_share_setopt(impl_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(impl_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(impl_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  }
}

HttpClient::~HttpClient() {
  {
    std::lock_guard lk(impl_->pool_mu);
    for (CURL* h : impl_->pool) curl_easy_cleanup(h);
    impl_->pool.clear();
  }
  if (impl_->share) curl_share_cleanup(impl_->share);
}

const std::string& HttpClient::ca_file() const { return impl_->ca; }

namespace {

// The options of one transfer on a pooled handle: no redirects, verified TLS, the request's
// deadline and stall bounds, and the callbacks that fill `t`'s response.
void set_transfer_options(CURL* h, const HttpRequest& req, const HttpOptions& opts, CURLSH* share,
                          const std::string& ca, long remaining_ms, Transfer& t, char* errbuf) {
  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(h, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);  // redirects are followed by hand
  if (share) curl_easy_setopt(h, CURLOPT_SHARE, share);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!ca.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, ca.c_str());
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(h, CURLOPT_USERAGENT, opts.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  // Bulk range bodies: 512 KiB receive buffer instead of 16 KiB, so a part takes 32x fewer
  // recv()/write-callback rounds (measured: CPU per GiB, bench/RESULTS.md).
  if (!req.head) curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
  // TLS 1.3 servers follow the client's order by default: AES-128-GCM first, the cheapest AEAD
  // with AES-NI (a third less CPU per byte than AES-256-GCM, OpenSSL's default first choice).
  curl_easy_setopt(h, CURLOPT_TLS13_CIPHERS, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
  // The shared connection cache is trimmed to this size after each transfer; the default (5)
  // would close the idle connections of concurrent readers.
  curl_easy_setopt(h, CURLOPT_MAXCONNECTS, static_cast<long>(opts.max_pooled_handles));
  auto connect_ms = std::min<long>(static_cast<long>(req.connect_timeout.count()), remaining_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, std::max(1L, connect_ms));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, remaining_ms);
  long stall_s = std::max<long>(1, static_cast<long>((req.stall_timeout.count() + 999) / 1000));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, stall_s);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &xferinfo_cb);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &header_cb);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &write_cb);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  if (req.head) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  else curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
}

// Why a transfer that did not end in CURLE_OK failed, in the terms the retry loop decides on:
// our own abort, a stall, the deadline, a connect timeout, or a refused certificate.
void record_failure(HttpResponse& resp, CURLcode rc, const Transfer& t, const char* errbuf,
                    const HttpRequest& req) {
  resp.curl_error = errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
  if (!resp.curl_error.empty() && resp.curl_error.back() == '\n') resp.curl_error.pop_back();
  if (t.aborted_by_us) resp.net = NetError::kAborted;
  else if (t.stalled) resp.net = NetError::kStalled;
  else if (rc == CURLE_ABORTED_BY_CALLBACK) resp.net = NetError::kStalled;
  else if (rc == CURLE_OPERATION_TIMEDOUT)
    resp.net = Clock::now() + std::chrono::milliseconds(5) >= req.deadline ? NetError::kTimeout
                                                                            : NetError::kStalled;
  else resp.net = classify(rc);
  resp.tls_verify_failed = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
                           rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_ISSUER_ERROR ||
                           rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH || rc == CURLE_SSL_CRL_BADFILE;
  if (rc == CURLE_OPERATION_TIMEDOUT && resp.status == 0 &&
      Clock::now() + std::chrono::milliseconds(5) < req.deadline)
    resp.net = NetError::kConnect;  // connect timeout
}

}  // namespace

HttpResponse HttpClient::perform(const HttpRequest& req) {
  HttpResponse resp;
  auto now = Clock::now();
  auto remaining =
      std::chrono::duration_cast<std::chrono::milliseconds>(req.deadline - now).count();
  if (remaining <= 0) {
    resp.net = NetError::kTimeout;
    resp.curl_error = "deadline passed before the request was sent";
    return resp;
  }
  CURL* h = impl_->acquire();
  if (!h) {
    resp.net = NetError::kOther;
    resp.curl_error = "curl_easy_init failed";
    return resp;
  }
  Transfer t;
  t.req = &req;
  t.resp = &resp;
  t.easy = h;
  t.last_progress_time = now;
  char errbuf[CURL_ERROR_SIZE] = {0};
  set_transfer_options(h, req, impl_->opts, impl_->share, impl_->ca, static_cast<long>(remaining), t, errbuf);

  curl_slist* hdrs = nullptr;
  // No CURLOPT_ACCEPT_ENCODING: bodies and Content-Range must be about the raw bytes.
  hdrs = curl_slist_append(hdrs, "Accept-Encoding: identity");
  for (const auto& hline : req.headers) hdrs = curl_slist_append(hdrs, hline.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

  CURLcode rc = curl_easy_perform(h);
  t.decide();  // responses without a body
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  resp.status = code;
  long reused = 0;
  // CURLINFO_NUM_CONNECTS is 0 when an existing connection was reused.
  curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &reused);
  resp.reused_connection = (reused == 0 && code != 0);
  resp.curl_code = static_cast<int>(rc);
  if (rc != CURLE_OK) record_failure(resp, rc, t, errbuf, req);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(hdrs);
  impl_->release(h);
  return resp;
}

}  // namespace hffs::hubapi
