#include "fs/hub_source.h"

namespace hffs::fs {

namespace {

// "'<path>' (<where>[, served by <host>])": how log lines name the file a bad byte came from.
std::string file_name(const Inode& n, const std::string& where, const std::string& by) {
  return "'" + n.path + "' (" + where + (by.empty() ? "" : ", served by " + by) + ")";
}

}  // namespace

// Two references, so that it costs nothing to keep one per file the mount has read.
class HubSource::File final : public cache::BlockSource {
 public:
  File(const HubSource& hub, const Inode& n) : hub_(hub), n_(n) {}
  Status fetch(uint64_t offset, uint64_t len, ByteSink& sink) override {
    return hub_.client_.read_range_to(hub_.repo_, hub_.commit_, n_.path, n_.size, offset, len, sink);
  }
  void refresh() override { hub_.client_.forget_location(hub_.repo_, hub_.commit_, n_.path); }
  std::string name() const override {
    return file_name(n_, hub_.describe(n_), hub_.client_.location_origin(hub_.repo_, hub_.commit_, n_.path));
  }

 private:
  const HubSource& hub_;
  const Inode& n_;
};

std::unique_ptr<cache::BlockSource> HubSource::open(const Inode& file) { return std::make_unique<File>(*this, file); }

std::string HubSource::describe(const Inode& file) const { return client_.file_url(repo_, commit_, file.path); }

namespace {

class OfflineFile final : public cache::BlockSource {
 public:
  explicit OfflineFile(const Inode& n) : n_(n) {}
  Status fetch(uint64_t, uint64_t, ByteSink&) override {
    return Status(Errc::kOffline, "offline mode and '" + n_.path + "' is not fully cached");
  }
  std::string name() const override { return file_name(n_, "offline", ""); }

 private:
  const Inode& n_;
};

}  // namespace

std::unique_ptr<cache::BlockSource> OfflineSource::open(const Inode& file) {
  return std::make_unique<OfflineFile>(file);
}

}  // namespace hffs::fs
