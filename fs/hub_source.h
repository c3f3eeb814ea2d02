// FileOrigin backed by the Hub client: ranged reads of a file at the pinned commit.
#pragma once
#include <string>

#include "fs/file_origin.h"
#include "hubapi/hub_client.h"

namespace hffs::fs {

class HubOrigin : public FileOrigin {
 public:
  HubOrigin(hubapi::HubClient& client, hubapi::RepoId repo, std::string commit)
      : client_(client), repo_(std::move(repo)), commit_(std::move(commit)) {}
  Status fetch(const Inode& file, uint64_t offset, std::span<char> out) override;
  Status fetch_to(const Inode& file, uint64_t offset, uint64_t len, ByteSink& sink) override;
  std::string describe(const Inode& file) const override;
  std::string served_by(const Inode& file) const override;
  void refresh(const Inode& file) override;

 private:
  hubapi::HubClient& client_;
  hubapi::RepoId repo_;
  std::string commit_;
};

// Offline mode: every miss fails at once with kOffline.
class OfflineOrigin : public FileOrigin {
 public:
  Status fetch(const Inode& file, uint64_t offset, std::span<char> out) override;
  std::string describe(const Inode& file) const override { return "offline"; }
};

}  // namespace hffs::fs
