// The failover policy of an ordered list of endpoints (CernVM-FS style): which failures move a
// request to the next endpoint, which endpoints a request tries in which order, the health of each
// host (put aside after a failure, probed after a back-off that doubles, back in front once it
// answers), and which endpoints do not serve a repo or commit (a mirror that lags or lacks it).
// Pure bookkeeping: no network, an injectable clock; HubClient (hub_client.cc) drives it.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/byte_sink.h"
#include "common/status.h"
#include "hubapi/hub_config.h"

namespace hffs::hubapi {

// How one endpoint's failure is judged.
enum class Verdict {
  kHostFailure,  // the host cannot serve now (connect/TLS, timeout, stall, 5xx, 429, garbage)
  kNotHere,      // the endpoint does not serve this repo or commit (skipped for it), unless it served
                 // it before: then it is a real answer
  kAnswer,       // a real answer (missing file, bad input, the caller's sink): returned as is
};
Verdict classify(Errc code);
// A repo-level refusal (kNotHere) that concerns only one commit of the repo.
inline bool commit_level(Errc code) { return code == Errc::kRevisionNotFound; }

struct FailoverOptions {
  std::chrono::milliseconds backoff{2'000};
  std::chrono::milliseconds backoff_max{120'000};
  // How long "this endpoint does not serve this repo/commit" is believed (a mirror catches up).
  std::chrono::milliseconds skip_for{600'000};
};

class EndpointSet {
 public:
  using SteadyNow = std::function<std::chrono::steady_clock::time_point()>;
  EndpointSet(std::vector<EndpointSpec> endpoints, FailoverOptions opts, SteadyNow now = nullptr);

  size_t size() const { return urls_.size(); }
  const std::string& url(size_t i) const { return urls_[i]; }

  // One endpoint to try, and whether it was put aside when chosen (then only because every
  // endpoint that serves the repo is).
  struct Choice {
    size_t index = 0;
    bool was_down = false;
  };
  // The endpoints a request for `repo` at `rev` tries, in order: those up in preference order,
  // then those down (so that a request still has somewhere to go when every host failed), never
  // one that said it does not serve the repo or that commit.
  std::vector<Choice> order(std::string_view repo, std::string_view rev) const;

  // A request succeeded on endpoint i; when it had been put aside and was tried deliberately
  // (`was_down`), it is back. `content`: it served bytes of the repo (and commit), so a refusal
  // from it later is its real answer (the Hub shows a gated repo's metadata to anyone: only
  // content tells an endpoint that serves the repo from a mirror that refuses it).
  void on_success(size_t i, bool was_down, std::string_view repo, std::string_view rev, bool content = true);
  // A request failed on endpoint i with `s`: what to do with the request. A host failure puts the
  // endpoint aside (logged and counted once, not per request); a refusal of a repo it never served
  // skips it for that repo (or commit).
  Verdict on_failure(size_t i, const Status& s, std::string_view repo, std::string_view rev);

  // Endpoints put aside whose back-off has passed (the prober tries them now). Each is handed out
  // once per back-off period.
  std::vector<size_t> due_for_probe();
  // The outcome of a probe: alive puts the endpoint back in front; dead doubles its back-off.
  void on_probe(size_t i, bool alive, const std::string& why);
  // The earliest time a probe is due (nullopt: every endpoint is up).
  std::optional<std::chrono::steady_clock::time_point> next_probe() const;

  // The refusals on record for `repo` at `rev` (endpoints skipped for it, with what they said).
  std::vector<std::pair<size_t, Status>> refusals(std::string_view repo, std::string_view rev) const;

  // Where new requests go now (nullopt: every endpoint is down).
  std::optional<size_t> serving() const;
  std::vector<EndpointHealth> health() const;
  std::vector<FailoverCount> failovers() const;

 private:
  struct Host {
    bool up = true;
    uint64_t failures = 0;
    std::string last_error;
    std::chrono::milliseconds backoff{0};
    std::chrono::steady_clock::time_point probe_at{};
    bool probing = false;
    struct Skip {
      std::chrono::steady_clock::time_point until;
      Status said;
    };
    // repo key or repo key + '@' + commit -> until when it is skipped (and why) / known to serve
    std::unordered_map<std::string, Skip> skipped;
    std::unordered_map<std::string, bool> served;
  };
  static std::string commit_key(std::string_view repo, std::string_view rev);
  bool skipped_locked(const Host& h, std::string_view repo, std::string_view rev) const;
  // Recomputes the serving endpoint after a health change; logs and counts a switch.
  void reroute_locked(const std::string& why);

  std::vector<std::string> urls_;
  std::vector<bool> sends_token_;
  FailoverOptions opts_;
  SteadyNow now_;
  mutable std::mutex mu_;
  std::vector<Host> hosts_;
  std::optional<size_t> serving_;
  std::vector<std::vector<uint64_t>> switches_;  // [from][to]
};

// Offsets a resumed read: the endpoint that takes over writes from 0 of what is still missing;
// `reached` is how far it got (pieces arrive in order).
class ResumeSink final : public ByteSink {
 public:
  ResumeSink(ByteSink& out, uint64_t base) : out_(out), base_(base) {}
  bool put(uint64_t at, std::span<const char> data) override {
    if (!out_.put(base_ + at, data)) return false;
    if (at + data.size() > reached_) reached_ = at + data.size();
    return true;
  }
  uint64_t reached() const { return reached_; }

 private:
  ByteSink& out_;
  uint64_t base_;
  uint64_t reached_ = 0;
};

// One operation over the endpoints: `attempt(i, cap)` runs it on endpoint i, bounded by `cap`.
struct FailoverOp {
  std::string repo;  // the repo's key (type and id)
  std::string rev;   // the revision or commit asked for
  std::string what;  // for messages: "bytes 0-99 of 'x' in org/name@abc..."
  std::chrono::steady_clock::time_point give_up_at;  // no new attempt after this
  std::chrono::steady_clock::time_point cap;         // bound of each attempt
  bool content = false;  // the operation reads file bytes (EndpointSet::on_success)
  // Advanced by the attempts as bytes arrive (reads): a round that moved it is not waited after.
  const uint64_t* progress = nullptr;
};
using Attempt = std::function<Status(size_t endpoint, std::optional<std::chrono::steady_clock::time_point> cap)>;

// Runs `op` on the endpoints in the order the set gives until one succeeds or gives a real
// answer. Rounds over the list go on, spaced by a capped backoff, while an endpoint could still
// serve, until give_up_at; then one message names every endpoint and why it failed. When every
// endpoint refused the repo, the most telling refusal. With ONE endpoint: a single attempt with
// no cap (the endpoint retries until its own deadline) and its answer as is. `on_host_failure`
// is called after each host failure (to wake the prober).
Status run_with_failover(EndpointSet& set, const FailoverOp& op, const Attempt& attempt,
                         const std::function<void()>& on_host_failure = nullptr);

}  // namespace hffs::hubapi
