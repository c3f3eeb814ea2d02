#include "cli/session.h"

#include <malloc.h>
#include <unistd.h>

#include <tuple>

#include "cache/cache_dir.h"

namespace hffs::cli {

namespace {

// The cache options of `o` as a CacheConfig; a bad value is a usage error naming its option.
Result<cache::CacheConfig> cache_config(const SessionOptions& o, const std::filesystem::path& dir) {
  cache::CacheConfig cc;
  cc.dir = dir;
  for (auto [opt, val, dst] : {std::tuple{"--cache-size", &o.cache_size, &cc.max_size},
                               std::tuple{"--cache-min-free", &o.cache_min_free, &cc.min_free}}) {
    if (!*val) continue;
    auto size = cache::parse_size(**val);
    if (!size) return Status(Errc::kInvalidInput, std::string(opt) + ": " + size.status().message());
    *dst = *size;
  }
  // Fetched content is checked against its sha256 / git sha1 (docs/CACHE.md "Verification").
  auto vm = cache::parse_verify_mode(o.verify);
  if (!vm || *vm == cache::VerifyMode::kOff)
    return Status(Errc::kInvalidInput,
                  "--verify: " + (vm ? std::string("use auto or strict") : vm.status().message()));
  cc.verify = *vm;
  if (o.verify_whole_max) {
    auto size = cache::parse_size(*o.verify_whole_max);
    if (!size || size->percent > 0)
      return Status(Errc::kInvalidInput, "--verify-whole-max: " + (size ? std::string("give a size, not a percentage")
                                                                       : size.status().message()));
    cc.whole_file_max = size->bytes;
  }
  cc.on_corrupt = o.on_corrupt;
  return cc;
}

}  // namespace

Session::~Session() = default;

Session::Opened Session::open(const SessionOptions& o) {
  std::unique_ptr<Session> s(new Session());
  s->env_ = read_hf_env();
  auto hub = make_hub_config(o.hub, s->env_);
  if (!hub) return {nullptr, {kExitUsage, hub.status().message()}};
  s->hub_ = std::move(*hub);
  s->client_ = std::make_unique<hubapi::HubClient>(s->hub_.config);
  s->cache_dir_ = o.cache_dir ? std::filesystem::path(*o.cache_dir) : s->env_.default_cache_dir();
  if (o.cache_group) {
    auto gid = lookup_group(*o.cache_group);
    if (!gid) return {nullptr, {kExitUsage, "--cache-group: no group '" + *o.cache_group + "' (give a group name or gid)"}};
    cache::set_cache_group(*gid);
  }
  auto cc = cache_config(o, s->cache_dir_);
  if (!cc) return {nullptr, {kExitUsage, cc.status().message()}};
  if (o.publish_hf_cache) {
    s->publisher_ = std::make_unique<HfPublisher>(s->env_.hub_cache, s->cache_dir_);
    cc->on_verified = [p = s->publisher_.get()](const cache::FileRef& f) { p->on_verified(f); };
  }
  auto cache = cache::BlockCache::open(*cc);
  if (!cache)
    return {nullptr, {kExitCache, "cannot use cache directory " + s->cache_dir_.string() + ": " +
                                      cache.status().message() + " (choose another with --cache-dir)"}};
  s->cache_ = std::move(*cache);
  s->views_ = std::make_unique<SnapshotStore>(s->cache_dir_);

  OpenContext& ctx = s->ctx_;
  ctx.client = o.offline || s->env_.offline ? nullptr : s->client_.get();
  ctx.views = s->views_.get();
  ctx.cache = s->cache_.get();
  ctx.hub_cache = s->env_.hub_cache;
  ctx.publish = s->publisher_.get();
  ctx.prefetch = o.prefetch;
  ctx.lazy_listing = o.lazy_listing;
  ctx.view = o.view;
  ctx.uid = ::getuid();
  ctx.gid = ::getgid();
  return {std::move(s), {}};
}

Result<fs::RepoMount> Session::open_repo(const hubapi::RepoId& repo, const std::string& revision) const {
  auto m = open_repo_view(ctx_, repo, revision);
  // Opening a repo parsed its whole tree (JSON, then one TreeEntry per file: about twice what the
  // mount keeps) and freed it; glibc keeps that heap unless told to give it back. Once per open.
#ifdef __GLIBC__
  ::malloc_trim(0);
#endif
  return m;
}

Failure Session::repo_failure(const Status& s, const hubapi::RepoId& repo, const std::string& revision,
                              const std::string& verb) const {
  return cli::repo_failure(s, repo, revision, hub_.endpoints.urls(), has_token(hub_config()), verb);
}

}  // namespace hffs::cli
