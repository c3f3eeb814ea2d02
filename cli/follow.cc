#include "cli/follow.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "cli/repo_opener.h"

namespace hffs::cli {

namespace {
// Why a mount of `revision` never moves, or "" when it may (a branch, a pull request). A name
// could be a branch or a tag: with `ask`, the repo's tags are asked once (a mount that polls; one
// that only answers `hffs refresh` costs no request at mount, and a tag's check finds it unchanged).
std::string pinned_because(const Session& session, const hubapi::RepoId& repo, const std::string& revision, bool ask) {
  if (session.offline()) return "offline";
  if (!revision_moves(revision)) return "a commit or a tag never moves";
  if (!ask) return "";
  auto tags = session.client()->tag_names(repo);
  if (!tags) {
    spdlog::warn("{}: cannot tell whether '{}' is a tag ({}); following it", hubapi::repo_display(repo), revision,
                 tags.status().to_string());
    return "";
  }
  if (std::find(tags->begin(), tags->end(), revision) != tags->end()) return "a tag never moves";
  return "";
}
}  // namespace

std::unique_ptr<fs::Follower> make_follower(const Session& session, const hubapi::RepoId& repo,
                                            const std::string& revision, fs::Filesystem& f,
                                            fs::Follower::Forget forget, unsigned refresh_s) {
  if (std::string why = pinned_because(session, repo, revision, refresh_s > 0); !why.empty()) {
    f.set_refresh_provider([why, &f] { return "pinned " + f.commit() + " (" + why + ")"; });
    return nullptr;
  }
  auto check = [&session, repo, revision](const std::string& current) {
    return next_view(session.context(), repo, revision, current);
  };
  auto fol = std::make_unique<fs::Follower>(f, hubapi::repo_display(repo) + "@" + revision, std::move(check),
                                            std::move(forget), std::chrono::seconds(refresh_s));
  f.set_refresh_provider([p = fol.get()] { return p->check_now(); });
  return fol;
}

}  // namespace hffs::cli
