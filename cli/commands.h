// Subcommands of the hffs binary. Each returns the process exit code (cli/exit_codes.h, README
// "Exit codes").
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "cli/exit_codes.h"

namespace hffs::cli {

// What `mount` and `prefetch` take alike: which revision, and how to reach the Hub (registered
// once for both by add_hub_options, cli/mount_options.h). The fstab form of each is in cli/fstab.cc.
struct HubArgs {
  std::string revision = "main";
  std::optional<std::string> repo_type;
  std::vector<std::string> endpoint;           // repeatable, first = preferred (README "Mirrors and failover")
  std::vector<std::string> no_token_endpoint;  // endpoints of that list never sent the token
  double endpoint_backoff_s = 2;               // a failed endpoint is put aside this long, then probed
  double stall_timeout_s = 15;                 // no byte for this long: the transfer is abandoned
  std::optional<std::string> token;
  std::optional<std::string> token_file;  // read at mount (fstab: a root-only file)
  std::optional<std::string> ca_file;
  double op_deadline_s = 60;
  bool allow_http_redirect = false;  // follow https -> http redirects (an http-only mirror)

  bool operator==(const HubArgs&) const = default;
};

struct MountArgs : HubArgs {
  std::string repo;  // may go on past org/name into a subfolder (cli/partial_view.h)
  std::string mountpoint;
  std::optional<std::string> subfolder;  // the repo folder shown as the mount's root
  std::vector<std::string> include, exclude;  // only matching files (globs as prefetch's)
  std::optional<std::string> cache_dir;
  std::optional<std::string> cache_group;     // share the cache with this group (name or gid)
  std::optional<std::string> cache_size;      // bound: "20G", "500M", "10%" (cache::parse_size)
  std::optional<std::string> cache_min_free;  // free-space floor, same syntax
  std::vector<std::string> fuse_options;
  bool foreground = false;
  bool debug_fuse = false;
  std::string log_level = "info";
  std::optional<std::string> log_file;
  unsigned part_mib = 8;          // size of one prefetch range request
  unsigned max_inflight_mib = 128;  // global read-ahead budget
  bool no_prefetch = false;
  bool no_passthrough = false;
  bool full_listing = false;  // a huge repo listed whole at mount (inode numbers stable across mounts)
  bool offline = false;  // also HF_HUB_OFFLINE=1
  bool hub = false;      // serve every repo under MOUNTPOINT/<org>/<name>
  unsigned idle_release_s = 600;
  unsigned refresh_s = 0;  // follow the branch: re-resolve every this many seconds (0: pinned)
  std::optional<std::string> metrics_file;  // Prometheus text, rewritten every 10 s
  unsigned read_ahead_kb = 16384;
  bool publish_hf_cache = false;  // verified files are also written into $HF_HUB_CACHE
  std::string verify = "auto";    // auto | strict (cache::VerifyMode; docs/CACHE.md "Verification")
  std::optional<std::string> verify_whole_max;  // auto: files up to this size are verified before served

  // Lets tests prove that the CLI and the fstab form of an option set the same thing.
  bool operator==(const MountArgs&) const = default;
};

int cmd_mount(const MountArgs& a);

struct UmountArgs {
  std::string mountpoint;
  bool lazy = false;
  bool force = false;  // abort the FUSE connection first (a wedged daemon), then detach
};
int cmd_umount(const UmountArgs& a);

struct StatusArgs {
  std::string mountpoint;  // empty: every hffs mount
  bool prometheus = false;
};
int cmd_status(const StatusArgs& a);

// `hffs refresh MOUNTPOINT`: one check of the followed branch now; prints "<old> -> <new>",
// "unchanged <sha>" or why not.
int cmd_refresh(const std::string& mountpoint);

struct CacheArgs {
  std::string action;  // stats | verify | gc | clear
  std::optional<std::string> cache_dir;
  bool complete = false;                 // verify: fetch the missing blocks of incomplete files first
  std::vector<std::string> endpoint;  // verify --complete: the endpoints to fetch from (default HF_ENDPOINT)
  std::optional<std::string> cache_size;
  std::optional<std::string> cache_min_free;
};
int cmd_cache(const CacheArgs& a);  // 0 ok, 1 corruption found (verify), 8 cache unusable

struct PrefetchArgs : HubArgs {  // op_deadline_s: a part not fetched by then fails
  std::string repo;
  std::vector<std::string> patterns;  // positional globs, same as --include
  std::vector<std::string> include, exclude;
  std::optional<std::string> cache_dir;
  unsigned jobs = 8;      // parts fetched in parallel
  unsigned part_mib = 8;  // size of one part
  bool publish_hf_cache = false;
  bool quiet = false;
};
int cmd_prefetch(const PrefetchArgs& a);  // 0 every file cached, 1 some failed, else as mount

}  // namespace hffs::cli
