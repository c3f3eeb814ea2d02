#include "fs/hub_source.h"

namespace hffs::fs {

Status HubOrigin::fetch(const Inode& file, uint64_t offset, std::span<char> out) {
  return client_.read_range(repo_, commit_, file.path, file.size, offset, out);
}

std::string HubOrigin::describe(const Inode& file) const {
  std::string url = client_.config().endpoint;
  if (!url.empty() && url.back() == '/') url.pop_back();
  url += "/";
  url += hubapi::repo_type_web_prefix(repo_.type);
  url += repo_.id + "/resolve/" + commit_ + "/" + file.path;
  return url;
}

Status OfflineOrigin::fetch(const Inode& file, uint64_t, std::span<char>) {
  return Status(Errc::kOffline, "offline mode and '" + file.path + "' is not fully cached");
}

}  // namespace hffs::fs
