#include "cache/cache_core.h"

#include <sys/statvfs.h>

#include "cache/cache_dir.h"

namespace hffs::cache {

namespace {

Result<FsSpace> statvfs_space(const std::filesystem::path& p) {
  struct statvfs v {};
  if (::statvfs(p.c_str(), &v) != 0) return errno_status(errno, "statvfs " + p.string());
  return FsSpace{uint64_t{v.f_blocks} * v.f_frsize, uint64_t{v.f_bavail} * v.f_frsize};
}

CacheConfig with_statfs(CacheConfig cfg) {
  if (!cfg.statfs) cfg.statfs = statvfs_space;
  return cfg;
}

}  // namespace

CacheCore::CacheCore(const CacheConfig& config, std::filesystem::path r, std::unique_ptr<UsageFile> u,
                     bool maintenance)
    : cfg(with_statfs(config)),
      root(std::move(r)),
      files(root, cfg.block_size, cfg.max_open_files),
      usage(std::move(u)),
      space(cfg, root, *usage, c, /*use_recorded=*/maintenance),
      reads(cfg, flights, c, *usage, space, verifier),
      whole(cfg, reads, space, verifier, *usage, c),
      verifier(cfg, *usage, c) {}

Result<std::unique_ptr<CacheCore>> CacheCore::open(const CacheConfig& cfg, bool maintenance) {
  auto root = open_cache_root(cfg.dir, cfg.block_size);
  if (!root) return root.status();
  auto usage = UsageFile::open(*root, cfg.block_size);
  if (!usage) return usage.status();
  return std::make_unique<CacheCore>(cfg, std::move(*root), std::move(*usage), maintenance);
}

}  // namespace hffs::cache
