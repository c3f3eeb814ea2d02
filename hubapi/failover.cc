#include "hubapi/failover.h"

#include <algorithm>
#include <thread>

#include <spdlog/spdlog.h>

#include "hubapi/retry.h"

namespace hffs::hubapi {

namespace {

constexpr size_t kMaxRepoMarks = 100'000;  // per endpoint; beyond it the marks start over

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

// Every endpoint that could serve failed until the deadline: one line naming each and why.
Status exhausted(const EndpointSet& set, const std::vector<std::optional<Status>>& last, const std::string& what) {
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
Status refused(const EndpointSet& set, const FailoverOp& op) {
  auto all = set.refusals(op.repo, op.rev);
  if (all.empty()) return Status(Errc::kRepoNotFound, "no endpoint serves " + op.what);
  size_t best = 0;
  for (size_t k = 1; k < all.size(); ++k)
    if (refusal_rank(all[k].second.code()) > refusal_rank(all[best].second.code())) best = k;
  std::string msg = all[best].second.message();
  for (size_t k = 0; k < all.size(); ++k)
    if (k != best) msg += "; " + set.url(all[k].first) + " said: " + all[k].second.message();
  return Status(all[best].second.code(), msg);
}

}  // namespace

Status run_with_failover(EndpointSet& set, const FailoverOp& op, const Attempt& attempt,
                         const std::function<void()>& on_host_failure) {
  if (set.size() == 1) {  // one endpoint: its own retries until its deadline, its answer
    Status s = attempt(0, std::nullopt);
    if (s) set.on_success(0, true, op.repo, op.rev, op.content);
    else set.on_failure(0, s, op.repo, op.rev);
    return s;
  }
  std::vector<std::optional<Status>> last(set.size());
  for (int round = 0;; ++round) {
    const uint64_t before = op.progress ? *op.progress : 0;
    auto order = set.order(op.repo, op.rev);
    if (order.empty()) return refused(set, op);
    for (const auto& c : order) {
      if (std::chrono::steady_clock::now() >= op.give_up_at) return exhausted(set, last, op.what);
      Status s = attempt(c.index, op.cap);
      if (s) {
        set.on_success(c.index, c.was_down, op.repo, op.rev, op.content);
        return s;
      }
      Verdict v = set.on_failure(c.index, s, op.repo, op.rev);
      if (v == Verdict::kAnswer) return s;
      last[c.index] = s;
      if (v == Verdict::kHostFailure && on_host_failure) on_host_failure();
    }
    // Every endpoint that could serve failed this round: unless bytes came in, wait a little, then
    // go round again.
    if (op.progress && *op.progress != before) {
      round = -1;
      continue;
    }
    if (set.order(op.repo, op.rev).empty()) return refused(set, op);
    auto delay = backoff_delay(RetryPolicy{0, std::chrono::milliseconds(250), std::chrono::milliseconds(2'000)},
                               round, 0.5 + 0.5 * default_unit_rng());
    if (std::chrono::steady_clock::now() + delay >= op.give_up_at) return exhausted(set, last, op.what);
    std::this_thread::sleep_for(delay);
  }
}

Verdict classify(Errc code) {
  switch (code) {
    case Errc::kNetwork:
    case Errc::kTimeout:
    case Errc::kServer:
    case Errc::kRateLimited:
    case Errc::kProtocol:
      return Verdict::kHostFailure;
    case Errc::kRepoNotFound:
    case Errc::kRevisionNotFound:
    case Errc::kGated:
    case Errc::kUnauthorized:
    case Errc::kForbidden:
      return Verdict::kNotHere;
    default:
      return Verdict::kAnswer;
  }
}

EndpointSet::EndpointSet(std::vector<EndpointSpec> endpoints, FailoverOptions opts, SteadyNow now)
    : opts_(opts), now_(now ? std::move(now) : SteadyNow(&std::chrono::steady_clock::now)) {
  for (auto& e : endpoints) {
    urls_.push_back(e.url);
    sends_token_.push_back(e.send_token);
  }
  hosts_.resize(urls_.size());
  switches_.assign(urls_.size(), std::vector<uint64_t>(urls_.size(), 0));
  if (!urls_.empty()) serving_ = 0;
}

std::string EndpointSet::commit_key(std::string_view repo, std::string_view rev) {
  std::string k(repo);
  k += '@';
  k += rev;
  return k;
}

bool EndpointSet::skipped_locked(const Host& h, std::string_view repo, std::string_view rev) const {
  if (h.skipped.empty()) return false;
  auto now = now_();
  for (const std::string& k : {std::string(repo), commit_key(repo, rev)}) {
    auto it = h.skipped.find(k);
    if (it != h.skipped.end() && it->second.until > now) return true;
  }
  return false;
}

std::vector<EndpointSet::Choice> EndpointSet::order(std::string_view repo, std::string_view rev) const {
  std::lock_guard lk(mu_);
  std::vector<Choice> out;
  for (int pass = 0; pass < 2; ++pass)
    for (size_t i = 0; i < hosts_.size(); ++i)
      if (hosts_[i].up == (pass == 0) && !skipped_locked(hosts_[i], repo, rev)) out.push_back({i, pass == 1});
  return out;
}

void EndpointSet::on_success(size_t i, bool was_down, std::string_view repo, std::string_view rev, bool content) {
  std::lock_guard lk(mu_);
  Host& h = hosts_[i];
  if (content && urls_.size() > 1) {  // one endpoint is never skipped: nothing to remember
    if (h.served.size() >= kMaxRepoMarks) h.served.clear();
    h.served.try_emplace(std::string(repo), true);
    h.served.try_emplace(commit_key(repo, rev), true);
  }
  if (was_down && !h.up) {
    h.up = true;
    h.last_error.clear();
    h.backoff = std::chrono::milliseconds(0);
    reroute_locked("it answered again");
  }
}

Verdict EndpointSet::on_failure(size_t i, const Status& s, std::string_view repo, std::string_view rev) {
  Verdict v = classify(s.code());
  std::lock_guard lk(mu_);
  Host& h = hosts_[i];
  if (v == Verdict::kNotHere) {
    if (urls_.size() == 1) return Verdict::kAnswer;  // nowhere else to go: its answer stands
    bool commit = commit_level(s.code());
    std::string key = commit ? commit_key(repo, rev) : std::string(repo);
    if (h.served.count(key)) return Verdict::kAnswer;  // it serves the repo: this is its answer
    if (h.skipped.size() >= kMaxRepoMarks) h.skipped.clear();
    auto [it, fresh] = h.skipped.insert_or_assign(key, Host::Skip{now_() + opts_.skip_for, s});
    (void)it;
    if (fresh)
      spdlog::info("hubapi: {} does not serve {}{}{} ({}); other endpoints serve it", urls_[i], repo,
                   commit ? "@" : "", commit ? rev : "", errc_name(s.code()));
    return v;
  }
  if (v != Verdict::kHostFailure) return v;
  ++h.failures;
  if (h.up) {
    h.up = false;
    h.last_error = s.message().substr(0, 300);
    h.backoff = opts_.backoff;
    h.probe_at = now_() + h.backoff;
    reroute_locked(h.last_error);
  }
  return v;
}

void EndpointSet::reroute_locked(const std::string& why) {
  std::optional<size_t> next;
  for (size_t i = 0; i < hosts_.size() && !next; ++i)
    if (hosts_[i].up) next = i;
  if (next == serving_) return;
  if (urls_.size() > 1) {
    if (serving_ && next) {
      ++switches_[*serving_][*next];
      if (*next < *serving_)
        spdlog::warn("hubapi: endpoint {} answers again: new requests go back to it (from {})", urls_[*next],
                     urls_[*serving_]);
      else
        spdlog::warn("hubapi: endpoint {} failed ({}): new requests go to {}", urls_[*serving_], why, urls_[*next]);
    } else if (!next) {
      spdlog::error("hubapi: every endpoint is failing (last: {}); requests try each of them in turn", why);
    } else {
      spdlog::warn("hubapi: endpoint {} answers again: new requests go to it", urls_[*next]);
    }
  }
  serving_ = next;
}

std::vector<size_t> EndpointSet::due_for_probe() {
  std::lock_guard lk(mu_);
  std::vector<size_t> due;
  auto now = now_();
  for (size_t i = 0; i < hosts_.size(); ++i) {
    Host& h = hosts_[i];
    if (!h.up && !h.probing && h.probe_at <= now) {
      h.probing = true;
      due.push_back(i);
    }
  }
  return due;
}

void EndpointSet::on_probe(size_t i, bool alive, const std::string& why) {
  std::lock_guard lk(mu_);
  Host& h = hosts_[i];
  h.probing = false;
  if (h.up) return;  // a request brought it back meanwhile
  if (alive) {
    h.up = true;
    h.last_error.clear();
    h.backoff = std::chrono::milliseconds(0);
    reroute_locked("probe answered");
    return;
  }
  h.last_error = why.substr(0, 300);
  h.backoff = std::min(opts_.backoff_max, std::max(opts_.backoff, h.backoff * 2));
  h.probe_at = now_() + h.backoff;
}

std::optional<std::chrono::steady_clock::time_point> EndpointSet::next_probe() const {
  std::lock_guard lk(mu_);
  std::optional<std::chrono::steady_clock::time_point> t;
  for (const Host& h : hosts_)
    if (!h.up && !h.probing && (!t || h.probe_at < *t)) t = h.probe_at;
  return t;
}

std::vector<std::pair<size_t, Status>> EndpointSet::refusals(std::string_view repo, std::string_view rev) const {
  std::lock_guard lk(mu_);
  std::vector<std::pair<size_t, Status>> out;
  auto now = now_();
  for (size_t i = 0; i < hosts_.size(); ++i)
    for (const std::string& k : {std::string(repo), commit_key(repo, rev)}) {
      auto it = hosts_[i].skipped.find(k);
      if (it != hosts_[i].skipped.end() && it->second.until > now) {
        out.emplace_back(i, it->second.said);
        break;
      }
    }
  return out;
}

std::optional<size_t> EndpointSet::serving() const {
  std::lock_guard lk(mu_);
  return serving_;
}

std::vector<EndpointHealth> EndpointSet::health() const {
  std::lock_guard lk(mu_);
  std::vector<EndpointHealth> out;
  for (size_t i = 0; i < hosts_.size(); ++i) {
    const Host& h = hosts_[i];
    out.push_back({urls_[i], h.up, serving_ == i, sends_token_[i], h.failures, h.up ? "" : h.last_error});
  }
  return out;
}

std::vector<FailoverCount> EndpointSet::failovers() const {
  std::lock_guard lk(mu_);
  std::vector<FailoverCount> out;
  for (size_t a = 0; a < urls_.size(); ++a)
    for (size_t b = 0; b < urls_.size(); ++b)
      if (switches_[a][b]) out.push_back({urls_[a], urls_[b], switches_[a][b]});
  return out;
}

}  // namespace hffs::hubapi
