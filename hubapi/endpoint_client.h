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
// The tag names in the body of GET /api/{types}/{repo}/refs (untrusted; kProtocol when it is not
// a JSON object whose "tags" is a list). Pure.
Result<std::vector<std::string>> parse_tag_names(std::string_view body);

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
  // The operations of HubClient (hub_client.h says what each does), on this endpoint only. Each
  // ends by `cap` when given (the caller's own deadline), else by cfg.op_deadline.
  Result<RepoInfo> repo_info(const RepoId& repo, std::string_view revision,
                             std::optional<Clock::time_point> cap = std::nullopt);
  Result<std::vector<std::string>> tag_names(const RepoId& repo, std::optional<Clock::time_point> cap = std::nullopt);
  Result<std::vector<TreeEntry>> list_tree(const RepoId& repo, std::string_view commit,
                                           std::optional<Clock::time_point> cap = std::nullopt);
  Result<Listing> list_tree(const RepoId& repo, std::string_view commit, const ListRequest& req,
                            std::optional<Clock::time_point> cap = std::nullopt);
  Status read_range_to(const RepoId& repo, std::string_view commit, std::string_view path,
                       uint64_t expected_size, uint64_t offset, uint64_t len, ByteSink& sink,
                       std::optional<Clock::time_point> cap = std::nullopt, bool regular = false);

  // The counters (the health fields are the failover client's).
  HubStats stats() const;
  // The endpoint as normalized (scheme://host[:port][/path], no trailing '/').
  const std::string& endpoint() const;

  std::string file_url(const RepoId& repo, std::string_view commit, std::string_view path) const;
  void forget_location(const RepoId& repo, std::string_view commit, std::string_view path);
  std::string location_origin(const RepoId& repo, std::string_view commit, std::string_view path) const;

  // Added (tests only): the wall clock (Unix seconds) used for signed-URL expiry decisions.
  // nullptr restores the system clock. Not thread-safe against concurrent reads.
  void set_wall_clock_for_testing(std::function<int64_t()> now_epoch_seconds);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hffs::hubapi
