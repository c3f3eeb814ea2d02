#include "cli/repo_opener.h"

#include <spdlog/spdlog.h>

#include <optional>

#include "cli/hf_cache.h"
#include "fs/hub_source.h"

namespace hffs::cli {

namespace {
bool transient(Errc c) {
  return c == Errc::kNetwork || c == Errc::kTimeout || c == Errc::kServer || c == Errc::kRateLimited;
}

// The kept view of the commit `sha`, if any (`sha` a full commit sha, or nothing is looked up).
std::optional<hubapi::Snapshot> kept_commit(const OpenContext& ctx, const hubapi::RepoId& repo, const std::string& sha) {
  if (sha.size() != 40 || sha.find_first_not_of("0123456789abcdef") != std::string::npos) return std::nullopt;
  auto kept = ctx.views->load(repo, sha);
  if (!kept || kept->info.sha != sha) return std::nullopt;
  return std::move(*kept);
}
}  // namespace

Result<fs::RepoMount> open_repo_view(const OpenContext& ctx, const hubapi::RepoId& repo,
                                     const std::string& revision) {
  hubapi::Snapshot view;
  if (!ctx.client) {
    auto v = ctx.views->load(repo, revision);
    if (!v) return v.status();
    view = std::move(*v);
    spdlog::info("offline: {} at the kept view of commit {}", hubapi::repo_display(repo), view.info.sha);
  } else if (auto kept = kept_commit(ctx, repo, revision); kept && !kept->info.is_private) {
    // A commit's tree never changes: a full sha whose view was kept (of a repo that was public
    // then; gated repos list publicly too, their content is checked by the probe below and by the
    // Hub at every read) mounts without asking the Hub.
    view = std::move(*kept);
    spdlog::info("{}@{}: the kept view of that commit, no Hub request", hubapi::repo_display(repo), revision);
  } else {
    // Private repos always ask: the Hub decides who may list them.
    auto info = ctx.client->repo_info(repo, revision);
    Result<std::vector<hubapi::TreeEntry>> tree = Status(Errc::kCancelled, "");
    bool listed = false;
    if (info) {
      // The revision resolved to a commit seen before: its kept tree, not the Hub's pages again
      // (a million-file dataset is a thousand requests). A view already read above is not read again.
      if (!kept || kept->info.sha != info->sha) kept = kept_commit(ctx, repo, info->sha);
      if (kept) {
        tree = std::move(kept->tree);
        spdlog::info("{}@{}: commit {} seen before, its kept tree", hubapi::repo_display(repo), revision, info->sha);
      } else {
        tree = ctx.client->list_tree(repo, info->sha);
        listed = true;
      }
    }
    Status failed = !info ? info.status() : !tree ? tree.status() : Status::ok();
    if (!failed) {
      auto fallback = transient(failed.code()) ? ctx.views->load(repo, revision) : Result<hubapi::Snapshot>(failed);
      if (!fallback) return failed;
      spdlog::warn("Hub unavailable ({}); using the view of commit {} kept from an earlier mount", failed.to_string(),
                   fallback->info.sha);
      view = std::move(*fallback);
    } else {
      view = hubapi::Snapshot{repo, std::move(*info), std::move(*tree)};
      // The revision info is fresh either way (gated, private, date); the tree file is only
      // rewritten when it was listed.
      if (auto s = listed ? ctx.views->save(view, revision) : ctx.views->save_ref(repo, revision, view.info.sha); !s)
        spdlog::warn("cannot keep the view for offline use: {}", s.to_string());
    }
  }
  auto ns = fs::Namespace::build(view.tree);
  if (!ns) return Status(Errc::kInvalidInput, "the Hub sent a tree hffs refuses to mount: " + ns.status().message());
  spdlog::info("pinned {}@{} to commit {}: {} files, {} bytes", hubapi::repo_display(repo), revision, view.info.sha,
               ns->file_count(), ns->total_bytes());

  fs::RepoMount m;
  if (ctx.client)
    m.source = std::make_unique<fs::HubSource>(*ctx.client, repo, view.info.sha);
  else
    m.source = std::make_unique<fs::OfflineSource>();
  auto local = find_hf_cache_copies(ctx.hub_cache, repo, view.info.sha, *ns);
  // Gated repos show their metadata to everyone; only content needs access. Probe one byte so
  // the user learns it now, not at the first read.
  if (ctx.client && !view.info.gated.empty()) {
    for (uint64_t ino = 1; ino <= ns->inode_count(); ++ino) {
      const fs::Inode* n = ns->get(ino);
      if (n->is_dir || n->size == 0) continue;
      char b;
      if (auto s = cache::fetch_span(*m.source->open(*ns, *n), 0, std::span<char>(&b, 1)); !s) return s;
      break;
    }
  }
  fs::FsConfig fc;
  fc.uid = ctx.uid;
  fc.gid = ctx.gid;
  fc.mtime = view.info.last_modified_epoch;
  fc.repo = std::string(hubapi::repo_type_name(repo.type)) + ":" + repo.id;
  fc.revision = revision;
  fc.commit = view.info.sha;
  m.fs = std::make_unique<fs::Filesystem>(std::move(*ns), *ctx.cache, *m.source, fc, ctx.prefetch);
  for (auto& [ino, path] : local) m.fs->add_local_copy(ino, std::move(path));
  if (ctx.publish) ctx.publish->add_repo(repo, view.info.sha, revision, m.fs->ns(), ctx.cache);
  if (!local.empty())
    spdlog::info("{} files of {} served from the Hugging Face cache at {}", local.size(), hubapi::repo_display(repo),
                 ctx.hub_cache.string());
  return m;
}

}  // namespace hffs::cli
