// `hffs mount`: pin the revision, list the tree, open the cache, mount, then serve.
// Without -f the command forks; the parent exits only once the mount serves (0) or with the
// child's one-line error and exit code.
#include <fcntl.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#ifdef HFFS_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "cache/block_cache.h"
#include "cache/cache_dir.h"
#include "cli/commands.h"
#include "cli/follow.h"
#include "cli/hub_setup.h"
#include "cli/metrics.h"
#include "cli/mountpoint.h"
#include "cli/partial_view.h"
#include "cli/session.h"
#include "common/fd.h"
#include "fs/filesystem.h"
#include "fs/fuse_adapter.h"
#include "fs/hub_namespace.h"
#include "hubapi/hub_client.h"

namespace hffs::cli {

namespace {

// Where the outcome of the mount goes: stderr in the foreground, a pipe to the waiting parent
// otherwise.
class Reporter {
 public:
  explicit Reporter(UniqueFd fd = UniqueFd(), pid_t parent = 0) : fd_(std::move(fd)), parent_(parent) {}
  // The daemon dies with the waiting parent until the mount is about to serve (PDEATHSIG, set
  // in the child after fork): an abandoned start (the parent killed, Ctrl-C) must not leave a
  // daemon behind, paginating a tree forever. Cleared here; false if the parent is gone already.
  bool parent_still_waiting() {
    if (!fd_ || parent_ == 0) return true;
    ::prctl(PR_SET_PDEATHSIG, 0);
    return ::getppid() == parent_;
  }
  void fail(const Failure& f) {
    if (!fd_) {
      std::cerr << "hffs: " << f.message << "\n";
      return;
    }
    std::string msg = std::to_string(f.code) + " " + f.message;
    (void)!::write(fd_.get(), msg.data(), msg.size());
    fd_.reset();
  }
  void ready() {
    if (!fd_) return;
    (void)!::write(fd_.get(), "0 ready", 7);
    fd_.reset();
  }

 private:
  UniqueFd fd_;
  pid_t parent_;
};

void setup_logging(const MountArgs& a, bool foreground) {
  std::shared_ptr<spdlog::logger> logger;
  if (a.log_file) {
    logger = spdlog::basic_logger_mt("hffs", *a.log_file);
  } else if (foreground) {
    logger = spdlog::stderr_color_mt("hffs");
  } else {
    logger = spdlog::syslog_logger_mt("hffs", "hffs", LOG_PID, LOG_DAEMON);
  }
  logger->set_level(spdlog::level::from_str(a.log_level));
  logger->flush_on(spdlog::level::info);  // few lines; an operator tailing the log sees them now
  spdlog::set_default_logger(logger);
}

// The read-ahead of a mount: --part-size requests, --max-inflight across all files.
fs::PrefetchConfig readahead_config(const MountArgs& a) {
  fs::PrefetchConfig p;
  p.enabled = !a.no_prefetch;
  p.part_size = uint64_t{a.part_mib} << 20;
  p.first_window = p.part_size;
  p.max_inflight_bytes = std::max<uint64_t>(uint64_t{a.max_inflight_mib} << 20, p.part_size);
  p.workers = static_cast<unsigned>(std::clamp<uint64_t>(p.max_inflight_bytes / p.part_size, 1, 64));
  // One budget for the whole mount: in --hub mode every repo's read-ahead draws from it.
  p.budget = std::make_shared<fs::InflightBudget>(p.max_inflight_bytes);
  return p;
}

SessionOptions session_options(const MountArgs& a) {
  SessionOptions o;
  o.hub = a;
  o.cache_dir = a.cache_dir;
  o.cache_group = a.cache_group;
  o.cache_size = a.cache_size;
  o.cache_min_free = a.cache_min_free;
  o.verify = a.verify;
  o.verify_whole_max = a.verify_whole_max;
  o.publish_hf_cache = a.publish_hf_cache;
  o.offline = a.offline;
  o.prefetch = readahead_config(a);
  o.lazy_listing = !a.full_listing;  // a big repo mounts after a few requests; directories listed as visited
  o.view.subfolder = a.subfolder.value_or("");  // made clean by check_args
  o.view.filter = {a.include, a.exclude};
  return o;
}

// What a mount serves: one repo, or the --hub namespace of every repo.
struct Served {
  fs::RepoMount single;
  std::unique_ptr<fs::HubNamespace> hub_ns;  // --hub
  fs::FsOps* ops = nullptr;
  std::string label, commit;  // for the fsname and systemd's status line
};

// Opens the repo (or builds the namespace) and wires its metrics (cli/metrics.h): rendered from
// a snapshot taken each time they are read. Null with `why` if the repo cannot be opened.
std::unique_ptr<Served> open_served(const MountArgs& a, const hubapi::RepoId& repo, const std::string& mountpoint,
                                    const Session& session, Failure* why) {
  auto metrics = [&session, mountpoint, endpoint = session.hub_config().endpoint,
                  hub = a.hub](std::vector<RepoMetrics> repos) {
    MountMetrics mm{mountpoint, endpoint, hub, std::move(repos), session.cache().stats(), std::nullopt};
    if (const auto* c = session.client()) {
      mm.http = c->stats();
      for (const std::string& token : known_tokens(session.hub_config())) scrub_secret(*mm.http, token);
    }
    return render_metrics(mm);
  };
  auto s = std::make_unique<Served>();
  if (a.hub) {
    fs::HubNamespaceConfig nc;
    nc.uid = session.context().uid;
    nc.gid = session.context().gid;
    nc.idle_release = std::chrono::seconds(a.idle_release_s);
    if (a.refresh_s > 0)  // org/name follows main; org/name@rev stays pinned (HubNamespace::open_repo)
      nc.follow = [&session, refresh = a.refresh_s](const hubapi::RepoId& r, const std::string& rev, fs::Filesystem& f,
                                                    fs::Follower::Forget forget) {
        return make_follower(session, r, rev, f, std::move(forget), refresh);
      };
    s->hub_ns = std::make_unique<fs::HubNamespace>(
        [&session](const hubapi::RepoId& r, const std::string& rev) { return session.open_repo(r, rev); }, nc);
    s->hub_ns->set_metrics_provider([ns = s->hub_ns.get(), metrics] {
      std::vector<RepoMetrics> repos;
      ns->for_each_repo([&](const std::string& l, fs::Filesystem& f) { repos.push_back(repo_metrics(l, f)); });
      return metrics(std::move(repos));
    });
    s->ops = s->hub_ns.get();
    s->label = "hub";
    return s;
  }
  auto m = session.open_repo(repo, a.revision);
  if (!m) {
    *why = session.repo_failure(m.status(), repo, a.revision, "mount");
    return nullptr;
  }
  s->single = std::move(*m);
  fs::Filesystem& f = *s->single.fs;
  s->commit = f.commit();
  f.set_metrics_provider([&f, metrics, name = repo_display(repo)] { return metrics({repo_metrics(name, f)}); });
  s->ops = &f;
  s->label = repo.id + (a.subfolder ? "/" + *a.subfolder : "");
  return s;
}

fs::FuseOptions fuse_options(const MountArgs& a, const std::string& label) {
  fs::FuseOptions fo;
  fo.mount_options = a.fuse_options;
  fo.fsname = "hffs:" + label;
  fo.debug = a.debug_fuse;
  fo.read_ahead_kb = a.read_ahead_kb;
  fo.passthrough = !a.no_passthrough;
  return fo;
}

// stdin, stdout and stderr to /dev/null, all three: a caller capturing our output must see EOF
// once the mount is ready; logs go to --log-file or syslog, never to a terminal that may be gone.
void detach_stdio() {
  UniqueFd null(::open("/dev/null", O_RDWR));
  if (!null) return;
  ::dup2(null.get(), 0);
  ::dup2(null.get(), 1);
  ::dup2(null.get(), 2);
  if (null.get() <= 2) (void)null.release();  // it is one of the three now
}

// Everything after argument checks; runs in the daemon (or in the foreground).
int run(const MountArgs& a, const hubapi::RepoId& repo, const std::string& mountpoint, Reporter& rep,
        bool foreground) {
  setup_logging(a, foreground);
  // The kernel's page cache of content that failed verification is dropped (by the FUSE server,
  // once it exists; nothing is cached in the kernel before it does). Declared before the session:
  // the cache's verifier calls it until the cache is gone.
  std::atomic<fs::FuseServer*> invalidator{nullptr};
  SessionOptions so = session_options(a);
  so.on_corrupt = [&invalidator](const cache::FileRef& f) {
    if (auto* s = invalidator.load()) s->invalidate_content(f.key);
  };
  auto opened = Session::open(so);
  if (!opened.session) {
    rep.fail(opened.failure);
    return 1;
  }
  const Session& session = *opened.session;
  spdlog::info("mounting {} at revision '{}' from {} (token: {}){}", a.hub ? "the Hub namespace" : repo_display(repo),
               a.revision, describe(session.endpoints()), session.token_source(),
               so.view.whole() ? "" : ", view " + so.view.describe());
  if (a.token)
    spdlog::warn("--token was visible to other local users (ps) until hffs started; prefer HF_TOKEN or --token-file");
  cache::warn_if_wider(session.cache_dir() / "views");

  Failure why;
  auto served = open_served(a, repo, mountpoint, session, &why);
  if (!served) {
    rep.fail(why);
    return 1;
  }
  fs::FsOps* ops = served->ops;
  const std::string& label = served->label;
  const std::string& commit = served->commit;
  MetricsWriter metrics_writer(a.metrics_file, [&] {
    auto r = ops->getxattr(fs::kRootIno, "user.hffs.metrics");
    return r ? *r : std::string();
  });

  fs::FuseServer server(*ops, fuse_options(a, label));
  fs::HubNamespace* hub_ns = served->hub_ns.get();
  if (hub_ns) hub_ns->set_invalidator([&server](uint64_t p, const std::string& n) { server.invalidate_entry(p, n); });
  // A switch to a new commit of the branch (--refresh, `hffs refresh`): the kernel forgets what
  // changed, told from the follower's thread once the server mounts.
  auto forget = [&invalidator](const fs::Invalidations& inv) {
    if (auto* s = invalidator.load()) s->forget(inv.entries, inv.inodes);
  };
  if (hub_ns) hub_ns->set_forget(forget);
  if (!rep.parent_still_waiting()) {
    spdlog::warn("the waiting `hffs mount` is gone: not mounting {}", mountpoint);
    return 1;
  }
  invalidator = &server;
  if (auto s = server.mount(mountpoint); !s) {
    rep.fail({kExitMountpoint, s.message()});
    return 1;
  }
  spdlog::info("mounted at {}", mountpoint);
  if (!hub_ns) {  // made once the kernel can be told about a switch
    served->single.follower = make_follower(session, repo, a.revision, *served->single.fs, forget, a.refresh_s);
    if (served->single.follower && a.refresh_s > 0)
      spdlog::info("following {} of {}: checked every {} s", a.revision, repo_display(repo), a.refresh_s);
  }
  rep.ready();
#ifdef HFFS_HAVE_SYSTEMD
  sd_notifyf(0, "READY=1\nSTATUS=serving %s %s at %s", label.c_str(), commit.c_str(), mountpoint.c_str());
#endif
  // Detach from the terminal now that the parent has its answer.
  if (!foreground) detach_stdio();
  int rc = server.serve();
  // No switch from here on: the followers stop before the kernel connection goes away.
  if (hub_ns) hub_ns->stop_following();
  served->single.follower.reset();
  invalidator = nullptr;
  spdlog::info("unmounted {}", mountpoint);
  if (hub_ns) hub_ns->set_invalidator(nullptr);
  return rc;
}

// Relative paths of options and of the environment, as the caller meant them (its cwd).
void absolutize_paths(MountArgs& a) {
  auto abs = [](std::optional<std::string>& p) {
    if (!p || p->empty() || (*p)[0] == '/') return;
    std::error_code ec;
    auto full = std::filesystem::absolute(*p, ec);
    if (!ec) *p = full.lexically_normal().string();
  };
  for (auto* p : {&a.ca_file, &a.token_file, &a.cache_dir, &a.log_file, &a.metrics_file}) abs(*p);
  for (const char* var : {"SSL_CERT_FILE", "CURL_CA_BUNDLE", "HF_HOME", "HF_HUB_CACHE", "HF_TOKEN_PATH"}) {
    const char* v = std::getenv(var);
    if (!v || !*v || v[0] == '/') continue;
    std::optional<std::string> p{v};
    abs(p);
    ::setenv(var, p->c_str(), 1);
  }
}

// The repository to mount (an empty id with --hub), or nullopt once the usage error is printed.
// With --hub the one positional is the mountpoint and moves there. The Hub options and the
// environment (an endpoint list, a no-token mark, the token file) are checked here too, before
// the daemon is forked: a usage error is one line from this command.
std::optional<hubapi::RepoId> check_args(MountArgs& a) {
  if (auto hub = make_hub_config(a, read_hf_env()); !hub) {
    std::cerr << "hffs: " << hub.status().message() << "\n";
    return std::nullopt;
  }
  if (a.hub) {
    if (a.mountpoint.empty()) std::swap(a.mountpoint, a.repo);
    if (!a.repo.empty()) {
      std::cerr << "hffs: --hub serves every repository; give only the mountpoint\n";
      return std::nullopt;
    }
    // A folder of a repo is a path in the namespace already; --include / --exclude apply to every repo.
    if (a.subfolder) {
      std::cerr << "hffs: --subfolder does not go with --hub: MOUNTPOINT/org/name/FOLDER is that folder already\n";
      return std::nullopt;
    }
    return hubapi::RepoId{};
  }
  if (a.mountpoint.empty()) {
    std::cerr << "hffs: mount needs REPO and MOUNTPOINT (or --hub MOUNTPOINT)\n";
    return std::nullopt;
  }
  auto arg = parse_repo_view_arg(a.repo, a.repo_type);
  if (!arg) {
    std::cerr << "hffs: " << arg.status().message() << "\n";
    return std::nullopt;
  }
  if (a.subfolder) {
    auto sub = clean_subfolder(*a.subfolder);
    if (!sub || !arg->subfolder.empty()) {
      std::cerr << "hffs: --subfolder: "
                << (sub ? "the repository path names a folder already (" + a.repo + ")" : sub.status().message())
                << "\n";
      return std::nullopt;
    }
    arg->subfolder = std::move(*sub);
  }
  if (!arg->subfolder.empty()) a.subfolder = arg->subfolder;
  for (const auto* globs : {&a.include, &a.exclude})
    for (const auto& g : *globs)
      if (g.empty()) {
        std::cerr << "hffs: --include / --exclude take a glob, not an empty string\n";
        return std::nullopt;
      }
  auto repo = Result<hubapi::RepoId>(std::move(arg->repo));
  if (auto s = hubapi::validate_revision(a.revision); !s) {
    std::cerr << "hffs: " << s.message() << "\n";
    return std::nullopt;
  }
  return *repo;
}

// The forked daemon: runs the mount, reporting its outcome into `to_parent`, and never returns.
[[noreturn]] void daemon_main(const MountArgs& a, const hubapi::RepoId& repo, const std::string& mp,
                              UniqueFd to_parent, pid_t parent) {
  // Die with the waiting parent until the mount serves (cleared in run()); the parent may have
  // died before prctl: then getppid() is no longer it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) std::_Exit(kExitError);
  ::setsid();
  if (::chdir("/") != 0) { /* keep going: cwd only matters for busy unmounts */
  }
  Reporter rep(std::move(to_parent), parent);
  int rc = run(a, repo, mp, rep, false);
  std::_Exit(rc);
}

// The parent's side: waits for the daemon's one line ("0 ready" or "CODE message") and turns it
// into this command's exit code and message.
int await_daemon(UniqueFd from_child, pid_t pid) {
  std::string msg;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(from_child.get(), buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) msg.append(buf, static_cast<size_t>(n));
  }
  from_child.reset();
  if (msg.empty()) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::cerr << "hffs: the mount daemon exited before the mount was ready"
              << (WIFSIGNALED(status) ? std::string(" (signal ") + strsignal(WTERMSIG(status)) + ")" : "") << "\n";
    return kExitError;
  }
  auto sp = msg.find(' ');
  int code = std::atoi(msg.substr(0, sp).c_str());
  if (code == 0) return kExitOk;
  ::waitpid(pid, nullptr, 0);
  std::cerr << "hffs: " << msg.substr(sp + 1) << "\n";
  return code;
}

// Forks the daemon and waits until it serves or fails.
int mount_in_background(const MountArgs& a, const hubapi::RepoId& repo, const std::string& mp) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::perror("hffs: pipe");
    return kExitError;
  }
  UniqueFd from_child(fds[0]), to_parent(fds[1]);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("hffs: fork");
    return kExitError;
  }
  if (pid == 0) {
    from_child.reset();
    daemon_main(a, repo, mp, std::move(to_parent), parent);
  }
  to_parent.reset();
  return await_daemon(std::move(from_child), pid);
}

}  // namespace

int cmd_mount(const MountArgs& args) {
  MountArgs a = args;
  auto repo = check_args(a);
  if (!repo) return kExitUsage;
  // The daemon runs in "/": every relative path it will open is made absolute now.
  absolutize_paths(a);
  std::string mp;
  if (auto s = check_mountpoint(a.mountpoint, &mp); !s) {
    std::cerr << "hffs: " << s.message() << "\n";
    return kExitMountpoint;
  }
  if (auto s = check_fuse_device(::geteuid()); !s) {
    std::cerr << "hffs: " << s.message() << "\n";
    return kExitMountpoint;
  }
  if (auto s = check_allow_other(a.fuse_options, ::geteuid()); !s) {
    std::cerr << "hffs: " << s.message() << "\n";
    return kExitMountpoint;
  }
  if (a.foreground || a.debug_fuse) {
    Reporter rep;
    return run(a, *repo, mp, rep, true);
  }
  return mount_in_background(a, *repo, mp);
}

}  // namespace hffs::cli
