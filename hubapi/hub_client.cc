// HubClient: the endpoints of the list, each behind its own EndpointClient, and the loop that
// moves an operation from one to the next as failover.h decides, plus the background prober
// that brings a failed endpoint back.
#include "hubapi/hub_client.h"

#include <condition_variable>
#include <thread>

#include <spdlog/spdlog.h>

#include "hubapi/errors.h"
#include "hubapi/failover.h"
#include "hubapi/token_source.h"

namespace hffs::hubapi {

using std::chrono::milliseconds;

std::vector<EndpointSpec> HubConfig::endpoints() const {
  std::vector<EndpointSpec> all{{endpoint, endpoint_sends_token}};
  all.insert(all.end(), fallback_endpoints.begin(), fallback_endpoints.end());
  return all;
}

void HubConfig::set_endpoints(const std::vector<EndpointSpec>& list) {
  if (list.empty()) return;
  endpoint = list.front().url;
  endpoint_sends_token = list.front().send_token;
  fallback_endpoints.assign(list.begin() + 1, list.end());
}

namespace {

std::string repo_key(const RepoId& repo) { return std::string(repo_type_name(repo.type)) + ":" + repo.id; }

constexpr milliseconds kProbeTimeout{5'000};

}  // namespace

struct HubClient::Impl {
  HubConfig cfg;
  std::vector<std::unique_ptr<EndpointClient>> eps;
  EndpointSet set;

  struct Target {
    RepoId repo;
    std::string commit;
  };
  std::mutex target_mu;
  std::optional<Target> probe_target;  // the last repo at a commit an endpoint served

  std::mutex probe_mu;
  std::condition_variable probe_cv;
  bool stopping = false;
  bool kicked = false;
  std::thread prober;

  explicit Impl(HubConfig c)
      : cfg(std::move(c)), set(cfg.endpoints(), FailoverOptions{cfg.endpoint_backoff, cfg.endpoint_backoff_max}) {
    // One token for every endpoint (a token file is looked at once, not once per endpoint).
    if (!cfg.token_source) cfg.token_source = TokenSource::fixed(cfg.token);
    const auto list = cfg.endpoints();
    const bool several = list.size() > 1;
    for (const EndpointSpec& e : list) {
      HubConfig one = cfg;
      one.endpoint = e.url;
      one.endpoint_sends_token = e.send_token;
      one.fallback_endpoints.clear();
      eps.push_back(std::make_unique<EndpointClient>(std::move(one), several));
    }
    cfg.endpoint = eps.front()->endpoint();
    if (several) prober = std::thread([this] { probe_loop(); });
  }

  ~Impl() {
    {
      std::lock_guard lk(probe_mu);
      stopping = true;
    }
    probe_cv.notify_all();
    if (prober.joinable()) prober.join();
  }

  void kick_prober() {
    {
      std::lock_guard lk(probe_mu);
      kicked = true;
    }
    probe_cv.notify_all();
  }

  void served(const RepoId& repo, std::string_view commit) {
    std::lock_guard lk(target_mu);
    if (!probe_target || probe_target->commit != commit || !(probe_target->repo == repo))
      probe_target = Target{repo, std::string(commit)};
  }

  // One probe of a failed endpoint: the repo info of something it served, or of the last repo
  // any endpoint served. Any answer that is not a host failure means it is back.
  void probe(size_t i) {
    std::optional<Target> t;
    {
      std::lock_guard lk(target_mu);
      t = probe_target;
    }
    if (!t) {  // nothing served yet: let the next request try it
      set.on_probe(i, true, "");
      return;
    }
    auto r = eps[i]->repo_info(t->repo, t->commit, std::chrono::steady_clock::now() + kProbeTimeout);
    bool alive = r.ok() || classify(r.status().code()) != Verdict::kHostFailure;
    spdlog::debug("hubapi: probe of {}: {}", set.url(i), alive ? "answers" : r.status().message());
    set.on_probe(i, alive, alive ? "" : r.status().message());
  }

  void probe_loop() {
    std::unique_lock lk(probe_mu);
    while (!stopping) {
      auto next = set.next_probe();
      kicked = false;
      if (next) probe_cv.wait_until(lk, *next, [&] { return stopping || kicked; });
      else probe_cv.wait(lk, [&] { return stopping || kicked; });
      if (stopping) break;
      auto due = set.due_for_probe();
      lk.unlock();
      for (size_t i : due) probe(i);
      lk.lock();
    }
  }

  // One operation over the endpoints (failover.h); a success names the probe target.
  Status run(const RepoId& repo, std::string_view rev, std::string what, Clock::time_point give_up_at,
             Clock::time_point cap, const std::function<Status(EndpointClient&, std::optional<Clock::time_point>)>& op,
             const uint64_t* progress = nullptr) {
    FailoverOp fo{repo_key(repo), std::string(rev), std::move(what), give_up_at, cap, progress != nullptr, progress};
    Status s = run_with_failover(
        set, fo, [&](size_t i, std::optional<Clock::time_point> c) { return op(*eps[i], c); },
        [this] { kick_prober(); });
    if (s && eps.size() > 1) served(repo, rev);
    return s;
  }

  // The endpoint a request for `repo` at `commit` goes to first now (the preferred when none can).
  EndpointClient& serving_for(const RepoId& repo, std::string_view commit) const {
    if (eps.size() == 1) return *eps[0];
    auto order = set.order(repo_key(repo), commit);
    return *eps[order.empty() ? 0 : order.front().index];
  }
};

HubClient::HubClient(HubConfig cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}
HubClient::~HubClient() = default;

const HubConfig& HubClient::config() const { return impl_->cfg; }

Result<RepoInfo> HubClient::repo_info(const RepoId& repo, std::string_view revision) {
  Impl& m = *impl_;
  const auto give_up = Clock::now() + m.cfg.op_deadline;
  std::optional<RepoInfo> info;
  Status s = m.run(repo, revision, "the info of " + repo_display(repo) + " at '" + sanitize_for_message(revision, 100) + "'",
                   give_up, give_up, [&](EndpointClient& e, std::optional<Clock::time_point> cap) {
                     auto r = e.repo_info(repo, revision, cap);
                     if (!r) return r.status();
                     info = std::move(r).value();
                     return Status::ok();
                   });
  if (!s) return s;
  return std::move(*info);
}

Result<std::vector<std::string>> HubClient::tag_names(const RepoId& repo) {
  Impl& m = *impl_;
  const auto give_up = Clock::now() + m.cfg.op_deadline;
  std::optional<std::vector<std::string>> tags;
  Status s = m.run(repo, "", "the tags of " + repo_display(repo), give_up, give_up,
                   [&](EndpointClient& e, std::optional<Clock::time_point> cap) {
                     auto r = e.tag_names(repo, cap);
                     if (!r) return r.status();
                     tags = std::move(r).value();
                     return Status::ok();
                   });
  if (!s) return s;
  return std::move(*tags);
}

Result<std::vector<TreeEntry>> HubClient::list_tree(const RepoId& repo, std::string_view commit) {
  auto r = list_tree(repo, commit, ListRequest{});
  if (!r) return r.status();
  return std::move(r->entries);
}

Result<Listing> HubClient::list_tree(const RepoId& repo, std::string_view commit, const ListRequest& req) {
  Impl& m = *impl_;
  const auto start = Clock::now();
  std::optional<Listing> tree;
  std::string what = "the file list of " + repo_display(repo) + "@" + sanitize_for_message(commit, 64);
  if (!req.dir.empty()) what += " in '" + sanitize_for_message(req.dir, 100) + "'";
  Status s = m.run(repo, commit, what, start + m.cfg.op_deadline, start + m.cfg.listing_deadline,
                   [&](EndpointClient& e, std::optional<Clock::time_point> cap) {
                     auto r = e.list_tree(repo, commit, req, cap);
                     if (!r) return r.status();
                     tree = std::move(r).value();
                     return Status::ok();
                   });
  if (!s) return s;
  return std::move(*tree);
}

Status HubClient::read_range_to(const RepoId& repo, std::string_view commit, std::string_view path,
                                uint64_t expected_size, uint64_t offset, uint64_t len, ByteSink& sink,
                                bool regular) {
  Impl& m = *impl_;
  const auto give_up = Clock::now() + m.cfg.op_deadline;
  uint64_t done = 0;  // bytes already in the sink, from whichever endpoint sent them
  return m.run(repo, commit,
               "bytes " + std::to_string(offset) + "-" + std::to_string(offset + len - (len ? 1 : 0)) + " of '" +
                   sanitize_for_message(path, 200) + "' in " + repo_display(repo) + "@" + sanitize_for_message(commit, 64),
               give_up, give_up, [&](EndpointClient& e, std::optional<Clock::time_point> cap) {
                 ResumeSink rs(sink, done);
                 Status s = e.read_range_to(repo, commit, path, expected_size, offset + done, len - done, rs, cap,
                                                   regular);
                 done += rs.reached();
                 return s;
               },
               &done);
}

HubStats HubClient::stats() const {
  HubStats s;
  s.endpoints = impl_->set.health();  // one per endpoint client, in the same order
  for (size_t i = 0; i < impl_->eps.size(); ++i) {
    HubStats one = impl_->eps[i]->stats();
    if (i < s.endpoints.size()) {
      s.endpoints[i].bytes = one.bytes_received;
      s.endpoints[i].site_cache_hit_bytes = one.site_cache_hit_bytes;
      s.endpoints[i].site_cache_miss_bytes = one.site_cache_miss_bytes;
    }
    s.site_cache_hit_bytes += one.site_cache_hit_bytes;
    s.site_cache_miss_bytes += one.site_cache_miss_bytes;
    s.api_requests += one.api_requests;
    s.resolve_requests += one.resolve_requests;
    s.data_requests += one.data_requests;
    s.retries += one.retries;
    s.bytes_received += one.bytes_received;
    s.errors += one.errors;
    s.http_downgrades_refused += one.http_downgrades_refused;
  }
  s.failovers = impl_->set.failovers();
  return s;
}

std::string HubClient::file_url(const RepoId& repo, std::string_view commit, std::string_view path) const {
  return impl_->serving_for(repo, commit).file_url(repo, commit, path);
}

void HubClient::forget_location(const RepoId& repo, std::string_view commit, std::string_view path) {
  for (auto& e : impl_->eps) e->forget_location(repo, commit, path);
}

std::string HubClient::location_origin(const RepoId& repo, std::string_view commit, std::string_view path) const {
  return impl_->serving_for(repo, commit).location_origin(repo, commit, path);
}

void HubClient::set_wall_clock_for_testing(std::function<int64_t()> now_epoch_seconds) {
  for (auto& e : impl_->eps) e->set_wall_clock_for_testing(now_epoch_seconds);
}

}  // namespace hffs::hubapi
