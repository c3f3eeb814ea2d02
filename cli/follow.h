// --refresh: the Follower of a mounted repo (fs/follower.h) checking the Hub through the
// session's client, and the root's user.hffs.refresh attribute that `hffs refresh` reads.
#pragma once
#include <memory>
#include <string>

#include "cli/session.h"
#include "fs/filesystem.h"
#include "fs/follower.h"
#include "hubapi/types.h"

namespace hffs::cli {

// A Follower checking every `refresh_s` seconds (0: only when `hffs refresh` asks), or null when
// `revision` cannot move (a commit sha, refs/tags/..., with refresh_s > 0 a name the repo's tags
// list) or the mount is offline: then user.hffs.refresh answers "pinned ...". `session` must
// outlive the Follower.
std::unique_ptr<fs::Follower> make_follower(const Session& session, const hubapi::RepoId& repo,
                                            const std::string& revision, fs::Filesystem& f,
                                            fs::Follower::Forget forget, unsigned refresh_s);

}  // namespace hffs::cli
