#include "cli/repo_opener.h"

#include <spdlog/spdlog.h>

#include <functional>
#include <optional>
#include <string_view>

#include "cli/hf_cache.h"
#include "fs/hub_source.h"

namespace hffs::cli {

namespace {
// A repo whose recursive listing takes more pages than this (16,000 entries at the Hub's 1000 a
// page) is listed lazily, one directory when it is first visited: its mount then costs a few
// requests, not one per thousand files.
constexpr int kEagerPages = 16;

bool transient(Errc c) {
  return c == Errc::kNetwork || c == Errc::kTimeout || c == Errc::kServer || c == Errc::kRateLimited;
}

bool is_commit_sha(std::string_view rev) {
  return rev.size() == 40 && rev.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// The kept view of the commit `sha`, if any (`sha` a full commit sha, or nothing is looked up).
std::optional<hubapi::Snapshot> kept_commit(const OpenContext& ctx, const hubapi::RepoId& repo, const std::string& sha) {
  if (!is_commit_sha(sha)) return std::nullopt;
  auto kept = ctx.views->load(repo, sha);
  if (!kept || kept->info.sha != sha) return std::nullopt;
  return std::move(*kept);
}

fs::Namespace::Lister lister_of(hubapi::HubClient* client, const hubapi::RepoId& repo, const std::string& sha) {
  return [client, repo, sha](const std::string& dir) -> Result<std::vector<hubapi::TreeEntry>> {
    auto r = client->list_tree(repo, sha, hubapi::ListRequest{dir, false, 0});
    if (!r) return r.status();
    return std::move(r->entries);
  };
}

std::string what_of(const hubapi::RepoId& repo, const std::string& sha) {
  return std::string(hubapi::repo_type_name(repo.type)) + " '" + repo.id + "' at commit " + sha.substr(0, 12);
}

// A partial view's tree from entries with repo paths (a whole listing, or its subfolder's).
Result<fs::Namespace> build_view(const PartialView& v, const std::vector<hubapi::TreeEntry>& entries,
                                 const std::string& what) {
  auto cut = cut_view(entries, v, what);
  if (!cut) return cut.status();
  auto ns = fs::Namespace::build(*cut);
  if (!ns) return Status(Errc::kInvalidInput, "the Hub sent a tree hffs refuses to mount: " + ns.status().message());
  ns->set_root_path(v.subfolder);
  return ns;
}

// Every file of a complete tree as entries with repo paths (a kept image, cut for a partial view).
std::vector<hubapi::TreeEntry> entries_of(const fs::Namespace& ns) {
  std::vector<hubapi::TreeEntry> out;
  out.reserve(ns.file_count());
  for (uint64_t ino = 1; ino <= ns.inode_count(); ++ino) {
    const fs::Inode* n = ns.get(ino);
    if (n->is_dir) continue;
    hubapi::TreeEntry e;
    e.path = ns.path_of(*n);
    e.size = n->size;
    if (n->lfs) e.lfs_sha256 = ns.key_hex(*n);
    else e.oid = ns.key_hex(*n);
    out.push_back(std::move(e));
  }
  return out;
}

// The tree of a kept view: its image (a lazy mount's, as far as it was listed; the rest is listed
// when visited, if there is a client) or its entries.
Result<fs::Namespace> tree_of_kept(const OpenContext& ctx, hubapi::Snapshot& kept) {
  auto img = ctx.views->load_image(kept.repo, kept.info.sha);
  const std::string what = what_of(kept.repo, kept.info.sha);
  if (img && !ctx.view.whole()) {
    // Which folders hold a match, or the whole of a subfolder, is known only from a whole tree.
    if (img->complete()) return build_view(ctx.view, entries_of(*img), what);
    // A filtered mount of the whole repo keeps its whole listing beside a lazy mount's image.
    if (!kept.tree_in_image) return build_view(ctx.view, kept.tree, what);
    return Status(Errc::kOffline, "only the folders visited by earlier mounts of " + what +
                                      " were kept: a subfolder or filtered view of it needs the Hub");
  }
  if (img) {
    if (!img->complete()) {
      if (!ctx.client) spdlog::info("offline: only the directories listed before can be shown");
      else img->set_lister(lister_of(ctx.client, kept.repo, kept.info.sha));
    }
    return img;
  }
  if (kept.tree_in_image) {
    if (img.status().code() != Errc::kEntryNotFound) spdlog::warn("{}", img.status().to_string());
    return Status(Errc::kOffline, "the kept tree of commit " + kept.info.sha + " is gone");
  }
  if (!ctx.view.whole()) return build_view(ctx.view, kept.tree, what);
  return fs::Namespace::build(kept.tree);
}
// As tree_of_kept, nullopt when it fails. A partial view whose folder or matches are not in the
// kept whole tree is final (a commit never changes): that failure goes to `*final_status`.
std::optional<fs::Namespace> kept_tree(const OpenContext& ctx, hubapi::Snapshot& kept, Status* final_status) {
  auto t = tree_of_kept(ctx, kept);
  if (!t) {
    if (t.status().code() == Errc::kEntryNotFound) *final_status = t.status();
    return std::nullopt;
  }
  return std::move(*t);
}

// Lists the commit: whole (a few pages) or lazily. `lazy` says which it became.
Result<fs::Namespace> list_commit(const OpenContext& ctx, const hubapi::RepoId& repo, const std::string& sha,
                                  std::vector<hubapi::TreeEntry>& whole, bool& lazy) {
  lazy = false;
  auto first = ctx.client->list_tree(repo, sha, hubapi::ListRequest{"", true, ctx.lazy_listing ? kEagerPages : 0});
  if (!first) return first.status();
  if (first->complete) {
    whole = std::move(first->entries);
    auto ns = fs::Namespace::build(whole);
    if (!ns) return Status(Errc::kInvalidInput, "the Hub sent a tree hffs refuses to mount: " + ns.status().message());
    return ns;
  }
  first->entries = {};
  auto root = ctx.client->list_tree(repo, sha, hubapi::ListRequest{"", false, 0});
  if (!root) return root.status();
  lazy = true;
  spdlog::info("{}: more than {} pages of files; directories are listed when first visited",
               hubapi::repo_display(repo), kEagerPages);
  return fs::Namespace::lazy(root->entries, lister_of(ctx.client, repo, sha));
}

// A partial view listed from the Hub. A filter needs every path below the subfolder (which folders
// hold a match is known only then), so that subtree is listed whole; a subfolder alone of a huge
// repo is listed lazily, as a whole repo is, from that folder down. `whole` gets the listing when
// it is the whole repo's (kept as the commit's view); a subfolder's listing is not kept.
Result<fs::Namespace> list_view(const OpenContext& ctx, const hubapi::RepoId& repo, const std::string& sha,
                                std::vector<hubapi::TreeEntry>& whole, bool& lazy) {
  lazy = false;
  const PartialView& v = ctx.view;
  const std::string what = what_of(repo, sha);
  const bool paged = v.filter.empty() && ctx.lazy_listing;
  auto first = ctx.client->list_tree(repo, sha, hubapi::ListRequest{v.subfolder, true, paged ? kEagerPages : 0});
  if (!first) {
    if (first.status().code() == Errc::kEntryNotFound)
      return Status(Errc::kEntryNotFound, "subfolder '" + v.subfolder + "' not found in " + what);
    return first.status();
  }
  if (first->complete) {
    auto ns = build_view(v, first->entries, what);
    if (ns && v.subfolder.empty()) whole = std::move(first->entries);
    return ns;
  }
  first->entries = {};
  auto root = ctx.client->list_tree(repo, sha, hubapi::ListRequest{v.subfolder, false, 0});
  if (!root) return root.status();
  lazy = true;
  spdlog::info("{}/{}: more than {} pages of files; directories are listed when first visited",
               hubapi::repo_display(repo), v.subfolder, kEagerPages);
  return fs::Namespace::lazy(root->entries, lister_of(ctx.client, repo, sha), v.subfolder);
}

// The commit listed from the Hub for the mount's view: whole, or cut to its partial view.
Result<fs::Namespace> list_for_view(const OpenContext& ctx, const hubapi::RepoId& repo, const std::string& sha,
                                    std::vector<hubapi::TreeEntry>& whole, bool& lazy) {
  return ctx.view.whole() ? list_commit(ctx, repo, sha, whole, lazy) : list_view(ctx, repo, sha, whole, lazy);
}

// Keeps `view` for offline use under `revision`: its tree when it was `listed` just now, else only
// the name -> commit reference (the revision info is fresh either way: gated, private, date). A
// partial view's own listing (a subfolder's) is not the commit's tree and is not kept; a filter
// over the whole repo listed it whole, and that one is.
void keep_view(const OpenContext& ctx, const hubapi::Snapshot& view, const std::string& revision, bool listed) {
  const bool partial_listing = listed && !ctx.view.whole() && view.tree.empty();
  Status s = partial_listing ? Status::ok()
             : listed        ? ctx.views->save(view, revision)
                             : ctx.views->save_ref(view.repo, revision, view.info.sha);
  if (!s) spdlog::warn("cannot keep the view for offline use: {}", s.to_string());
}

// A tree that can still grow, or one just listed lazily, is kept as an image at unmount: a new one
// always (even if nothing beyond the root was visited), one read from an image when it grew. Never
// a partial view's (Namespace::save_image refuses a subfolder's; a filtered one is complete).
std::function<void(const fs::Namespace&)> image_keeper(const OpenContext& ctx, const hubapi::RepoId& repo,
                                                       const std::string& sha, const fs::Namespace& tree, bool lazy) {
  if (!ctx.views || !ctx.view.whole() || !(lazy || !tree.complete())) return {};
  return [store = *ctx.views, repo, sha, loaded = lazy ? 0 : tree.inode_count()](const fs::Namespace& t) mutable {
    if (t.inode_count() <= loaded) return;
    if (auto s = store.save_image(repo, sha, t); !s) spdlog::warn("cannot keep the listed tree: {}", s.to_string());
  };
}
}  // namespace

Result<fs::RepoMount> open_repo_view(const OpenContext& ctx, const hubapi::RepoId& repo,
                                     const std::string& revision) {
  hubapi::Snapshot view;
  std::optional<fs::Namespace> tree;
  bool lazy = false;  // listed lazily just now: no image of it yet
  Status gone;        // a partial view's folder or matches are not in the commit's kept tree
  if (!ctx.client) {
    auto v = ctx.views->load(repo, revision);
    if (!v) return v.status();
    view = std::move(*v);
    auto t = tree_of_kept(ctx, view);
    if (!t) return t.status();
    tree = std::move(*t);
    spdlog::info("offline: {} at the kept view of commit {}", hubapi::repo_display(repo), view.info.sha);
  } else if (auto kept = kept_commit(ctx, repo, revision);
             kept && !kept->info.is_private && (tree = kept_tree(ctx, *kept, &gone))) {
    // A commit's tree never changes: a full sha whose view was kept (of a repo that was public
    // then; gated repos list publicly too, their content is checked by the probe below and by the
    // Hub at every read) mounts without asking the Hub.
    view = std::move(*kept);
    spdlog::info("{}@{}: the kept view of that commit, no Hub request", hubapi::repo_display(repo), revision);
  } else {
    if (!gone) return gone;
    // Private repos always ask: the Hub decides who may list them.
    auto info = ctx.client->repo_info(repo, revision);
    Status failed = info ? Status::ok() : info.status();
    std::vector<hubapi::TreeEntry> whole;
    bool listed = false;
    if (info) {
      // The revision resolved to a commit seen before: its kept tree, not the Hub's pages again
      // (a million-file dataset is a thousand requests). A view already read above is not read again.
      if (!kept || kept->info.sha != info->sha) kept = kept_commit(ctx, repo, info->sha);
      if (kept && (tree = kept_tree(ctx, *kept, &gone)))
        spdlog::info("{}@{}: commit {} seen before, its kept tree", hubapi::repo_display(repo), revision, info->sha);
      if (!gone) return gone;
      if (!tree) {
        auto t = list_for_view(ctx, repo, info->sha, whole, lazy);
        if (t) tree = std::move(*t);
        else failed = t.status();
        listed = true;
      }
    }
    if (!failed) {
      auto fallback = transient(failed.code()) ? ctx.views->load(repo, revision) : Result<hubapi::Snapshot>(failed);
      if (!fallback) return failed;
      auto t = tree_of_kept(ctx, *fallback);
      if (!t) return failed;
      spdlog::warn("Hub unavailable ({}); using the view of commit {} kept from an earlier mount", failed.to_string(),
                   fallback->info.sha);
      view = std::move(*fallback);
      tree = std::move(*t);
    } else {
      view = hubapi::Snapshot{repo, std::move(*info), std::move(whole)};
      view.tree_in_image = lazy;
      keep_view(ctx, view, revision, listed);
      view.tree.clear();
      view.tree.shrink_to_fit();
    }
  }
  auto ns = std::move(tree);
  spdlog::info("pinned {}@{} to commit {}: {} files, {} bytes{}{}", hubapi::repo_display(repo), revision,
               view.info.sha, ns->file_count(), ns->total_bytes(), ns->complete() ? "" : " so far (listed as visited)",
               ctx.view.whole() ? "" : " in the view " + ctx.view.describe());
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
  fc.subfolder = ctx.view.subfolder;
  fc.include = ctx.view.filter.include;
  fc.exclude = ctx.view.filter.exclude;
  // What a lazy mount listed is kept for the next mount of this commit (offline too).
  fc.on_close = image_keeper(ctx, repo, view.info.sha, *ns, lazy);
  m.fs = std::make_unique<fs::Filesystem>(std::move(*ns), *ctx.cache, *m.source, fc, ctx.prefetch);
  for (auto& [ino, path] : local) m.fs->add_local_copy(ino, std::move(path));
  if (ctx.publish) ctx.publish->add_repo(repo, view.info.sha, revision, m.fs->ns(), ctx.cache);
  if (!local.empty())
    spdlog::info("{} files of {} served from the Hugging Face cache at {}", local.size(), hubapi::repo_display(repo),
                 ctx.hub_cache.string());
  return m;
}

Result<std::optional<fs::ViewSpec>> next_view(const OpenContext& ctx, const hubapi::RepoId& repo,
                                              const std::string& revision, const std::string& current) {
  if (!ctx.client) return Status(Errc::kOffline, "offline: the revision cannot be checked");
  auto info = ctx.client->repo_info(repo, revision);
  if (!info) return info.status();
  if (info->sha == current) return std::optional<fs::ViewSpec>();
  hubapi::Snapshot view{repo, std::move(*info), {}};
  std::optional<fs::Namespace> tree;
  bool lazy = false;
  // A partial view follows as itself: the new commit is cut to the same folder and globs. A folder
  // or matches gone from the new commit fail the check, so the mount keeps its current view.
  Status gone;
  if (auto kept = kept_commit(ctx, repo, view.info.sha)) tree = kept_tree(ctx, *kept, &gone);
  if (!gone) return gone;
  const bool listed = !tree;
  if (listed) {
    auto t = list_for_view(ctx, repo, view.info.sha, view.tree, lazy);
    if (!t) return t.status();
    tree = std::move(*t);
    view.tree_in_image = lazy;
  }
  keep_view(ctx, view, revision, listed);
  view.tree.clear();
  view.tree.shrink_to_fit();
  fs::ViewSpec spec;
  spec.commit = view.info.sha;
  spec.mtime = view.info.last_modified_epoch;
  spec.source = std::make_unique<fs::HubSource>(*ctx.client, repo, view.info.sha);
  spec.on_close = image_keeper(ctx, repo, view.info.sha, *tree, lazy);
  if (ctx.publish) ctx.publish->add_repo(repo, view.info.sha, revision, *tree, ctx.cache);
  spec.ns = std::move(*tree);
  return std::optional<fs::ViewSpec>(std::move(spec));
}

bool revision_moves(std::string_view revision) {
  return !is_commit_sha(revision) && !revision.starts_with("refs/tags/");
}

}  // namespace hffs::cli
