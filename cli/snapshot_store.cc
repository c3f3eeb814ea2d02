#include "cli/snapshot_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "cache/cache_dir.h"
#include "common/fd.h"

namespace hffs::cli {

namespace fsys = std::filesystem;

std::string repo_folder_name(const hubapi::RepoId& repo) {
  std::string out = std::string(hubapi::repo_type_plural(repo.type)) + "--";
  for (char c : repo.id) {
    if (c == '/')
      out += "--";
    else
      out.push_back(c);
  }
  return out;
}

namespace {
// Views hold the trees of private repos: their directories and files get the cache's modes
// (cache::cache_dir_mode / cache_file_mode), like the block cache beside them.
Status make_dirs(const fsys::path& views, const fsys::path& p) {
  std::error_code ec;
  // The cache directory itself too gets the cache's mode (it may have been removed meanwhile).
  fsys::path d = views.parent_path().parent_path();
  if (d.empty()) d = ".";
  fsys::create_directories(d, ec);
  for (const auto& part : p.parent_path().lexically_relative(d)) {
    d /= part;
    if (int err = cache::make_cache_dir(d); err != 0)
      return Status(Errc::kIo, "cannot create " + d.string() + ": " + std::strerror(err));
  }
  return Status::ok();
}

Status write_atomic(const fsys::path& views, const fsys::path& p, const std::string& data) {
  std::error_code ec;
  if (Status s = make_dirs(views, p); !s) return s;
  fsys::path tmp = p;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(std::random_device{}());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, cache::cache_file_mode()));
  if (!fd) return Status(Errc::kIo, "cannot create " + tmp.string() + ": " + std::strerror(errno));
  cache::share_new_file(fd.get());
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  if (!close_checked(fd) || done != data.size()) {
    fsys::remove(tmp, ec);
    return Status(Errc::kNoSpace, "cannot write " + tmp.string());
  }
  fsys::rename(tmp, p, ec);
  if (ec) {
    fsys::remove(tmp, ec);
    return Status(Errc::kIo, "cannot rename into " + p.string());
  }
  return Status::ok();
}

std::string read_all(const fsys::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool is_hex(const std::string& s) { return s.find_first_not_of("0123456789abcdef") == std::string::npos; }
}  // namespace

fsys::path SnapshotStore::repo_dir(const hubapi::RepoId& repo) const { return root_ / repo_folder_name(repo); }

Status SnapshotStore::save(const hubapi::Snapshot& s, const std::string& revision) {
  auto dir = repo_dir(s.repo);
  if (auto st = write_atomic(root_, dir / "commits" / (s.info.sha + ".json"), hubapi::serialize_snapshot(s)); !st)
    return st;
  return save_ref(s.repo, revision, s.info.sha);
}

Status SnapshotStore::save_ref(const hubapi::RepoId& repo, const std::string& revision, const std::string& sha) {
  if (revision == sha) return Status::ok();
  if (revision.find("..") != std::string::npos) return Status(Errc::kInvalidInput, "bad revision name");
  return write_atomic(root_, repo_dir(repo) / "refs" / revision, sha);
}

Status SnapshotStore::save_image(const hubapi::RepoId& repo, const std::string& sha, const fs::Namespace& ns) {
  if (sha.size() != 40 || !is_hex(sha)) return Status(Errc::kInvalidInput, "bad commit sha");
  const fsys::path p = repo_dir(repo) / "commits" / (sha + ".tree");
  if (Status s = make_dirs(root_, p); !s) return s;
  if (Status s = ns.save_image(p.string()); !s) return s;
  UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd) {
    ::fchmod(fd.get(), cache::cache_file_mode());
    cache::share_new_file(fd.get());
  }
  return Status::ok();
}

Result<fs::Namespace> SnapshotStore::load_image(const hubapi::RepoId& repo, const std::string& sha) const {
  if (sha.size() != 40 || !is_hex(sha)) return Status(Errc::kInvalidInput, "bad commit sha");
  return fs::Namespace::load_image((repo_dir(repo) / "commits" / (sha + ".tree")).string());
}

Result<hubapi::Snapshot> SnapshotStore::load(const hubapi::RepoId& repo, const std::string& revision) const {
  auto dir = repo_dir(repo);
  std::string sha;
  std::error_code ec;
  if (revision.find("..") == std::string::npos && fsys::is_regular_file(dir / "refs" / revision, ec)) {
    sha = read_all(dir / "refs" / revision);
  } else if (revision.size() >= 5 && revision.size() <= 40 && is_hex(revision)) {
    // A full or short sha seen before.
    for (const auto& e : fsys::directory_iterator(dir / "commits", ec)) {
      auto name = e.path().stem().string();
      if (name.rfind(revision, 0) == 0) {
        if (!sha.empty() && sha != name) return Status(Errc::kRevisionNotFound, "ambiguous short sha " + revision);
        sha = name;
      }
    }
  }
  if (sha.empty())
    return Status(Errc::kOffline, "offline and revision '" + revision + "' of " + repo.id +
                                      " was never mounted on this machine (mount it once online)");
  // A ref file names a commit: 40 hex, nothing that could lead out of commits/.
  if (sha.size() != 40 || !is_hex(sha))
    return Status(Errc::kOffline, "offline and the kept ref '" + revision + "' of " + repo.id + " is damaged");
  auto text = read_all(dir / "commits" / (sha + ".json"));
  if (text.empty()) return Status(Errc::kOffline, "offline and the view of commit " + sha + " is missing");
  auto snap = hubapi::parse_snapshot(text);
  if (snap && snap->info.sha != sha)
    return Status(Errc::kOffline, "offline and the kept view of commit " + sha + " holds another commit");
  return snap;
}

}  // namespace hffs::cli
