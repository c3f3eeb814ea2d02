// The failover policy (hubapi/failover.h): how each error is judged, the health of each host with
// a fake clock (put aside, probed after a back-off that doubles, back in front), repos a mirror
// does not serve, and the loop that moves a read from one endpoint to the next, driven with the
// fault-injecting source of tests/unit/support as the endpoints.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "hubapi/failover.h"
#include "unit/support/fault_source.h"
#include "unit/support/gen_source.h"
#include "unit/support/pattern.h"

using namespace hffs;
using namespace hffs::hubapi;
using hffs::testing::FaultPlan;
using hffs::testing::FaultSource;
using hffs::testing::GenSource;
using hffs::testing::When;
using Ms = std::chrono::milliseconds;
using Tp = std::chrono::steady_clock::time_point;

namespace {

const std::string kRepo = "model:org/name";
const std::string kCommit(40, 'a');
const std::string kOther(40, 'b');

struct FakeClock {
  Tp t{std::chrono::seconds(1000)};
  EndpointSet::SteadyNow fn() {
    return [this] { return t; };
  }
};

std::vector<EndpointSpec> three() {
  return {{"https://mirror.example", false}, {"https://second.example", true}, {"https://hub.example", true}};
}

FailoverOptions opts() {
  FailoverOptions o;
  o.backoff = Ms(2'000);
  o.backoff_max = Ms(16'000);
  o.skip_for = Ms(600'000);
  return o;
}

std::vector<size_t> indexes(const std::vector<EndpointSet::Choice>& c) {
  std::vector<size_t> out;
  for (auto& x : c) out.push_back(x.index);
  return out;
}

}  // namespace

TEST(FailoverClassify, HostFailuresMoveOnRefusalsSkipAnswersStand) {
  for (Errc e : {Errc::kNetwork, Errc::kTimeout, Errc::kServer, Errc::kRateLimited, Errc::kProtocol})
    EXPECT_EQ(classify(e), Verdict::kHostFailure) << errc_name(e);
  for (Errc e : {Errc::kRepoNotFound, Errc::kRevisionNotFound, Errc::kGated, Errc::kUnauthorized, Errc::kForbidden})
    EXPECT_EQ(classify(e), Verdict::kNotHere) << errc_name(e);
  for (Errc e : {Errc::kEntryNotFound, Errc::kInvalidInput, Errc::kIo, Errc::kCancelled, Errc::kCorrupt})
    EXPECT_EQ(classify(e), Verdict::kAnswer) << errc_name(e);
  EXPECT_TRUE(commit_level(Errc::kRevisionNotFound));
  EXPECT_FALSE(commit_level(Errc::kRepoNotFound));
}

TEST(EndpointSetTest, AHostFailurePutsItAsideOnceAndSwitchesServing) {
  FakeClock clk;
  EndpointSet set(three(), opts(), clk.fn());
  EXPECT_EQ(set.serving(), 0u);
  EXPECT_EQ(indexes(set.order(kRepo, kCommit)), (std::vector<size_t>{0, 1, 2}));

  EXPECT_EQ(set.on_failure(0, Status(Errc::kNetwork, "connection refused"), kRepo, kCommit), Verdict::kHostFailure);
  // Eight readers failing on the same dead host make one switch, not eight.
  for (int k = 0; k < 7; ++k) set.on_failure(0, Status(Errc::kTimeout, "stalled"), kRepo, kCommit);
  EXPECT_EQ(set.serving(), 1u);
  auto order = set.order(kRepo, kCommit);
  EXPECT_EQ(indexes(order), (std::vector<size_t>{1, 2, 0}));  // the down host last, still tried
  EXPECT_TRUE(order.back().was_down);
  auto h = set.health();
  EXPECT_FALSE(h[0].up);
  EXPECT_EQ(h[0].failures, 8u);
  EXPECT_EQ(h[0].last_error, "connection refused");
  EXPECT_FALSE(h[0].sends_token);
  EXPECT_TRUE(h[1].serving);
  auto f = set.failovers();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].from, "https://mirror.example");
  EXPECT_EQ(f[0].to, "https://second.example");
  EXPECT_EQ(f[0].count, 1u);
}

TEST(EndpointSetTest, BackOffDoublesUpToItsCapThenAProbeBringsThePreferredBack) {
  FakeClock clk;
  EndpointSet set(three(), opts(), clk.fn());
  set.on_failure(0, Status(Errc::kServer, "503"), kRepo, kCommit);
  EXPECT_TRUE(set.due_for_probe().empty());
  EXPECT_EQ(set.next_probe(), clk.t + Ms(2'000));
  std::vector<Ms> waits;
  for (int k = 0; k < 5; ++k) {
    clk.t = *set.next_probe();
    auto due = set.due_for_probe();
    ASSERT_EQ(due, (std::vector<size_t>{0}));
    EXPECT_TRUE(set.due_for_probe().empty()) << "a probe in flight is not handed out twice";
    Tp before = clk.t;
    set.on_probe(0, false, "still refused");
    waits.push_back(std::chrono::duration_cast<Ms>(*set.next_probe() - before));
  }
  EXPECT_EQ(waits, (std::vector<Ms>{Ms(4'000), Ms(8'000), Ms(16'000), Ms(16'000), Ms(16'000)}));
  EXPECT_EQ(set.health()[0].last_error, "still refused");
  EXPECT_EQ(set.serving(), 1u);

  clk.t = *set.next_probe();
  ASSERT_EQ(set.due_for_probe(), (std::vector<size_t>{0}));
  set.on_probe(0, true, "");
  EXPECT_EQ(set.serving(), 0u) << "new requests go back to the preferred endpoint";
  EXPECT_FALSE(set.next_probe().has_value());
  EXPECT_EQ(indexes(set.order(kRepo, kCommit)), (std::vector<size_t>{0, 1, 2}));
  auto f = set.failovers();
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].from, "https://mirror.example");  // 0 -> 1, then 1 -> 0
  EXPECT_EQ(f[1].to, "https://mirror.example");

  // A failure after the return starts the back-off from the beginning again.
  set.on_failure(0, Status(Errc::kNetwork, "reset"), kRepo, kCommit);
  EXPECT_EQ(set.next_probe(), clk.t + Ms(2'000));
}

TEST(EndpointSetTest, EveryHostDownThenOneRequestThatGetsThroughBringsItBack) {
  FakeClock clk;
  EndpointSet set({{"http://a", true}, {"http://b", true}}, opts(), clk.fn());
  set.on_failure(0, Status(Errc::kNetwork, "x"), kRepo, kCommit);
  set.on_failure(1, Status(Errc::kNetwork, "y"), kRepo, kCommit);
  EXPECT_FALSE(set.serving().has_value());
  auto order = set.order(kRepo, kCommit);
  ASSERT_EQ(indexes(order), (std::vector<size_t>{0, 1}));
  EXPECT_TRUE(order[0].was_down);
  // A success that had been started before the host went down does not count as its return...
  set.on_success(1, false, kRepo, kCommit);
  EXPECT_FALSE(set.health()[1].up);
  // ...one that chose it while it was down does.
  set.on_success(1, true, kRepo, kCommit);
  EXPECT_EQ(set.serving(), 1u);
}

TEST(EndpointSetTest, AMirrorWithoutTheRepoIsSkippedForThatRepoOnly) {
  FakeClock clk;
  EndpointSet set(three(), opts(), clk.fn());
  EXPECT_EQ(set.on_failure(0, Status(Errc::kRepoNotFound, "not on the mirror"), kRepo, kCommit), Verdict::kNotHere);
  EXPECT_EQ(indexes(set.order(kRepo, kCommit)), (std::vector<size_t>{1, 2}));
  EXPECT_EQ(indexes(set.order(kRepo, kOther)), (std::vector<size_t>{1, 2})) << "any commit of that repo";
  EXPECT_EQ(indexes(set.order("model:org/else", kCommit)), (std::vector<size_t>{0, 1, 2}));
  EXPECT_TRUE(set.health()[0].up) << "a refusal is not a host failure";
  EXPECT_EQ(set.serving(), 0u);
  auto r = set.refusals(kRepo, kCommit);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].second.code(), Errc::kRepoNotFound);
  // The mirror may catch up: the skip is believed for skip_for only.
  clk.t += Ms(600'001);
  EXPECT_EQ(indexes(set.order(kRepo, kCommit)), (std::vector<size_t>{0, 1, 2}));
}

TEST(EndpointSetTest, ALaggingMirrorIsSkippedForTheCommitItLacksOnly) {
  FakeClock clk;
  EndpointSet set(three(), opts(), clk.fn());
  set.on_success(0, false, kRepo, kOther);  // it serves the repo at an older commit
  EXPECT_EQ(set.on_failure(0, Status(Errc::kRevisionNotFound, "Invalid rev id"), kRepo, kCommit), Verdict::kNotHere);
  EXPECT_EQ(indexes(set.order(kRepo, kCommit)), (std::vector<size_t>{1, 2}));
  EXPECT_EQ(indexes(set.order(kRepo, kOther)), (std::vector<size_t>{0, 1, 2}));
}

TEST(EndpointSetTest, ARefusalFromAnEndpointThatServesTheRepoIsARealAnswer) {
  FakeClock clk;
  EndpointSet set(three(), opts(), clk.fn());
  set.on_success(2, false, kRepo, kCommit);
  EXPECT_EQ(set.on_failure(2, Status(Errc::kGated, "not approved"), kRepo, kCommit), Verdict::kAnswer);
  EXPECT_EQ(set.on_failure(2, Status(Errc::kEntryNotFound, "no such file"), kRepo, kCommit), Verdict::kAnswer);
  EXPECT_EQ(indexes(set.order(kRepo, kCommit)), (std::vector<size_t>{0, 1, 2}));
}

TEST(EndpointSetTest, AMirrorThatShowedOnlyMetadataStillGetsSkippedWhenItRefusesContent) {
  // The Hub shows a gated repo's metadata to anyone: a mirror that listed the repo but refuses
  // its bytes does not serve it, and the next endpoint that accepts the token does.
  FakeClock clk;
  EndpointSet set(three(), opts(), clk.fn());
  set.on_success(0, false, kRepo, kCommit, /*content=*/false);
  EXPECT_EQ(set.on_failure(0, Status(Errc::kGated, "refused"), kRepo, kCommit), Verdict::kNotHere);
  EXPECT_EQ(indexes(set.order(kRepo, kCommit)), (std::vector<size_t>{1, 2}));
}

TEST(EndpointSetTest, OneEndpointIsNeverSkipped) {
  FakeClock clk;
  EndpointSet set({{"https://huggingface.co", true}}, opts(), clk.fn());
  EXPECT_EQ(set.on_failure(0, Status(Errc::kRepoNotFound, "x"), kRepo, kCommit), Verdict::kAnswer);
  EXPECT_EQ(indexes(set.order(kRepo, kCommit)), (std::vector<size_t>{0}));
  set.on_failure(0, Status(Errc::kNetwork, "down"), kRepo, kCommit);
  EXPECT_FALSE(set.health()[0].up);
  EXPECT_TRUE(set.failovers().empty());
}

// ---- the loop, with fault-injecting sources as the endpoints ----

namespace {

constexpr uint64_t kSize = 1 << 20;

struct Endpoints {
  explicit Endpoints(size_t n) {
    for (size_t i = 0; i < n; ++i) {
      plans.push_back(std::make_unique<FaultPlan>());
      gens.push_back(std::make_unique<GenSource>(kSize, 3));
      srcs.push_back(std::make_unique<FaultSource>(*gens.back(), *plans.back()));
      specs.push_back({"http://endpoint" + std::to_string(i), true});
    }
  }
  // A read of [off, off+len) through the loop, each endpoint a source, resumed as HubClient does.
  Status read(EndpointSet& set, uint64_t off, std::span<char> out, Ms budget = Ms(5'000), int* host_failures = nullptr) {
    SpanSink sink(out);
    uint64_t done = 0;
    auto now = std::chrono::steady_clock::now();
    FailoverOp op{kRepo, kCommit, "a test read", now + budget, now + budget, /*content=*/true, &done};
    return run_with_failover(
        set, op,
        [&](size_t i, std::optional<Tp>) {
          ResumeSink rs(sink, done);
          Status s = srcs[i]->fetch(off + done, out.size() - done, rs);
          done += rs.reached();
          return s;
        },
        [&] {
          if (host_failures) ++*host_failures;
        });
  }
  std::vector<std::unique_ptr<FaultPlan>> plans;
  std::vector<std::unique_ptr<GenSource>> gens;
  std::vector<std::unique_ptr<FaultSource>> srcs;
  std::vector<EndpointSpec> specs;
};

bool same_bytes(std::span<const char> got, uint64_t off) {
  std::string want(got.size(), 0);
  hffs::testing::gen_fill(std::span<char>(want.data(), want.size()), off, 3);
  return std::string_view(got.data(), got.size()) == want;
}

}  // namespace

TEST(RunWithFailover, ADeadHostMidReadHandsTheRestToTheNextWhichResumes) {
  Endpoints e(2);
  EndpointSet set(e.specs, opts());
  // The preferred sends 300 KiB of the 1 MiB asked, then its connection is cut (then it refuses).
  e.plans[0]->short_read(When::nth({1}), 300 << 10);
  e.plans[0]->fail(When::always(), Errc::kNetwork);
  std::string buf(kSize, 'Z');
  int kicks = 0;
  ASSERT_TRUE(e.read(set, 0, std::span<char>(buf.data(), buf.size()), Ms(5'000), &kicks));
  EXPECT_TRUE(same_bytes(buf, 0));
  EXPECT_EQ(e.gens[1]->bytes.load(), kSize - (300 << 10)) << "the next endpoint resumed after the bytes received";
  EXPECT_EQ(e.plans[0]->calls.load(), 1u);
  EXPECT_EQ(kicks, 1);
  EXPECT_EQ(set.serving(), 1u);

  // The next read goes straight to the second endpoint: the dead one is not asked.
  ASSERT_TRUE(e.read(set, 4096, std::span<char>(buf.data(), 8192)));
  EXPECT_TRUE(same_bytes(std::span<const char>(buf.data(), 8192), 4096));
  EXPECT_EQ(e.plans[0]->calls.load(), 1u);
}

TEST(RunWithFailover, ARealAnswerIsNotFailedOver) {
  Endpoints e(2);
  EndpointSet set(e.specs, opts());
  e.plans[0]->fail(When::always(), Errc::kEntryNotFound);
  std::string buf(4096, 'Z');
  Status s = e.read(set, 0, std::span<char>(buf.data(), buf.size()));
  EXPECT_EQ(s.code(), Errc::kEntryNotFound);
  EXPECT_EQ(e.plans[1]->calls.load(), 0u);
  EXPECT_TRUE(set.health()[0].up);
}

TEST(RunWithFailover, AMirrorThatRefusesTheRepoIsSkippedAndNotAskedAgain) {
  Endpoints e(2);
  EndpointSet set(e.specs, opts());
  e.plans[0]->fail(When::always(), Errc::kGated);
  std::string buf(4096, 'Z');
  for (int k = 0; k < 3; ++k) {
    ASSERT_TRUE(e.read(set, 0, std::span<char>(buf.data(), buf.size())));
    EXPECT_TRUE(same_bytes(buf, 0));
  }
  EXPECT_EQ(e.plans[0]->calls.load(), 1u);
  EXPECT_EQ(e.plans[1]->calls.load(), 3u);
  EXPECT_TRUE(set.failovers().empty()) << "skipping a mirror for one repo is not a switch";
}

TEST(RunWithFailover, EveryEndpointRefusingGivesTheMostTellingRefusalNamingTheOthers) {
  Endpoints e(2);
  EndpointSet set(e.specs, opts());
  e.plans[0]->fail(When::always(), Errc::kRepoNotFound);
  e.plans[1]->fail(When::always(), Errc::kGated);
  std::string buf(16, 'Z');
  Status s = e.read(set, 0, std::span<char>(buf.data(), buf.size()));
  EXPECT_EQ(s.code(), Errc::kGated);
  EXPECT_NE(s.message().find("http://endpoint0"), std::string::npos) << s.message();
}

TEST(RunWithFailover, EveryHostFailingUntilTheDeadlineNamesEachEndpointAndWhy) {
  Endpoints e(2);
  EndpointSet set(e.specs, opts());
  e.plans[0]->fail(When::always(), Errc::kNetwork);
  e.plans[1]->fail(When::always(), Errc::kServer);
  std::string buf(16, 'Z');
  Status s = e.read(set, 0, std::span<char>(buf.data(), buf.size()), Ms(600));
  EXPECT_TRUE(classify(s.code()) == Verdict::kHostFailure) << s.to_string();
  EXPECT_NE(s.message().find("http://endpoint0: "), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("http://endpoint1: "), std::string::npos) << s.message();
  EXPECT_GE(e.plans[0]->calls.load(), 2u) << "rounds go on while time is left";
  EXPECT_EQ(buf, std::string(16, 'Z'));
}

TEST(RunWithFailover, HostsFailingInTurnStillDeliverEveryByteOnce) {
  // Both endpoints cut their first three connections after 64 KiB: the read goes back and forth,
  // always resuming where it stopped and never waiting while it makes progress, and ends with
  // every byte right.
  Endpoints e(2);
  EndpointSet set(e.specs, opts());
  for (auto& p : e.plans) p->short_read(When::nth({1, 2, 3}), 64 << 10);
  std::string buf(kSize, 'Z');
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(e.read(set, 0, std::span<char>(buf.data(), buf.size()), Ms(20'000)));
  EXPECT_TRUE(same_bytes(buf, 0));
  EXPECT_EQ(e.plans[0]->calls.load() + e.plans[1]->calls.load(), 7u);
  EXPECT_EQ(e.gens[0]->bytes.load() + e.gens[1]->bytes.load(),
            7 * kSize - (64 << 10) * (1 + 2 + 3 + 4 + 5 + 6)) << "each fetch asked only what was missing";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, Ms(10'000));
}

TEST(RunWithFailover, OneEndpointIsOneAttemptWithItsOwnAnswer) {
  Endpoints e(1);
  EndpointSet set(e.specs, opts());
  e.plans[0]->fail(When::always(), Errc::kNetwork);
  std::string buf(16, 'Z');
  Status s = e.read(set, 0, std::span<char>(buf.data(), buf.size()));
  EXPECT_EQ(s.code(), Errc::kNetwork);
  EXPECT_EQ(s.message().find("no endpoint"), std::string::npos) << "the endpoint's own message, as before";
  EXPECT_EQ(e.plans[0]->calls.load(), 1u);
}
