#include "fs/hub_source.h"

namespace hffs::fs {

Status HubOrigin::fetch(const Inode& file, uint64_t offset, std::span<char> out) {
  return client_.read_range(repo_, commit_, file.path, file.size, offset, out);
}

Status HubOrigin::fetch_to(const Inode& file, uint64_t offset, uint64_t len, ByteSink& sink) {
  return client_.read_range_to(repo_, commit_, file.path, file.size, offset, len, sink);
}

std::string HubOrigin::describe(const Inode& file) const { return client_.file_url(repo_, commit_, file.path); }

std::string HubOrigin::served_by(const Inode& file) const {
  return client_.location_origin(repo_, commit_, file.path);
}

void HubOrigin::refresh(const Inode& file) { client_.forget_location(repo_, commit_, file.path); }

Status OfflineOrigin::fetch(const Inode& file, uint64_t, std::span<char>) {
  return Status(Errc::kOffline, "offline mode and '" + file.path + "' is not fully cached");
}

}  // namespace hffs::fs
