// Minimal libcurl wrapper: pooled easy handles sharing connections, DNS and TLS sessions.
// Private to hubapi (no curl types leak out of http.cc). Redirects are never followed here.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/byte_sink.h"

namespace hffs::hubapi {

using Clock = std::chrono::steady_clock;

struct HttpHeaders {
  std::vector<std::pair<std::string, std::string>> items;  // names lowercased, values trimmed
  // The value of the last header named `name` (lowercase), "" if absent.
  std::string get(std::string_view name) const;
  bool has(std::string_view name) const;
  // All values of `name` joined with ", " (for Link, which may be repeated).
  std::string joined(std::string_view name) const;
};

// Where the response body goes, decided once the status and headers are known.
enum class BodyMode { kString, kSink, kAbort };

struct HttpRequest {
  bool head = false;  // HEAD instead of GET
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  Clock::time_point deadline;        // the attempt is aborted when it passes
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds stall_timeout{15'000};
  // Body into a string up to this many bytes (more -> overflow, transfer aborted).
  size_t max_string_body = 64 << 20;
  // Body into this sink (when `decide` returns kSink), byte k at sink_at + k; more than
  // sink_room bytes -> overflow (the excess is not passed on).
  ByteSink* sink = nullptr;
  uint64_t sink_at = 0;
  uint64_t sink_room = 0;
  // Called once before the first body byte (and at the end when there was no body).
  // Default: kString.
  std::function<BodyMode(long status, const HttpHeaders&)> decide;
};

enum class NetError {
  kNone,
  kResolve,     // DNS
  kConnect,     // refused / unreachable / connect timeout
  kTls,         // handshake / certificate
  kTimeout,     // the request deadline passed
  kStalled,     // no progress for stall_timeout
  kPartial,     // connection lost mid-body / recv error
  kAborted,     // our decide() said kAbort, or overflow
  kOther,
};

struct HttpResponse {
  long status = 0;  // 0 when no response was received
  HttpHeaders headers;
  std::string body;        // when BodyMode::kString (or error bodies)
  size_t sink_bytes = 0;   // bytes the sink accepted
  bool sink_failed = false;  // the sink refused bytes (its own failure; transfer aborted)
  size_t body_bytes = 0;   // all body bytes seen
  bool overflow = false;   // more body than allowed
  BodyMode mode = BodyMode::kString;
  NetError net = NetError::kNone;
  int curl_code = 0;
  std::string curl_error;  // curl's text, for messages
  bool reused_connection = false;
  // The peer's certificate was refused or the CA bundle is unusable: retrying cannot help.
  bool tls_verify_failed = false;
  bool ok_transfer() const { return net == NetError::kNone; }
};

struct HttpOptions {
  std::string user_agent;
  std::string ca_file;  // "" -> $SSL_CERT_FILE / $CURL_CA_BUNDLE -> libcurl default
  size_t max_pooled_handles = 64;
};

class HttpClient {
 public:
  explicit HttpClient(HttpOptions opts);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Performs one request (no redirects, no retries). Thread-safe.
  HttpResponse perform(const HttpRequest& req);

  // The CA bundle actually configured ("" = libcurl default).
  const std::string& ca_file() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string_view net_error_name(NetError e);

}  // namespace hffs::hubapi
