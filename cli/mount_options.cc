#include "cli/mount_options.h"

#include <CLI/CLI.hpp>

namespace hffs::cli {

const char* const kTokenHelp =
    "Access token; visible to other local users (ps) until hffs starts, prefer HF_TOKEN or --token-file "
    "(default: $HF_TOKEN, then the saved token file)";

CLI::App* add_mount_command(CLI::App& app, MountArgs& m) {
  auto* mount = app.add_subcommand("mount", "Mount REPO (org/name, datasets/org/name, spaces/org/name) at MOUNTPOINT, or --hub MOUNTPOINT");
  mount->add_option("repo", m.repo, "Repository id: org/name, datasets/org/name or spaces/org/name");
  mount->add_option("mountpoint", m.mountpoint, "Existing empty directory to mount on");
  mount->add_flag("--hub", m.hub,
                  "Serve every repository: MOUNTPOINT/<org>/<name>[@rev], MOUNTPOINT/datasets/..., MOUNTPOINT/spaces/...");
  mount->add_option("--idle-release", m.idle_release_s, "With --hub: seconds after which an unused repo is released")
      ->check(CLI::PositiveNumber);
  mount->add_option("-r,--revision", m.revision, "Branch, tag, commit sha or refs/pr/N (default: main)");
  mount->add_option("--repo-type", m.repo_type, "model | dataset | space (default: from REPO, else model)")
      ->check(CLI::IsMember({"model", "dataset", "space"}));
  mount->add_option("--endpoint", m.endpoint, "Hub endpoint URL (default: $HF_ENDPOINT or https://huggingface.co)");
  mount->add_option("--token", m.token, kTokenHelp);
  mount->add_option("--token-file", m.token_file, "Read the access token from this file");
  mount->add_option("--cache-dir", m.cache_dir, "Block cache directory (default: $HF_HOME/hffs)");
  mount->add_option("--cache-group", m.cache_group,
                    "Share the cache with this group (directories 2770, files 0660; default: owner only, 0700/0600)");
  mount->add_option("--cache-size", m.cache_size, "Bound on the cache, shared by every mount using it: 20G, 500M, 10% (default 50% of its filesystem)");
  mount->add_option("--cache-min-free", m.cache_min_free, "Free space to leave on the cache filesystem (default min(1G, 5%))");
  mount->add_option("--ca-file", m.ca_file, "Extra CA bundle to verify the Hub/CDN certificates with");
  mount->add_option("-o", m.fuse_options, "FUSE mount options, comma separated (allow_other, ...)")
      ->delimiter(',');
  mount->add_flag("-f,--foreground", m.foreground, "Stay in the foreground and log to stderr");
  mount->add_flag("--debug-fuse", m.debug_fuse, "Print every FUSE request (implies --foreground)");
  mount->add_option("--log-level", m.log_level, "trace | debug | info | warn | error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  mount->add_option("--log-file", m.log_file, "Log to this file (default: stderr in foreground, syslog otherwise)");
  mount->add_option("--deadline", m.op_deadline_s, "Seconds after which a read that cannot be served fails with EIO")
      ->check(CLI::PositiveNumber);
  mount->add_option("--part-size", m.part_mib, "MiB per read-ahead range request (default 8)")
      ->check(CLI::Range(kPartSizeBounds.min, kPartSizeBounds.max));
  mount->add_option("--max-inflight", m.max_inflight_mib, "MiB of read-ahead in flight across all files (default 128)")
      ->check(CLI::Range(kMaxInflightBounds.min, kMaxInflightBounds.max));
  mount->add_flag("--offline", m.offline, "Mount a repo seen before from its kept view; serve only cached data");
  mount->add_option("--metrics-file", m.metrics_file, "Write Prometheus metrics to this file every 10 s");
  mount->add_flag("--no-prefetch", m.no_prefetch, "Fetch only what is read (no read-ahead)");
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
  mount->add_flag("--allow-http-redirect", m.allow_http_redirect,
                  "Follow redirects from https to plain http (only for a mirror that serves data over http)");
  return mount;
}

}  // namespace hffs::cli
