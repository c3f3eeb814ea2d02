#include "cli/fstab.h"

#include <algorithm>
#include <array>
#include <sstream>

namespace hffs::cli {

namespace {

// Options mount(8) and systemd pass along that mean nothing to a read-only FUSE view.
bool ignored_generic(const std::string& o) {
  static const std::array<const char*, 22> kIgnored = {
      "defaults", "ro",      "rw",       "auto",  "noauto",   "nofail", "_netdev", "user",
      "users",    "nouser",  "owner",    "group", "nosuid",   "suid",   "nodev",   "dev",
      "noexec",   "exec",    "relatime", "noatime", "nodiratime", "async"};
  if (std::find(kIgnored.begin(), kIgnored.end(), o) != kIgnored.end()) return true;
  return o.rfind("x-", 0) == 0 || o.rfind("comment=", 0) == 0;
}

bool fuse_passthrough(const std::string& o) {
  return o == "allow_other" || o == "allow_root" || o == "default_permissions" || o == "auto_unmount" ||
         o.rfind("max_read=", 0) == 0;
}

}  // namespace

bool is_mount_helper_name(const std::string& argv0) {
  auto slash = argv0.rfind('/');
  std::string base = slash == std::string::npos ? argv0 : argv0.substr(slash + 1);
  return base == "mount.hffs" || base == "mount.fuse.hffs";
}

Result<MountArgs> parse_mount_helper_args(const std::vector<std::string>& args, bool* fake) {
  MountArgs m;
  std::vector<std::string> positional;
  std::string opts;
  bool sloppy = false;
  *fake = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-o") {
      if (i + 1 >= args.size()) return Status(Errc::kInvalidInput, "-o needs a value");
      if (!opts.empty()) opts += ",";
      opts += args[++i];
    } else if (a.rfind("-o", 0) == 0 && a.size() > 2) {
      if (!opts.empty()) opts += ",";
      opts += a.substr(2);
    } else if (a == "-s") {
      sloppy = true;
    } else if (a == "-f") {
      *fake = true;
    } else if (a == "-n" || a == "-v") {
      // no mtab to write; verbosity is the log level's job
    } else if (a == "-t" || a == "-N") {
      ++i;  // type / namespace: not ours to use
    } else if (!a.empty() && a[0] == '-') {
      return Status(Errc::kInvalidInput, "unknown mount helper flag '" + a + "'");
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2)
    return Status(Errc::kInvalidInput, "usage: mount.hffs REPO MOUNTPOINT [-o OPTIONS]");
  m.repo = positional[0];
  // mount.fuse style "hffs#org/name" sources are accepted too.
  if (auto hash = m.repo.find('#'); hash != std::string::npos) m.repo = m.repo.substr(hash + 1);
  m.mountpoint = positional[1];

  std::stringstream ss(opts);
  std::string o;
  while (std::getline(ss, o, ',')) {
    if (o.empty() || ignored_generic(o)) continue;
    auto eq = o.find('=');
    std::string key = o.substr(0, eq), val = eq == std::string::npos ? "" : o.substr(eq + 1);
    bool has_val = eq != std::string::npos && !val.empty();
    auto need = [&]() -> Status {
      return has_val ? Status::ok() : Status(Errc::kInvalidInput, "mount option '" + key + "' needs a value");
    };
    if (fuse_passthrough(o)) {
      m.fuse_options.push_back(o);
    } else if (key == "revision" || key == "rev") {
      if (auto s = need(); !s) return s;
      m.revision = val;
    } else if (key == "repo_type" || key == "type") {
      if (auto s = need(); !s) return s;
      m.repo_type = val;
    } else if (key == "endpoint") {
      if (auto s = need(); !s) return s;
      m.endpoint = val;
    } else if (key == "token_file") {
      if (auto s = need(); !s) return s;
      m.token_file = val;
    } else if (key == "cache_dir") {
      if (auto s = need(); !s) return s;
      m.cache_dir = val;
    } else if (key == "cache_size") {
      if (auto s = need(); !s) return s;
      m.cache_size = val;
    } else if (key == "cache_min_free") {
      if (auto s = need(); !s) return s;
      m.cache_min_free = val;
    } else if (key == "ca_file") {
      if (auto s = need(); !s) return s;
      m.ca_file = val;
    } else if (key == "log_level") {
      if (auto s = need(); !s) return s;
      m.log_level = val;
    } else if (key == "log_file") {
      if (auto s = need(); !s) return s;
      m.log_file = val;
    } else if (key == "metrics_file") {
      if (auto s = need(); !s) return s;
      m.metrics_file = val;
    } else if (key == "deadline") {
      if (auto s = need(); !s) return s;
      m.op_deadline_s = std::atof(val.c_str());
      if (m.op_deadline_s <= 0) return Status(Errc::kInvalidInput, "deadline must be a positive number of seconds");
    } else if (key == "hub" && !has_val) {
      m.hub = true;  // fstab: "hub /mnt/hf fuse.hffs ro,allow_other,hub 0 0" (the source is ignored)
    } else if (key == "offline" && !has_val) {
      m.offline = true;
    } else if (key == "no_prefetch" && !has_val) {
      m.no_prefetch = true;
    } else if (key == "publish_hf_cache" && !has_val) {
      m.publish_hf_cache = true;
    } else if (!sloppy) {
      return Status(Errc::kInvalidInput,
                    "unknown mount option '" + o +
                        "' (hffs takes revision=, repo_type=, endpoint=, token_file=, cache_dir=, cache_size=, cache_min_free=, ca_file=, "
                        "log_level=, log_file=, metrics_file=, deadline=, hub, offline, no_prefetch, publish_hf_cache, allow_other, allow_root, "
                        "default_permissions, auto_unmount)");
    }
  }
  if (m.hub) m.repo.clear();
  return m;
}

}  // namespace hffs::cli
