#include "cli/snapshot_store.h"

#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>

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
Status write_atomic(const fsys::path& p, const std::string& data) {
  std::error_code ec;
  fsys::create_directories(p.parent_path(), ec);
  if (ec) return Status(Errc::kIo, "cannot create " + p.parent_path().string() + ": " + ec.message());
  fsys::path tmp = p;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(std::random_device{}());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << data;
    f.flush();
    if (!f) {
      fsys::remove(tmp, ec);
      return Status(Errc::kNoSpace, "cannot write " + tmp.string());
    }
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
  if (auto st = write_atomic(dir / "commits" / (s.info.sha + ".json"), hubapi::serialize_snapshot(s)); !st) return st;
  if (revision != s.info.sha) {
    if (revision.find("..") != std::string::npos) return Status(Errc::kInvalidInput, "bad revision name");
    return write_atomic(dir / "refs" / revision, s.info.sha);
  }
  return Status::ok();
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
  auto text = read_all(dir / "commits" / (sha + ".json"));
  if (text.empty()) return Status(Errc::kOffline, "offline and the view of commit " + sha + " is missing");
  return hubapi::parse_snapshot(text);
}

}  // namespace hffs::cli
