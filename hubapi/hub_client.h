// The Hub client the rest of hffs talks to: revision pinning, tree listing, and ranged reads
// through /resolve, over an ordered list of endpoints (the Hub, mirrors, a site cache). With one
// endpoint it is exactly that endpoint's client (endpoint_client.h). With several, each operation
// goes to the first endpoint that is up and serves the repo; a host failure moves it to the next
// (a read resumes after the bytes already received), and the failed host is probed in the
// background until it answers again (failover.h holds the policy).
// Thread-safe: read_range_to may be called from many threads at once.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_sink.h"
#include "common/status.h"
#include "hubapi/endpoint_client.h"
#include "hubapi/hub_config.h"
#include "hubapi/types.h"

namespace hffs::hubapi {

class HubClient {
 public:
  explicit HubClient(HubConfig cfg);
  ~HubClient();
  HubClient(const HubClient&) = delete;
  HubClient& operator=(const HubClient&) = delete;

  const HubConfig& config() const;

  // GET /api/{types}/{repo}/revision/{rev}; rev encoded as one segment. The revision is pinned on
  // the first endpoint that answers; every later call names the commit it returned.
  Result<RepoInfo> repo_info(const RepoId& repo, std::string_view revision);
  // GET /api/{types}/{repo}/refs: the names of the repo's tags (a mount of one never follows it).
  Result<std::vector<std::string>> tag_names(const RepoId& repo);

  // Recursive listing at `commit` (paginated through Link rel="next"), every entry validated
  // (see tree_parse.h). Directories implied by file paths are present.
  Result<std::vector<TreeEntry>> list_tree(const RepoId& repo, std::string_view commit);
  // One directory, or the first pages only (see ListRequest); with failover like the above.
  Result<Listing> list_tree(const RepoId& repo, std::string_view commit, const ListRequest& req);

  // Reads exactly `len` bytes at `offset` of `path` at `commit` (caller clamps at EOF), handing
  // each piece to `sink` as it arrives (no buffer of the range's size; a caller that wants the
  // bytes in a buffer passes a SpanSink). Resolves once per file and caches the signed location
  // until near expiry; re-resolves on 401/403/404/410 from a non-Hub host. Retries
  // 408/429/5xx/connection loss with capped backoff honouring Retry-After, resuming where the
  // last attempt stopped; never passes on bytes that were not a 206 with the exact Content-Range
  // asked for. `expected_size` is the file's size from the tree (checked against the
  // Content-Range total). A sink that refuses bytes ends the read with kIo, untried again.
  // `regular`: a non-LFS file (the tree says so); read whole with no location known, it is asked
  // for at its /api/resolve-cache URL, where the Hub's /resolve redirects it: one round trip
  // instead of two (an endpoint that does not serve that URL is asked at /resolve from then on).
  Status read_range_to(const RepoId& repo, std::string_view commit, std::string_view path,
                       uint64_t expected_size, uint64_t offset, uint64_t len, ByteSink& sink,
                       bool regular = false);

  HubStats stats() const;

  // The /resolve URL of a file on the endpoint serving now (percent-encoded, no credentials, no
  // signature): for xattrs/logs.
  std::string file_url(const RepoId& repo, std::string_view commit, std::string_view path) const;

  // Forgets the cached signed location of a file (on every endpoint), so that the next read resolves it again (its
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
