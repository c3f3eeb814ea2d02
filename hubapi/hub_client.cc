// HubClient: the endpoints of the list, each behind its own EndpointClient, and the loop that
// moves an operation from one to the next as failover.h decides, plus the background prober
// that brings a failed endpoint back.
#include "hubapi/hub_client.h"

#include <algorithm>
#include <condition_variable>
#include <thread>

#include <spdlog/spdlog.h>

#include "hubapi/errors.h"
#include "hubapi/failover.h"
#include "hubapi/retry.h"

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

// Offsets a resumed read: the endpoint that takes over writes from 0 of what is still missing.
class ResumeSink final : public ByteSink {
 public:
  ResumeSink(ByteSink& out, uint64_t base) : out_(out), base_(base) {}
  bool put(uint64_t at, std::span<const char> data) override {
    if (!out_.put(base_ + at, data)) return false;
    reached_ = std::max<uint64_t>(reached_, at + data.size());
    return true;
  }
  uint64_t reached() const { return reached_; }

 private:
  ByteSink& out_;
  uint64_t base_;
  uint64_t reached_ = 0;
};

std::string repo_key(const RepoId& repo) { return std::string(repo_type_name(repo.type)) + ":" + repo.id; }

// The more telling of two refusals when every endpoint refused a repo.
int refusal_rank(Errc c) {
  switch (c) {
    case Errc::kGated: return 5;
    case Errc::kForbidden: return 4;
    case Errc::kUnauthorized: return 3;
    case Errc::kRevisionNotFound: return 2;
    case Errc::kRepoNotFound: return 1;
    default: return 0;
  }
}

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

  // Runs `attempt(endpoint, cap)` on the endpoints in the order the policy gives until one
  // succeeds or gives a real answer. Rounds over the list go on (spaced by a capped backoff)
  // while some endpoint could still serve, until `give_up_at`; `cap` bounds each attempt.
  template <class Attempt>
  Status run(const RepoId& repo, std::string_view rev, const std::string& what, Clock::time_point give_up_at,
             Clock::time_point cap, Attempt&& attempt) {
    const std::string key = repo_key(repo);
    if (eps.size() == 1) {  // one endpoint: its own retries until the deadline, its answer
      Status s = attempt(*eps[0], std::nullopt);
      if (s) set.on_success(0, true, key, rev);
      else set.on_failure(0, s, key, rev);
      return s;
    }
    std::vector<std::optional<Status>> last(eps.size());
    for (int round = 0;; ++round) {
      auto order = set.order(key, rev);
      if (order.empty()) return refused(repo, rev, what);
      for (const auto& c : order) {
        if (Clock::now() >= give_up_at) return exhausted(last, what);
        Status s = attempt(*eps[c.index], cap);
        if (s) {
          set.on_success(c.index, c.was_down, key, rev);
          served(repo, rev);
          return s;
        }
        Verdict v = set.on_failure(c.index, s, key, rev);
        if (v == Verdict::kAnswer) return s;
        last[c.index] = s;
        if (v == Verdict::kHostFailure) kick_prober();
      }
      auto delay = backoff_delay(RetryPolicy{0, milliseconds(250), milliseconds(2'000), milliseconds(0)}, round,
                                 0.5 + 0.5 * default_unit_rng());
      if (Clock::now() + delay >= give_up_at) return exhausted(last, what);
      std::this_thread::sleep_for(delay);
    }
  }

  // Every endpoint that could serve failed until the deadline: one line naming each and why.
  Status exhausted(const std::vector<std::optional<Status>>& last, const std::string& what) const {
    std::string msg = "no endpoint could serve " + what + ":";
    Errc code = Errc::kTimeout;
    for (size_t i = 0; i < last.size(); ++i) {
      msg += (i ? "; " : " ") + set.url(i) + ": ";
      msg += last[i] ? last[i]->message() : std::string("not tried before the deadline");
      if (last[i] && classify(last[i]->code()) == Verdict::kHostFailure) code = last[i]->code();
    }
    return Status(code, msg);
  }

  // Every endpoint refused the repo (or commit): the most telling refusal, naming the others.
  Status refused(const RepoId& repo, std::string_view rev, const std::string& what) const {
    auto all = set.refusals(repo_key(repo), rev);
    if (all.empty()) return Status(Errc::kRepoNotFound, "no endpoint serves " + repo_display(repo) + " (" + what + ")");
    size_t best = 0;
    for (size_t k = 1; k < all.size(); ++k)
      if (refusal_rank(all[k].second.code()) > refusal_rank(all[best].second.code())) best = k;
    std::string msg = all[best].second.message();
    for (size_t k = 0; k < all.size(); ++k)
      if (k != best) msg += "; " + set.url(all[k].first) + " said: " + all[k].second.message();
    return Status(all[best].second.code(), msg);
  }

  EndpointClient& serving() const { return *eps[set.serving().value_or(0)]; }
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

Result<std::vector<TreeEntry>> HubClient::list_tree(const RepoId& repo, std::string_view commit) {
  Impl& m = *impl_;
  const auto start = Clock::now();
  std::optional<std::vector<TreeEntry>> tree;
  Status s = m.run(repo, commit, "the file list of " + repo_display(repo) + "@" + sanitize_for_message(commit, 64),
                   start + m.cfg.op_deadline, start + m.cfg.listing_deadline,
                   [&](EndpointClient& e, std::optional<Clock::time_point> cap) {
                     auto r = e.list_tree(repo, commit, cap);
                     if (!r) return r.status();
                     tree = std::move(r).value();
                     return Status::ok();
                   });
  if (!s) return s;
  return std::move(*tree);
}

Status HubClient::read_range_to(const RepoId& repo, std::string_view commit, std::string_view path,
                                uint64_t expected_size, uint64_t offset, uint64_t len, ByteSink& sink) {
  Impl& m = *impl_;
  const auto give_up = Clock::now() + m.cfg.op_deadline;
  uint64_t done = 0;  // bytes already in the sink, from whichever endpoint sent them
  return m.run(repo, commit,
               "bytes " + std::to_string(offset) + "-" + std::to_string(offset + len - (len ? 1 : 0)) + " of '" +
                   sanitize_for_message(path, 200) + "' in " + repo_display(repo) + "@" + sanitize_for_message(commit, 64),
               give_up, give_up, [&](EndpointClient& e, std::optional<Clock::time_point> cap) {
                 ResumeSink rs(sink, done);
                 Status s = e.read_range_to(repo, commit, path, expected_size, offset + done, len - done, rs, cap);
                 done += rs.reached();
                 return s;
               });
}

HubStats HubClient::stats() const {
  HubStats s;
  for (const auto& e : impl_->eps) {
    HubStats one = e->stats();
    s.api_requests += one.api_requests;
    s.resolve_requests += one.resolve_requests;
    s.data_requests += one.data_requests;
    s.retries += one.retries;
    s.bytes_received += one.bytes_received;
    s.errors += one.errors;
    s.http_downgrades_refused += one.http_downgrades_refused;
  }
  s.endpoints = impl_->set.health();
  s.failovers = impl_->set.failovers();
  return s;
}

std::string HubClient::file_url(const RepoId& repo, std::string_view commit, std::string_view path) const {
  return impl_->serving().file_url(repo, commit, path);
}

void HubClient::forget_location(const RepoId& repo, std::string_view commit, std::string_view path) {
  for (auto& e : impl_->eps) e->forget_location(repo, commit, path);
}

std::string HubClient::location_origin(const RepoId& repo, std::string_view commit, std::string_view path) const {
  return impl_->serving().location_origin(repo, commit, path);
}

void HubClient::set_wall_clock_for_testing(std::function<int64_t()> now_epoch_seconds) {
  for (auto& e : impl_->eps) e->set_wall_clock_for_testing(now_epoch_seconds);
}

}  // namespace hffs::hubapi
