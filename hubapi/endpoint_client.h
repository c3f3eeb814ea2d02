// The client of ONE endpoint (the Hub, or a mirror, with the CDN its redirects name): revision
// pinning, tree listing and ranged reads through /resolve, each retried on that endpoint. The
// failover client (hub_client.h) owns one per configured endpoint; nothing else uses it.
// Thread-safe: read_range_to may be called from many threads at once.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_sink.h"
#include "common/status.h"
#include "hubapi/hub_config.h"
#include "hubapi/http.h"
#include "hubapi/types.h"

namespace hffs::hubapi {

// The body of GET /api/{types}/{repo}/revision/{rev} (untrusted): kProtocol with the reason when it is
// not a JSON object with a valid id and a 40-hex sha. Pure (used by repo_info; fuzzed).
Result<RepoInfo> parse_repo_info(std::string_view body, const RepoId& repo);

class EndpointClient {
 public:
  // `cfg.endpoint` is the endpoint; the token goes with it only when `cfg.endpoint_sends_token`.
  // `fail_fast` (another endpoint can take over): a host failure ends the operation after at most
  // two attempts instead of retrying until the deadline; a stall, a refused connection or an
  // unknown host name is not retried on this host; a 429/503 asking to wait longer than
  // cfg.failover_max_server_wait fails at once.
  EndpointClient(HubConfig cfg, bool fail_fast);
  ~EndpointClient();
  EndpointClient(const EndpointClient&) = delete;
  EndpointClient& operator=(const EndpointClient&) = delete;

  const HubConfig& config() const;

  // GET /api/{types}/{repo}/revision/{rev}; rev encoded as one segment.
  // Every operation ends by `cap` when given (the caller's own deadline), else by cfg.op_deadline.
  Result<RepoInfo> repo_info(const RepoId& repo, std::string_view revision,
                             std::optional<Clock::time_point> cap = std::nullopt);

  // Recursive listing at `commit` (paginated through Link rel="next"), every entry validated
  // (see tree_parse.h). Directories implied by file paths are present.
  Result<std::vector<TreeEntry>> list_tree(const RepoId& repo, std::string_view commit,
                                           std::optional<Clock::time_point> cap = std::nullopt);

  // Reads exactly `len` bytes at `offset` of `path` at `commit` (caller clamps at EOF), handing
  // each piece to `sink` as it arrives (no buffer of the range's size; a caller that wants the
  // bytes in a buffer passes a SpanSink). Resolves once per file and caches the signed location
  // until near expiry; re-resolves on 401/403/404/410 from a non-Hub host. Retries
  // 408/429/5xx/connection loss with capped backoff honouring Retry-After, resuming where the
  // last attempt stopped; never passes on bytes that were not a 206 with the exact Content-Range
  // asked for. `expected_size` is the file's size from the tree (checked against the
  // Content-Range total). A sink that refuses bytes ends the read with kIo, untried again.
  Status read_range_to(const RepoId& repo, std::string_view commit, std::string_view path,
                       uint64_t expected_size, uint64_t offset, uint64_t len, ByteSink& sink,
                       std::optional<Clock::time_point> cap = std::nullopt);

  // The counters (the health fields are the failover client's).
  HubStats stats() const;
  // The endpoint as normalized (scheme://host[:port][/path], no trailing '/').
  const std::string& endpoint() const;

  // The /resolve URL of a file (percent-encoded, no credentials, no signature): for xattrs/logs.
  std::string file_url(const RepoId& repo, std::string_view commit, std::string_view path) const;

  // Forgets the cached signed location of a file, so that the next read resolves it again (its
  // content failed verification: the next fetch must not reuse the location that served it).
  void forget_location(const RepoId& repo, std::string_view commit, std::string_view path);
  // scheme://host[:port] of the location that serves a file now (cached), or the endpoint's when
  // none is cached: names the source of a bad byte in logs. Never a path, query or signature.
  std::string location_origin(const RepoId& repo, std::string_view commit, std::string_view path) const;

  // Added (tests only): the wall clock (Unix seconds) used for signed-URL expiry decisions.
  // nullptr restores the system clock. Not thread-safe against concurrent reads.
  void set_wall_clock_for_testing(std::function<int64_t()> now_epoch_seconds);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hffs::hubapi
