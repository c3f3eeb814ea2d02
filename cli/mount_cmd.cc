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
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>
#include <string>
#include <tuple>

#ifdef HFFS_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "cache/block_cache.h"
#include "cache/cache_dir.h"
#include "cli/commands.h"
#include "cli/env.h"
#include "cli/hub_setup.h"
#include "cli/repo_opener.h"
#include "cli/metrics.h"
#include "cli/snapshot_store.h"
#include "cli/mountpoint.h"
#include "fs/filesystem.h"
#include "fs/fuse_adapter.h"
#include "fs/hub_namespace.h"
#include "hubapi/hub_client.h"

namespace hffs::cli {

namespace {

// Rewrites the metrics file every 10 s (atomically) and once more at exit.
class MetricsWriter {
 public:
  MetricsWriter(std::optional<std::string> path, std::function<std::string()> render)
      : path_(std::move(path)), render_(std::move(render)) {
    if (path_) thread_ = std::thread([this] { loop(); });
  }
  ~MetricsWriter() {
    if (!path_) return;
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    write();
  }

 private:
  void loop() {
    std::unique_lock lk(mu_);
    while (!stop_) {
      lk.unlock();
      write();
      lk.lock();
      cv_.wait_for(lk, std::chrono::seconds(10), [&] { return stop_; });
    }
  }
  void write() {
    std::string tmp = *path_ + ".tmp";
    {
      std::ofstream f(tmp, std::ios::trunc);
      f << render_();
    }
    std::rename(tmp.c_str(), path_->c_str());
  }
  std::optional<std::string> path_;
  std::function<std::string()> render_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

struct Failure {
  int code;
  std::string message;
};

// Where the outcome of the mount goes: stderr in the foreground, a pipe to the waiting parent
// otherwise.
class Reporter {
 public:
  explicit Reporter(int fd, pid_t parent = 0) : fd_(fd), parent_(parent) {}
  // The daemon dies with the waiting parent until the mount is about to serve (PDEATHSIG, set
  // in the child after fork): an abandoned start (the parent killed, Ctrl-C) must not leave a
  // daemon behind, paginating a tree forever. Cleared here; false if the parent is gone already.
  bool parent_still_waiting() {
    if (fd_ < 0 || parent_ == 0) return true;
    ::prctl(PR_SET_PDEATHSIG, 0);
    return ::getppid() == parent_;
  }
  void fail(const Failure& f) {
    if (fd_ < 0) {
      std::cerr << "hffs: " << f.message << "\n";
      return;
    }
    std::string msg = std::to_string(f.code) + " " + f.message;
    (void)!::write(fd_, msg.data(), msg.size());
    ::close(fd_);
    fd_ = -1;
  }
  void ready() {
    if (fd_ < 0) return;
    (void)!::write(fd_, "0 ready", 7);
    ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  pid_t parent_;
};

Failure hub_failure(const Status& s, const hubapi::RepoId& repo, const std::string& revision,
                    const std::string& endpoint, bool have_token) {
  std::string what = std::string(hubapi::repo_type_name(repo.type)) + " '" + repo.id + "'";
  std::string web = endpoint + "/" + std::string(hubapi::repo_type_web_prefix(repo.type)) + repo.id;
  switch (s.code()) {
    case Errc::kRepoNotFound:
      return {kExitRepoNotFound,
              what + " not found at " + endpoint +
                  (have_token ? ", or the token has no access to it: check the name and --repo-type"
                              : ", or it is private: check the name and --repo-type, or log in (hf auth login, "
                                "HF_TOKEN or --token)")};
    case Errc::kRevisionNotFound:
      return {kExitRevisionNotFound, "revision '" + revision + "' not found in " + what +
                                         ": use a branch, tag, commit sha or refs/pr/N that exists (see " + web +
                                         "/tree/main)"};
    case Errc::kGated:
      return {kExitAccess, what + " is gated: request access at " + web +
                               (have_token ? ", then mount again once it is granted (the token in use is not yet authorized)"
                                           : ", then pass a token that has access (HF_TOKEN or --token)")};
    case Errc::kUnauthorized:
      return {kExitAccess, "the Hub at " + endpoint +
                               " rejected the token (invalid or expired): create one at " + endpoint +
                               "/settings/tokens and set HF_TOKEN or --token"};
    case Errc::kForbidden:
      return {kExitAccess, "access to " + what + " is forbidden: " + s.message()};
    case Errc::kNetwork:
    case Errc::kTimeout:
    case Errc::kServer:
    case Errc::kRateLimited:
      return {kExitNetwork, "Hub unreachable at " + endpoint + ": " + s.message() +
                                " (check the network, HF_ENDPOINT or --endpoint)"};
    default:
      return {kExitError, "cannot mount " + what + ": " + s.to_string()};
  }
}

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

// Everything after argument checks; runs in the daemon (or in the foreground).
int run(const MountArgs& a, const hubapi::RepoId& repo, const std::string& mountpoint, Reporter& rep,
        bool foreground) {
  setup_logging(a, foreground);
  HfEnv env = read_hf_env();
  std::string token_source;
  auto hcr = make_hub_config({a.endpoint, a.token, a.token_file, a.ca_file, a.op_deadline_s, a.allow_http_redirect},
                             env, &token_source);
  if (!hcr) {
    rep.fail({kExitUsage, hcr.status().message()});
    return 1;
  }
  const hubapi::HubConfig& hc = *hcr;
  spdlog::info("mounting {} at revision '{}' from {} (token: {})", a.hub ? "the Hub namespace" : repo_display(repo),
               a.revision, hc.endpoint, token_source);
  if (a.token)
    spdlog::warn("--token was visible to other local users (ps) until hffs started; prefer HF_TOKEN or --token-file");

  hubapi::HubClient client(hc);
  std::filesystem::path cache_dir = a.cache_dir ? std::filesystem::path(*a.cache_dir) : env.default_cache_dir();
  if (a.cache_group) {
    auto gid = lookup_group(*a.cache_group);
    if (!gid) {
      rep.fail({kExitUsage, "--cache-group: no group '" + *a.cache_group + "' (give a group name or gid)"});
      return 1;
    }
    cache::set_cache_group(*gid);
  }
  cache::CacheConfig cc;
  cc.dir = cache_dir;
  for (auto [opt, val, dst] : {std::tuple{"--cache-size", &a.cache_size, &cc.max_size},
                               std::tuple{"--cache-min-free", &a.cache_min_free, &cc.min_free}}) {
    if (!*val) continue;
    auto size = cache::parse_size(**val);
    if (!size) {
      rep.fail({kExitUsage, std::string(opt) + ": " + size.status().message()});
      return 1;
    }
    *dst = *size;
  }
  // Fetched content is checked against its sha256 / git sha1 (docs/CACHE.md "Verification").
  auto vm = cache::parse_verify_mode(a.verify);
  if (!vm || *vm == cache::VerifyMode::kOff) {
    rep.fail({kExitUsage, "--verify: " + (vm ? std::string("use auto or strict") : vm.status().message())});
    return 1;
  }
  cc.verify = *vm;
  if (a.verify_whole_max) {
    auto size = cache::parse_size(*a.verify_whole_max);
    if (!size || size->percent > 0) {
      rep.fail({kExitUsage, "--verify-whole-max: " + (size ? std::string("give a size, not a percentage")
                                                            : size.status().message())});
      return 1;
    }
    cc.whole_file_max = size->bytes;
  }
  // The kernel's page cache of content that failed verification is dropped (by the FUSE server,
  // once it exists; nothing is cached in the kernel before it does).
  std::atomic<fs::FuseServer*> invalidator{nullptr};
  cc.on_corrupt = [&invalidator](const cache::FileRef& f) {
    if (auto* s = invalidator.load()) s->invalidate_content(f.key);
  };
  // Declared before the cache: its verifier thread calls the publisher until the cache is gone.
  std::unique_ptr<HfPublisher> publisher;
  if (a.publish_hf_cache) {
    publisher = std::make_unique<HfPublisher>(env.hub_cache, cache_dir);
    cc.on_verified = [p = publisher.get()](const cache::FileRef& f) { p->on_verified(f); };
  }
  auto cache = cache::BlockCache::open(cc);
  if (!cache) {
    rep.fail({kExitCache, "cannot use cache directory " + cc.dir.string() + ": " + cache.status().message() +
                              " (choose another with --cache-dir)"});
    return 1;
  }
  SnapshotStore views(cache_dir);
  cache::warn_if_wider(cache_dir / "views");
  bool offline = a.offline || env.offline;
  OpenContext ctx;
  ctx.client = offline ? nullptr : &client;
  ctx.views = &views;
  ctx.cache = cache->get();
  ctx.hub_cache = env.hub_cache;
  ctx.publish = publisher.get();
  ctx.uid = ::getuid();
  ctx.gid = ::getgid();
  ctx.prefetch.enabled = !a.no_prefetch;
  ctx.prefetch.part_size = uint64_t{a.part_mib} << 20;
  ctx.prefetch.first_window = ctx.prefetch.part_size;
  ctx.prefetch.max_inflight_bytes = std::max<uint64_t>(uint64_t{a.max_inflight_mib} << 20, ctx.prefetch.part_size);
  ctx.prefetch.workers =
      static_cast<unsigned>(std::clamp<uint64_t>(ctx.prefetch.max_inflight_bytes / ctx.prefetch.part_size, 1, 64));
  // One budget for the whole mount: in --hub mode every repo's read-ahead draws from it.
  ctx.prefetch.budget = std::make_shared<fs::InflightBudget>(ctx.prefetch.max_inflight_bytes);

  const cache::BlockCache& cache_ref = **cache;
  const hubapi::HubClient* hub_ref = offline ? nullptr : &client;
  fs::RepoMount single;
  std::unique_ptr<fs::HubNamespace> hub_ns;
  fs::FsOps* ops = nullptr;
  std::string label, commit;
  if (a.hub) {
    fs::HubNamespaceConfig nc;
    nc.uid = ctx.uid;
    nc.gid = ctx.gid;
    nc.idle_release = std::chrono::seconds(a.idle_release_s);
    hub_ns = std::make_unique<fs::HubNamespace>(
        [&ctx](const hubapi::RepoId& r, const std::string& rev) { return open_repo_view(ctx, r, rev); }, nc);
    hub_ns->set_metrics_provider([&] {
      std::string out;
      hub_ns->for_each_repo([&](const std::string& l, fs::Filesystem& f) {
        MountIdentity id{mountpoint + "/" + l, l, f.config().revision, f.config().commit, hc.endpoint};
        out += render_metrics(id, f, cache_ref, hub_ref);
      });
      return out;
    });
    ops = hub_ns.get();
    label = "hub";
  } else {
    auto m = open_repo_view(ctx, repo, a.revision);
    if (!m) {
      if (offline && m.status().code() == Errc::kOffline) {
        rep.fail({kExitNetwork, m.status().message()});
      } else {
        rep.fail(hub_failure(m.status(), repo, a.revision, hc.endpoint, hc.token.has_value()));
      }
      return 1;
    }
    single = std::move(*m);
    fs::Filesystem& f = *single.fs;
    commit = f.config().commit;
    MountIdentity ident{mountpoint, repo_display(repo), a.revision, commit, hc.endpoint};
    f.set_metrics_provider([&f, &cache_ref, hub_ref, ident] { return render_metrics(ident, f, cache_ref, hub_ref); });
    ops = &f;
    label = repo.id;
  }
  MetricsWriter metrics_writer(a.metrics_file, [&] {
    auto r = ops->getxattr(fs::kRootIno, "user.hffs.metrics");
    return r ? *r : std::string();
  });

  fs::FuseOptions fo;
  fo.mount_options = a.fuse_options;
  fo.fsname = "hffs:" + label;
  fo.debug = a.debug_fuse;
  fo.read_ahead_kb = a.read_ahead_kb;
  fo.passthrough = !a.no_passthrough;
  fs::FuseServer server(*ops, fo);
  if (hub_ns) hub_ns->set_invalidator([&server](uint64_t p, const std::string& n) { server.invalidate_entry(p, n); });
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
  rep.ready();
#ifdef HFFS_HAVE_SYSTEMD
  sd_notifyf(0, "READY=1\nSTATUS=serving %s %s at %s", label.c_str(), commit.c_str(), mountpoint.c_str());
#endif
  if (!foreground) {
    // Detach from the terminal now that the parent has its answer.
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      // All three: a caller capturing our output must see EOF once the mount is ready; logs go
      // to --log-file or syslog, never to a terminal that may be gone.
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
      if (null > 2) ::close(null);
    }
  }
  int rc = server.serve();
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

}  // namespace

int cmd_mount(const MountArgs& args) {
  MountArgs a = args;
  if (a.hub) {
    // `hffs mount --hub MOUNTPOINT`: the one positional is the mountpoint.
    if (a.mountpoint.empty()) std::swap(a.mountpoint, a.repo);
    if (!a.repo.empty()) {
      std::cerr << "hffs: --hub serves every repository; give only the mountpoint\n";
      return kExitUsage;
    }
  } else if (a.mountpoint.empty()) {
    std::cerr << "hffs: mount needs REPO and MOUNTPOINT (or --hub MOUNTPOINT)\n";
    return kExitUsage;
  }
  auto repo = a.hub ? Result<hubapi::RepoId>(hubapi::RepoId{}) : parse_repo_cli(a.repo, a.repo_type);
  if (!repo) {
    std::cerr << "hffs: " << repo.status().message() << "\n";
    return kExitUsage;
  }
  if (!a.hub) {
    if (auto s = hubapi::validate_revision(a.revision); !s) {
      std::cerr << "hffs: " << s.message() << "\n";
      return kExitUsage;
    }
  }
  // The daemon runs in "/": every relative path it will open is made absolute now.
  absolutize_paths(a);
  std::string mp;
  if (auto s = check_mountpoint(a.mountpoint, &mp); !s) {
    std::cerr << "hffs: " << s.message() << "\n";
    return kExitMountpoint;
  }
  bool foreground = a.foreground || a.debug_fuse;
  if (foreground) {
    Reporter rep(-1);
    return run(a, *repo, mp, rep, true);
  }

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::perror("hffs: pipe");
    return kExitError;
  }
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("hffs: fork");
    return kExitError;
  }
  if (pid == 0) {
    ::close(fds[0]);
    // Die with the waiting parent until the mount serves (cleared in run()); the parent may have
    // died before prctl: then getppid() is no longer it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) std::_Exit(kExitError);
    ::setsid();
    if (::chdir("/") != 0) { /* keep going: cwd only matters for busy unmounts */
    }
    Reporter rep(fds[1], parent);
    int rc = run(a, *repo, mp, rep, false);
    std::_Exit(rc);
  }
  ::close(fds[1]);
  std::string msg;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) msg.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
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

}  // namespace hffs::cli
