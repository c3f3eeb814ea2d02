// `hffs mount`: pin the revision, list the tree, open the cache, mount, then serve.
// Without -f the command forks; the parent exits only once the mount serves (0) or with the
// child's one-line error and exit code.
#include <fcntl.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <iostream>
#include <string>

#ifdef HFFS_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "cache/block_cache.h"
#include "cli/commands.h"
#include "cli/env.h"
#include "cli/hf_cache.h"
#include "cli/metrics.h"
#include "cli/snapshot_store.h"
#include "cli/mountpoint.h"
#include "fs/filesystem.h"
#include "fs/fuse_adapter.h"
#include "fs/hub_source.h"
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
  explicit Reporter(int fd) : fd_(fd) {}
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
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

// Everything after argument checks; runs in the daemon (or in the foreground).
int run(const MountArgs& a, const hubapi::RepoId& repo, const std::string& mountpoint, Reporter& rep,
        bool foreground) {
  setup_logging(a, foreground);
  HfEnv env = read_hf_env();
  hubapi::HubConfig hc;
  hc.endpoint = a.endpoint.value_or(env.endpoint);
  while (!hc.endpoint.empty() && hc.endpoint.back() == '/') hc.endpoint.pop_back();
  if (a.token) {
    hc.token = clean_token(*a.token);
  } else if (a.token_file) {
    std::ifstream tf(*a.token_file);
    if (!tf) {
      rep.fail({kExitUsage, "cannot read token file " + *a.token_file});
      return 1;
    }
    std::stringstream ts;
    ts << tf.rdbuf();
    hc.token = clean_token(ts.str());
  } else {
    hc.token = env.token;
  }
  if (a.ca_file) hc.ca_file = *a.ca_file;
  hc.op_deadline = std::chrono::milliseconds(static_cast<int64_t>(a.op_deadline_s * 1000));
  spdlog::info("mounting {} '{}' at revision '{}' from {} (token: {})", hubapi::repo_type_name(repo.type), repo.id,
               a.revision, hc.endpoint, hc.token ? (a.token ? "--token" : a.token_file ? *a.token_file : env.token_source) : "none");

  hubapi::HubClient client(hc);
  std::filesystem::path cache_dir = a.cache_dir ? std::filesystem::path(*a.cache_dir) : env.default_cache_dir();
  SnapshotStore views(cache_dir);
  bool offline = a.offline || env.offline;
  hubapi::Snapshot view;
  if (offline) {
    auto v = views.load(repo, a.revision);
    if (!v) {
      rep.fail({kExitNetwork, v.status().message()});
      return 1;
    }
    view = std::move(*v);
    spdlog::info("offline: mounting the kept view of commit {}", view.info.sha);
  } else {
    auto info = client.repo_info(repo, a.revision);
    Result<std::vector<hubapi::TreeEntry>> tree = Status(Errc::kCancelled, "");
    if (info) tree = client.list_tree(repo, info->sha);
    Status failed = !info ? info.status() : !tree ? tree.status() : Status::ok();
    if (!failed) {
      auto kept = views.load(repo, a.revision);
      bool transient = failed.code() == Errc::kNetwork || failed.code() == Errc::kTimeout ||
                       failed.code() == Errc::kServer || failed.code() == Errc::kRateLimited;
      if (!transient || !kept) {
        rep.fail(hub_failure(failed, repo, a.revision, hc.endpoint, hc.token.has_value()));
        return 1;
      }
      spdlog::warn("Hub unavailable ({}); mounting the view of commit {} kept from an earlier mount",
                   failed.to_string(), kept->info.sha);
      view = std::move(*kept);
    } else {
      view = hubapi::Snapshot{repo, std::move(*info), std::move(*tree)};
      if (auto s = views.save(view, a.revision); !s) spdlog::warn("cannot keep the view for offline use: {}", s.to_string());
    }
  }
  const hubapi::RepoInfo* info = &view.info;
  auto ns = fs::Namespace::build(view.tree);
  if (!ns) {
    rep.fail({kExitError, "the Hub sent a tree hffs refuses to mount: " + ns.status().message()});
    return 1;
  }
  spdlog::info("pinned {}@{} to commit {}: {} files, {} bytes", repo.id, a.revision, info->sha, ns->file_count(),
               ns->total_bytes());

  fs::HubOrigin hub_origin(client, repo, info->sha);
  fs::OfflineOrigin offline_origin;
  fs::FileOrigin& origin = offline ? static_cast<fs::FileOrigin&>(offline_origin) : hub_origin;
  auto local = find_hf_cache_copies(env.hub_cache, repo, info->sha, *ns);
  // Gated repos show their metadata to everyone; only content needs access. Probe one byte so
  // the user learns at mount time, not at the first read.
  if (!offline && !info->gated.empty()) {
    for (uint64_t ino = 1; ino <= ns->inode_count(); ++ino) {
      const fs::Inode* n = ns->get(ino);
      if (n->is_dir || n->size == 0) continue;
      char b;
      if (auto s = origin.fetch(*n, 0, std::span<char>(&b, 1)); !s) {
        rep.fail(hub_failure(s, repo, a.revision, hc.endpoint, hc.token.has_value()));
        return 1;
      }
      break;
    }
  }

  cache::CacheConfig cc;
  cc.dir = cache_dir;
  auto cache = cache::BlockCache::open(cc);
  if (!cache) {
    rep.fail({kExitCache, "cannot use cache directory " + cc.dir.string() + ": " + cache.status().message() +
                              " (choose another with --cache-dir)"});
    return 1;
  }

  fs::FsConfig fc;
  fc.uid = ::getuid();
  fc.gid = ::getgid();
  fc.mtime = info->last_modified_epoch;
  fc.repo = std::string(hubapi::repo_type_name(repo.type)) + ":" + repo.id;
  fc.revision = a.revision;
  fc.commit = info->sha;
  fs::PrefetchConfig pc;
  pc.enabled = !a.no_prefetch;
  pc.part_size = uint64_t{a.part_mib} << 20;
  pc.first_window = pc.part_size;
  pc.max_inflight_bytes = std::max<uint64_t>(uint64_t{a.max_inflight_mib} << 20, pc.part_size);
  pc.workers = static_cast<unsigned>(std::clamp<uint64_t>(pc.max_inflight_bytes / pc.part_size, 1, 64));
  fs::Filesystem filesystem(std::move(*ns), **cache, origin, fc, pc);
  for (auto& [ino, path] : local) filesystem.add_local_copy(ino, std::move(path));
  if (!local.empty()) spdlog::info("{} files served from the Hugging Face cache at {}", local.size(), env.hub_cache.string());

  MountIdentity ident{mountpoint, repo_display(repo), a.revision, info->sha, hc.endpoint};
  const cache::BlockCache& cache_ref = **cache;
  const hubapi::HubClient* hub_ref = offline ? nullptr : &client;
  filesystem.set_metrics_provider(
      [&filesystem, &cache_ref, hub_ref, ident] { return render_metrics(ident, filesystem, cache_ref, hub_ref); });
  MetricsWriter metrics_writer(a.metrics_file, [&] { return render_metrics(ident, filesystem, cache_ref, hub_ref); });

  fs::FuseOptions fo;
  fo.mount_options = a.fuse_options;
  fo.fsname = "hffs:" + repo.id;
  fo.debug = a.debug_fuse;
  fo.read_ahead_kb = a.read_ahead_kb;
  fs::FuseServer server(filesystem, fo);
  if (auto s = server.mount(mountpoint); !s) {
    rep.fail({kExitMountpoint, s.message()});
    return 1;
  }
  spdlog::info("mounted at {}", mountpoint);
  rep.ready();
#ifdef HFFS_HAVE_SYSTEMD
  sd_notifyf(0, "READY=1\nSTATUS=serving %s@%s at %s", repo.id.c_str(), info->sha.c_str(), mountpoint.c_str());
#endif
  if (!foreground) {
    // Detach from the terminal now that the parent has its answer.
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 0);
      ::dup2(null, 1);
      if (!a.log_file) ::dup2(null, 2);
      if (null > 2) ::close(null);
    }
  }
  int rc = server.serve();
  spdlog::info("unmounted {}", mountpoint);
  return rc;
}

}  // namespace

int cmd_mount(const MountArgs& a) {
  std::optional<hubapi::RepoType> type;
  if (a.repo_type) {
    auto t = hubapi::parse_repo_type(*a.repo_type);
    if (!t) {
      std::cerr << "hffs: " << t.status().message() << "\n";
      return kExitUsage;
    }
    type = *t;
  }
  auto repo = hubapi::parse_repo_arg(a.repo, type);
  if (!repo) {
    std::cerr << "hffs: invalid repository '" << a.repo << "': " << repo.status().message() << "\n";
    return kExitUsage;
  }
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
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("hffs: fork");
    return kExitError;
  }
  if (pid == 0) {
    ::close(fds[0]);
    ::setsid();
    if (::chdir("/") != 0) { /* keep going: cwd only matters for busy unmounts */
    }
    Reporter rep(fds[1]);
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
