#include "cli/mount_options.h"

#include <CLI/CLI.hpp>

#include "cli/hub_setup.h"

namespace hffs::cli {

const char* const kTokenHelp =
    "Access token; visible to other local users (ps) until hffs starts, prefer HF_TOKEN or --token-file; "
    "fixed for the life of the mount, as HF_TOKEN is (default: $HF_TOKEN, then the saved token file)";
const char* const kTokenFileHelp =
    "Read the access token from this file; re-read when it changes and when the Hub rejects the token, so a "
    "rotated token needs no remount (so are $HF_TOKEN_PATH and $HF_HOME/token when the token comes from them)";

void add_hub_options(CLI::App& cmd, HubArgs& h, const char* deadline_help) {
  cmd.add_option("-r,--revision", h.revision, "Branch, tag, commit sha or refs/pr/N (default: main)");
  cmd.add_option("--repo-type", h.repo_type, "model | dataset | space (default: from REPO, else model)")
      ->check(CLI::IsMember({"model", "dataset", "space"}));
  // One URL per occurrence: a list option would swallow the REPO and MOUNTPOINT after it.
  cmd.add_option("--endpoint", h.endpoint,
                 "Hub or mirror URL; repeat for a list tried in order, first = preferred (default: $HF_ENDPOINT, "
                 "one URL or a comma list, else https://huggingface.co)")
      ->allow_extra_args(false);
  cmd.add_option("--no-token-endpoint", h.no_token_endpoint,
                 "Never send the token to this endpoint (one of the list, e.g. a public mirror run by a third "
                 "party); repeatable; also $HFFS_NO_TOKEN_ENDPOINTS")
      ->allow_extra_args(false);
  cmd.add_option("--endpoint-backoff", h.endpoint_backoff_s,
                 "With several endpoints: seconds a failed one is put aside before a background probe "
                 "(doubles per failed probe, up to 120; default 2)")
      ->check(CLI::Range(kEndpointBackoffMin, kEndpointBackoffMax));
  cmd.add_option("--stall-timeout", h.stall_timeout_s,
                 "Seconds without a byte after which a transfer is abandoned and retried (with several "
                 "endpoints: moved to the next; default 15)")
      ->check(CLI::Range(kStallTimeoutMin, kStallTimeoutMax));
  cmd.add_option("--token", h.token, kTokenHelp);
  cmd.add_option("--token-file", h.token_file, kTokenFileHelp);
  cmd.add_option("--ca-file", h.ca_file, "Extra CA bundle to verify the Hub/CDN certificates with");
  cmd.add_option("--deadline", h.op_deadline_s, deadline_help)->check(CLI::PositiveNumber);
  cmd.add_flag("--allow-http-redirect", h.allow_http_redirect,
               "Follow redirects from https to plain http (only for a mirror that serves data over http)");
}

CLI::App* add_mount_command(CLI::App& app, MountArgs& m) {
  auto* mount = app.add_subcommand("mount",
                                   "Mount REPO (org/name, datasets/org/name, spaces/org/name; a folder of it: "
                                   "org/name/FOLDER) at MOUNTPOINT, or --hub MOUNTPOINT");
  mount->add_option("repo", m.repo,
                    "Repository id: org/name, datasets/org/name or spaces/org/name; a path after it "
                    "(org/name/onnx) mounts only that folder");
  mount->add_option("mountpoint", m.mountpoint, "Existing empty directory to mount on");
  mount->add_flag("--hub", m.hub,
                  "Serve every repository: MOUNTPOINT/<org>/<name>[@rev], MOUNTPOINT/datasets/..., MOUNTPOINT/spaces/...");
  mount->add_option("--refresh", m.refresh_s,
                    "Follow the branch: check every SECONDS for a new commit and switch to it (open files keep "
                    "their bytes; 0, the default: pinned at mount). A commit sha or a tag never moves; with --hub, "
                    "org/name follows main at this interval, org/name@rev stays pinned")
      ->check(CLI::Range(kRefreshBounds.min, kRefreshBounds.max));
  mount->add_option("--idle-release", m.idle_release_s, "With --hub: seconds after which an unused repo is released")
      ->check(CLI::PositiveNumber);
  mount->add_option("--subfolder", m.subfolder,
                    "Show only this folder of the repo, as the mount's root (same as REPO/PATH; not with --hub, "
                    "where MOUNTPOINT/org/name/PATH is that folder already); a missing folder fails with exit 4");
  mount->add_option("--include", m.include,
                    "Show only the files matching this glob, and the folders leading to them; repeatable. Globs "
                    "as hffs prefetch and hf download: on the path from the repo root (also with a subfolder), "
                    "'*' matches '/' too ('*.json' at any depth), 'dir/' is everything below dir. The tree (the "
                    "subfolder's) is then listed whole at mount. With --hub: in every repo")
      ->allow_extra_args(false);
  mount->add_option("--exclude", m.exclude, "Hide the files matching this glob (after --include); repeatable")
      ->allow_extra_args(false);
  add_hub_options(*mount, m, "Seconds after which a read that cannot be served fails with EIO");
  mount->add_option("--cache-dir", m.cache_dir, "Block cache directory (default: $HF_HOME/hffs)");
  mount->add_option("--cache-group", m.cache_group,
                    "Share the cache with this group (directories 2770, files 0660; default: owner only, 0700/0600)");
  mount->add_option("--cache-size", m.cache_size, "Bound on the cache, shared by every mount using it: 20G, 500M, 10% (default 50% of its filesystem)");
  mount->add_option("--cache-min-free", m.cache_min_free, "Free space to leave on the cache filesystem (default min(1G, 5%))");
  mount->add_option("-o", m.fuse_options, "FUSE mount options, comma separated (allow_other, ...)")
      ->delimiter(',');
  mount->add_flag("-f,--foreground", m.foreground, "Stay in the foreground and log to stderr");
  mount->add_flag("--debug-fuse", m.debug_fuse, "Print every FUSE request (implies --foreground)");
  mount->add_option("--log-level", m.log_level, "trace | debug | info | warn | error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  mount->add_option("--log-file", m.log_file, "Log to this file (default: stderr in foreground, syslog otherwise)");
  mount->add_option("--part-size", m.part_mib, "MiB per read-ahead range request (default 8)")
      ->check(CLI::Range(kPartSizeBounds.min, kPartSizeBounds.max));
  mount->add_option("--max-inflight", m.max_inflight_mib, "MiB of read-ahead in flight across all files (default 128)")
      ->check(CLI::Range(kMaxInflightBounds.min, kMaxInflightBounds.max));
  mount->add_flag("--offline", m.offline, "Mount a repo seen before from its kept view; serve only cached data");
  mount->add_option("--metrics-file", m.metrics_file, "Write Prometheus metrics to this file every 10 s");
  mount->add_flag("--no-prefetch", m.no_prefetch, "Fetch only what is read (no read-ahead)");
  mount->add_flag("--full-listing", m.full_listing,
                  "List a repo of more than 16,000 entries whole at mount instead of one directory when first "
                  "visited (slower to mount; inode numbers then stay the same across mounts of a commit)");
  mount->add_option("--verify", m.verify,
                    "auto (default): files up to --verify-whole-max are verified before their first byte is "
                    "served, larger ones as they stream in (the read that completes a bad file fails); "
                    "strict: no byte of a file is served before the whole file is verified")
      ->check(CLI::IsMember({"auto", "strict"}));
  mount->add_option("--verify-whole-max", m.verify_whole_max,
                    "With --verify auto: files up to this size (default 4M) are fetched whole and verified first");
  mount->add_flag("--no-passthrough", m.no_passthrough,
                  "Serve complete cached files through the daemon instead of FUSE passthrough (Linux >= 6.9)");
  mount->add_option("--read-ahead-kb", m.read_ahead_kb, "Kernel read-ahead for the mount, as root (default 16384)");
  mount->add_flag("--publish-hf-cache", m.publish_hf_cache,
                  "Also write every fully fetched, verified file into $HF_HUB_CACHE (blobs, snapshots, refs)");
  return mount;
}

}  // namespace hffs::cli
