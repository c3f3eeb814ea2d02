#include "fs/hub_source.h"

namespace hffs::fs {

namespace {

// "'<path>' (<where>[, served by <host>])": how log lines name the file a bad byte came from.
std::string file_name(const std::string& path, const std::string& where, const std::string& by) {
  return "'" + path + "' (" + where + (by.empty() ? "" : ", served by " + by) + ")";
}

}  // namespace

// Three references, so that it costs nothing to keep one per file the mount has read; the path
// is rebuilt per request (a walk up a few parents, nothing beside a network round trip).
class HubSource::File final : public cache::BlockSource {
 public:
  File(const HubSource& hub, const Namespace& ns, const Inode& n) : hub_(hub), ns_(ns), n_(n) {}
  Status fetch(uint64_t offset, uint64_t len, ByteSink& sink) override {
    return hub_.client_.read_range_to(hub_.repo_, hub_.commit_, ns_.path_of(n_), n_.size, offset, len, sink,
                                      /*regular=*/!n_.lfs);
  }
  void refresh() override { hub_.client_.forget_location(hub_.repo_, hub_.commit_, ns_.path_of(n_)); }
  std::string name() const override {
    const std::string path = ns_.path_of(n_);
    return file_name(path, hub_.describe(ns_, n_), hub_.client_.location_origin(hub_.repo_, hub_.commit_, path));
  }

 private:
  const HubSource& hub_;
  const Namespace& ns_;
  const Inode& n_;
};

std::unique_ptr<cache::BlockSource> HubSource::open(const Namespace& ns, const Inode& file) {
  return std::make_unique<File>(*this, ns, file);
}

std::string HubSource::describe(const Namespace& ns, const Inode& file) const {
  return client_.file_url(repo_, commit_, ns.path_of(file));
}

namespace {

class OfflineFile final : public cache::BlockSource {
 public:
  OfflineFile(const Namespace& ns, const Inode& n) : ns_(ns), n_(n) {}
  Status fetch(uint64_t, uint64_t, ByteSink&) override {
    return Status(Errc::kOffline, "offline mode and '" + ns_.path_of(n_) + "' is not fully cached");
  }
  std::string name() const override { return file_name(ns_.path_of(n_), "offline", ""); }

 private:
  const Namespace& ns_;
  const Inode& n_;
};

}  // namespace

std::unique_ptr<cache::BlockSource> OfflineSource::open(const Namespace& ns, const Inode& file) {
  return std::make_unique<OfflineFile>(ns, file);
}

}  // namespace hffs::fs
