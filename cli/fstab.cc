#include "cli/fstab.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "cli/hub_setup.h"
#include "cli/mount_options.h"

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

// key=value options, each with the field it sets (aliases share a field). A list field takes the
// key repeated, in order ("endpoint=A,endpoint=B": the options field is comma-separated itself).
using Str = std::string MountArgs::*;
using OptStr = std::optional<std::string> MountArgs::*;
using List = std::vector<std::string> MountArgs::*;
struct ValueOpt {
  const char* key;
  Str str;
  OptStr opt;
  List list;
};
const ValueOpt kValues[] = {
    {"revision", &MountArgs::revision, nullptr, nullptr},
    {"rev", &MountArgs::revision, nullptr, nullptr},
    {"repo_type", nullptr, &MountArgs::repo_type, nullptr},
    {"type", nullptr, &MountArgs::repo_type, nullptr},
    {"endpoint", nullptr, nullptr, &MountArgs::endpoint},
    {"no_token_endpoint", nullptr, nullptr, &MountArgs::no_token_endpoint},
    {"token_file", nullptr, &MountArgs::token_file, nullptr},
    {"cache_dir", nullptr, &MountArgs::cache_dir, nullptr},
    {"cache_size", nullptr, &MountArgs::cache_size, nullptr},
    {"cache_min_free", nullptr, &MountArgs::cache_min_free, nullptr},
    {"ca_file", nullptr, &MountArgs::ca_file, nullptr},
    {"cache_group", nullptr, &MountArgs::cache_group, nullptr},
    {"log_level", &MountArgs::log_level, nullptr, nullptr},
    {"log_file", nullptr, &MountArgs::log_file, nullptr},
    {"metrics_file", nullptr, &MountArgs::metrics_file, nullptr},
    {"verify", &MountArgs::verify, nullptr, nullptr},
    {"verify_whole_max", nullptr, &MountArgs::verify_whole_max, nullptr},
    {"subfolder", nullptr, &MountArgs::subfolder, nullptr},
    {"include", nullptr, nullptr, &MountArgs::include},
    {"exclude", nullptr, nullptr, &MountArgs::exclude},
};
// Seconds, bounded as make_hub_config bounds them (cli/hub_setup.h); above 0 in any case.
struct SecondsOpt {
  const char* key;
  double MountArgs::*field;
  double min, max;
};
const SecondsOpt kSeconds[] = {
    {"deadline", &MountArgs::op_deadline_s, 0, 7 * 86400.0},
    {"endpoint_backoff", &MountArgs::endpoint_backoff_s, kEndpointBackoffMin, kEndpointBackoffMax},
    {"stall_timeout", &MountArgs::stall_timeout_s, kStallTimeoutMin, kStallTimeoutMax},
};
// Whole numbers, bounded as on the command line (cli/mount_options.h).
struct UintOpt {
  const char* key;
  unsigned MountArgs::*field;
  UintBounds bounds;
};
const UintOpt kUints[] = {
    {"idle_release", &MountArgs::idle_release_s, kIdleReleaseBounds},
    {"refresh", &MountArgs::refresh_s, kRefreshBounds},
    {"part_size", &MountArgs::part_mib, kPartSizeBounds},
    {"max_inflight", &MountArgs::max_inflight_mib, kMaxInflightBounds},
    {"read_ahead_kb", &MountArgs::read_ahead_kb, kReadAheadKbBounds},
};
// Flags without a value. "hub": fstab "hub /mnt/hf fuse.hffs ro,allow_other,hub 0 0" (source ignored).
const std::pair<const char*, bool MountArgs::*> kFlags[] = {
    {"hub", &MountArgs::hub},
    {"offline", &MountArgs::offline},
    {"no_prefetch", &MountArgs::no_prefetch},
    {"no_passthrough", &MountArgs::no_passthrough},
    {"full_listing", &MountArgs::full_listing},
    {"publish_hf_cache", &MountArgs::publish_hf_cache},
    {"allow_http_redirect", &MountArgs::allow_http_redirect},
};

std::string seconds_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

Status parse_seconds(const SecondsOpt& o, const std::string& val, MountArgs& m) {
  char* end = nullptr;
  double v = std::strtod(val.c_str(), &end);
  // !(v > 0) also refuses "nan"; "inf" / "1e999" are above any bound.
  if (end != val.c_str() + val.size() || !(v > 0) || v < o.min || v > o.max)
    return Status(Errc::kInvalidInput, std::string(o.key) + " must be a number of seconds " +
                                           (o.min > 0 ? "from " + seconds_text(o.min) + " to " : std::string("above 0, up to ")) +
                                           seconds_text(o.max) + ", not '" + val + "'");
  m.*(o.field) = v;
  return Status::ok();
}

Status parse_uint(const UintOpt& u, const std::string& val, MountArgs& m) {
  unsigned long long v = 0;
  auto [end, ec] = std::from_chars(val.data(), val.data() + val.size(), v);
  if (ec != std::errc() || end != val.data() + val.size() || v < u.bounds.min || v > u.bounds.max)
    return Status(Errc::kInvalidInput, std::string(u.key) + " must be a whole number from " +
                                           std::to_string(u.bounds.min) + " to " + std::to_string(u.bounds.max) +
                                           ", not '" + val + "'");
  m.*(u.field) = static_cast<unsigned>(v);
  return Status::ok();
}

// One hffs option "key" or "key=value" of an fstab line into `m`; `known` tells whether hffs
// takes such a key at all.
Status apply_option(const std::string& o, MountArgs& m, bool* known) {
  auto eq = o.find('=');
  std::string key = o.substr(0, eq), val = eq == std::string::npos ? "" : o.substr(eq + 1);
  bool has_val = eq != std::string::npos && !val.empty();
  *known = false;
  for (const auto& v : kValues) {
    if (key != v.key) continue;
    *known = true;
    if (!has_val) return Status(Errc::kInvalidInput, "mount option '" + key + "' needs a value");
    if (v.str) {
      m.*(v.str) = val;
    } else if (v.opt) {
      m.*(v.opt) = val;
    } else {
      (m.*(v.list)).push_back(val);
    }
  }
  for (const auto& sec : kSeconds) {
    if (key != sec.key) continue;
    *known = true;
    if (!has_val) return Status(Errc::kInvalidInput, "mount option '" + key + "' needs a value");
    if (auto st = parse_seconds(sec, val, m); !st) return st;
  }
  for (const auto& u : kUints) {
    if (key != u.key) continue;
    *known = true;
    if (!has_val) return Status(Errc::kInvalidInput, "mount option '" + key + "' needs a value");
    if (auto st = parse_uint(u, val, m); !st) return st;
  }
  for (const auto& [k, field] : kFlags) {
    if (key == k && eq == std::string::npos) {
      m.*field = true;
      *known = true;
    }
  }
  return Status::ok();
}

}  // namespace

std::vector<FstabOption> fstab_options() {
  std::vector<FstabOption> out;
  for (const auto& v : kValues) {
    FstabOption o{v.key, true, v.list != nullptr};
    for (const auto& first : kValues) {  // an alias sets the field of an earlier key
      if (&first == &v) break;
      if (first.str == v.str && first.opt == v.opt && first.list == v.list) {
        o.alias_of = first.key;
        break;
      }
    }
    out.push_back(o);
  }
  for (const auto& sec : kSeconds) out.push_back({sec.key, true});
  for (const auto& u : kUints) out.push_back({u.key, true});
  for (const auto& [k, _] : kFlags) out.push_back({k, false});
  return out;
}

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

  auto accepted = [] {
    std::string list;
    for (const auto& o : fstab_options()) list += std::string(list.empty() ? "" : ", ") + o.key + (o.value ? "=" : "");
    return list + ", allow_other, allow_root, default_permissions, auto_unmount";
  };

  std::stringstream ss(opts);
  std::string o;
  while (std::getline(ss, o, ',')) {
    if (o.empty() || ignored_generic(o)) continue;
    if (fuse_passthrough(o)) {
      m.fuse_options.push_back(o);
      continue;
    }
    bool known = false;
    if (auto st = apply_option(o, m, &known); !st) return st;
    if (!known && !sloppy)
      return Status(Errc::kInvalidInput, "unknown mount option '" + o + "' (hffs takes " + accepted() + ")");
  }
  if (m.hub) m.repo.clear();
  return m;
}

}  // namespace hffs::cli
