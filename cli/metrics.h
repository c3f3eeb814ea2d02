// Prometheus text exposition of one mount's counters. The same text is the mount root's
// user.hffs.metrics attribute, the --metrics-file, and what `hffs status` reads.
#pragma once
#include <map>
#include <string>

#include "cache/block_cache.h"
#include "fs/filesystem.h"
#include "hubapi/hub_client.h"

namespace hffs::cli {

struct MountIdentity {
  std::string mountpoint, repo, revision, commit, endpoint;
};

std::string render_metrics(const MountIdentity& id, const fs::Filesystem& fs, const cache::BlockCache& cache,
                           const hubapi::HubClient* hub);

// name{labels} -> value, for the sample lines of a Prometheus text (comments skipped).
std::map<std::string, double> parse_metrics(const std::string& text);

}  // namespace hffs::cli
