// hffs: mount a Hugging Face Hub repository as a read-only directory.
#include <CLI/CLI.hpp>
#include <sys/prctl.h>

#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
#include "cli/doc_gen.h"
#include "cli/fstab.h"
#include "cli/mount_options.h"

using namespace hffs::cli;

namespace {

// A token given with --token must not stay readable in /proc/PID/cmdline (every local user can
// read it, `ps`) for the daemon's lifetime: its bytes are overwritten in place once parsed.
void scrub_token_args(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") break;
    char* value = nullptr;
    if (arg == "--token" && i + 1 < argc)
      value = argv[++i];
    else if (arg.rfind("--token=", 0) == 0)
      value = argv[i] + std::strlen("--token=");
    if (value) std::memset(value, 'x', std::strlen(value));
  }
}

// Commands that hold a token: no core dump, no ptrace by other processes of the same user, and
// /proc/PID/{mem,environ} readable by root only.
void hold_secrets() { (void)::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }

// mount(8) runs `mount.fuse.hffs SRC DIR -o OPTS` (a symlink to us), or, through mount.fuse3,
// `hffs SRC DIR -o OPTS`: a first argument that is not a subcommand means the helper form.
bool is_helper_form(int argc, char** argv) {
  if (argc > 0 && is_mount_helper_name(argv[0])) return true;
  if (argc < 3 || argv[1][0] == '-') return false;
  for (std::string_view sub : {"mount", "umount", "status", "refresh", "cache", "prefetch", "help", "__doc"})
    if (argv[1] == sub) return false;
  return true;
}

int run_mount_helper(int argc, char** argv) {
  bool fake = false;
  auto m = parse_mount_helper_args(std::vector<std::string>(argv + 1, argv + argc), &fake);
  if (!m) {
    std::cerr << "mount.hffs: " << m.status().message() << "\n";
    return kExitUsage;
  }
  if (fake) return kExitOk;
  hold_secrets();
  return cmd_mount(*m);
}

CLI::App* add_umount_command(CLI::App& app, UmountArgs& u) {
  auto* umount = app.add_subcommand("umount", "Unmount an hffs mount (also a dead one)");
  umount->add_option("mountpoint", u.mountpoint, "The hffs mount to unmount")->required();
  umount->add_flag("-l,--lazy", u.lazy, "Detach now even if busy; cleaned up when no longer used");
  umount->add_flag("--force", u.force,
                   "For a wedged daemon: abort its FUSE connection (readers get ENOTCONN), then detach like --lazy");
  return umount;
}

CLI::App* add_status_command(CLI::App& app, StatusArgs& st) {
  auto* status = app.add_subcommand("status", "Show hffs mounts with traffic, hit rate and errors");
  status->add_option("mountpoint", st.mountpoint, "One mount (default: all)");
  status->add_flag("--prometheus", st.prometheus, "Print the raw Prometheus metrics");
  return status;
}

// `hffs cache ACTION`: each action is a subcommand of its own with the same options (verify has
// two more), so that `hffs cache gc --help` shows what applies.
CLI::App* add_cache_command(CLI::App& app, CacheArgs& ca) {
  struct Action {
    const char* name;
    const char* help;
  };
  static constexpr Action kActions[] = {
      {"stats", "Size, files, bound and hit rate"},
      {"verify", "Hash every complete file; drop corrupt ones (exit 1)"},
      {"gc", "Remove leftovers, recount, evict to the bound"},
      {"clear", "Remove every cached block (safe while mounted)"},
  };
  auto* cache = app.add_subcommand("cache", "Inspect or maintain the block cache: stats, verify, gc, clear");
  cache->require_subcommand(1);
  for (const Action& action : kActions) {
    auto* sc = cache->add_subcommand(action.name, action.help);
    sc->add_option("--cache-dir", ca.cache_dir, "Block cache directory (default: $HF_HOME/hffs)");
    sc->add_option("--cache-size", ca.cache_size, "Bound to enforce/show (default: 50% of the filesystem)");
    if (std::string_view(action.name) == "verify") {
      sc->add_flag("--complete", ca.complete,
                   "Also fetch what incomplete files miss (from the repos kept in the cache's views) and verify them");
      sc->add_option("--endpoint", ca.endpoint,
                     "With --complete: the endpoint to fetch from; repeat for a list, first = preferred "
                     "(default: $HF_ENDPOINT)")
          ->allow_extra_args(false);
    }
    sc->add_option("--cache-min-free", ca.cache_min_free, "Free-space floor (default min(1G, 5%))");
    sc->callback([&ca, name = action.name] { ca.action = name; });
  }
  return cache;
}

CLI::App* add_prefetch_command(CLI::App& app, PrefetchArgs& pf) {
  auto* prefetch = app.add_subcommand("prefetch", "Fetch files of REPO into the cache without mounting");
  prefetch->add_option("repo", pf.repo, "Repository id: org/name, datasets/org/name or spaces/org/name")->required();
  prefetch->add_option("patterns", pf.patterns, "Glob patterns of paths to fetch, as `hf download --include` (default: all)");
  prefetch->add_option("--include", pf.include, "Glob pattern of paths to fetch (repeatable)");
  prefetch->add_option("--exclude", pf.exclude, "Glob pattern of paths to skip (repeatable)");
  add_hub_options(*prefetch, pf, "Seconds after which a part that cannot be fetched fails");
  prefetch->add_option("--cache-dir", pf.cache_dir, "Block cache directory (default: $HF_HOME/hffs)");
  prefetch->add_option("-j,--jobs", pf.jobs, "Parts fetched in parallel (default 8)")->check(CLI::Range(1, 64));
  prefetch->add_option("--part-size", pf.part_mib, "MiB per range request (default 8)")
      ->check(CLI::Range(kPartSizeBounds.min, kPartSizeBounds.max));
  prefetch->add_flag("--publish-hf-cache", pf.publish_hf_cache, "Also write the verified files into $HF_HUB_CACHE");
  prefetch->add_flag("-q,--quiet", pf.quiet, "No progress, only the summary");
  return prefetch;
}

}  // namespace

int main(int argc, char** argv) {
  if (is_helper_form(argc, argv)) return run_mount_helper(argc, argv);
  CLI::App app{"hffs: mount a Hugging Face Hub repository as a read-only directory"};
  app.set_version_flag("-V,--version", std::string("hffs ") + HFFS_VERSION);
  app.require_subcommand(1);
  app.footer(
      "Environment: HF_ENDPOINT (one URL or a comma list), HFFS_NO_TOKEN_ENDPOINTS, HF_TOKEN (then\n"
      "HF_TOKEN_PATH, then $HF_HOME/token), HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE, SSL_CERT_FILE /\n"
      "CURL_CA_BUNDLE. See README.md.");

  MountArgs m;
  UmountArgs u;
  StatusArgs st;
  CacheArgs ca;
  PrefetchArgs pf;
  auto* mount = add_mount_command(app, m);
  auto* umount = add_umount_command(app, u);
  auto* status = add_status_command(app, st);
  std::string refresh_mp;
  auto* refresh = app.add_subcommand("refresh", "Check a mount's branch for a new commit now and switch to it (see --refresh)");
  refresh->add_option("mountpoint", refresh_mp, "The mount (a --hub mount: the repo's directory)")->required();
  auto* cache = add_cache_command(app, ca);
  auto* prefetch = add_prefetch_command(app, pf);

  // Hidden: the build writes the man pages and the completion from this very tree (cli/doc_gen.h).
  if (argc >= 2 && std::string_view(argv[1]) == "__doc")
    return cmd_doc(app, std::vector<std::string>(argv + 2, argv + argc));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    scrub_token_args(argc, argv);
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  scrub_token_args(argc, argv);
  if (*mount || *prefetch) hold_secrets();
  if (*mount) return cmd_mount(m);
  if (*umount) return cmd_umount(u);
  if (*status) return cmd_status(st);
  if (*refresh) return cmd_refresh(refresh_mp);
  if (*cache) return cmd_cache(ca);
  if (*prefetch) return cmd_prefetch(pf);
  return kExitUsage;
}
