// RepoSource backed by the Hub client: ranged reads of a repo's files at the pinned commit.
#pragma once
#include <memory>
#include <string>

#include "fs/repo_source.h"
#include "hubapi/hub_client.h"

namespace hffs::fs {

class HubSource final : public RepoSource {
 public:
  HubSource(hubapi::HubClient& client, hubapi::RepoId repo, std::string commit)
      : client_(client), repo_(std::move(repo)), commit_(std::move(commit)) {}
  // A source that reads `file` through HubClient::read_range_to; refresh() forgets the file's
  // cached signed location. It refers to this HubSource, `ns` and `file`: all must outlive it.
  std::unique_ptr<cache::BlockSource> open(const Namespace& ns, const Inode& file) override;
  std::string describe(const Namespace& ns, const Inode& file) const override;

 private:
  class File;
  hubapi::HubClient& client_;
  hubapi::RepoId repo_;
  std::string commit_;
};

// Offline mode: every miss fails at once with kOffline.
class OfflineSource final : public RepoSource {
 public:
  std::unique_ptr<cache::BlockSource> open(const Namespace& ns, const Inode& file) override;
  std::string describe(const Namespace&, const Inode&) const override { return "offline"; }
};

}  // namespace hffs::fs
