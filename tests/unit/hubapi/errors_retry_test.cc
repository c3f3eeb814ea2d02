#include <gtest/gtest.h>

#include "hubapi/errors.h"
#include "hubapi/retry.h"

using namespace hffs;
using namespace hffs::hubapi;
using std::chrono::milliseconds;

namespace {

ErrorContext ctx(RequestKind kind = RequestKind::kApi, bool had_token = false) {
  ErrorContext c;
  c.endpoint = "https://huggingface.co";
  c.repo_display = "org/name";
  c.revision = "main";
  c.path = "model.bin";
  c.what = "testing";
  c.had_token = had_token;
  c.kind = kind;
  return c;
}

struct Case {
  long status;
  const char* code;
  const char* msg;
  RequestKind kind;
  bool token;
  Errc want;
};

}  // namespace

TEST(ErrorMap, Table) {
  const Case cases[] = {
      {401, "RepoNotFound", "Invalid username or password.", RequestKind::kApi, false, Errc::kRepoNotFound},
      {404, "RepoNotFound", "Repository not found", RequestKind::kApi, true, Errc::kRepoNotFound},
      {401, "", "", RequestKind::kResolve, false, Errc::kRepoNotFound},
      {401, "GatedRepo", "Access to model org/name is restricted.", RequestKind::kResolve, false, Errc::kGated},
      {403, "GatedRepo", "not in the authorized list", RequestKind::kResolve, true, Errc::kGated},
      {401, "", "Invalid credentials in Authorization header", RequestKind::kApi, true, Errc::kUnauthorized},
      {404, "RevisionNotFound", "Invalid rev id: nope", RequestKind::kApi, false, Errc::kRevisionNotFound},
      {404, "EntryNotFound", "Entry not found", RequestKind::kResolve, false, Errc::kEntryNotFound},
      {404, "", "", RequestKind::kResolve, false, Errc::kEntryNotFound},
      {404, "", "", RequestKind::kApi, false, Errc::kRepoNotFound},
      {403, "", "Access to this resource is disabled.", RequestKind::kApi, false, Errc::kForbidden},
      {403, "", "scope missing", RequestKind::kApi, true, Errc::kForbidden},
      {403, "", "AccessDenied", RequestKind::kData, false, Errc::kForbidden},
      {429, "", "", RequestKind::kApi, false, Errc::kRateLimited},
      {500, "", "", RequestKind::kApi, false, Errc::kServer},
      {502, "", "", RequestKind::kData, false, Errc::kServer},
      {503, "", "", RequestKind::kResolve, false, Errc::kServer},
      {504, "", "", RequestKind::kApi, false, Errc::kServer},
      {400, "", "bad", RequestKind::kApi, false, Errc::kInvalidInput},
      {416, "", "", RequestKind::kData, false, Errc::kProtocol},
      {418, "", "", RequestKind::kApi, false, Errc::kProtocol},
  };
  for (const auto& c : cases) {
    HttpErrorInfo e{c.status, c.code, c.msg, ""};
    Status s = map_http_error(e, ctx(c.kind, c.token));
    EXPECT_EQ(s.code(), c.want) << c.status << " " << c.code << " " << c.msg << " -> " << s.to_string();
  }
}

TEST(ErrorMap, GatedMessageTellsWhatToDo) {
  HttpErrorInfo e{401, "GatedRepo", "Access to model org/name is restricted.", "Root=1-abc"};
  Status s = map_http_error(e, ctx(RequestKind::kResolve, false));
  EXPECT_EQ(s.code(), Errc::kGated);
  EXPECT_NE(s.message().find("https://huggingface.co/org/name"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("token"), std::string::npos);
  EXPECT_NE(s.message().find("Root=1-abc"), std::string::npos);
  ErrorContext dc = ctx(RequestKind::kResolve, true);
  dc.repo_display = "datasets/org/data";
  s = map_http_error(HttpErrorInfo{403, "GatedRepo", "", ""}, dc);
  EXPECT_NE(s.message().find("https://huggingface.co/datasets/org/data"), std::string::npos);
  EXPECT_NE(s.message().find("approved"), std::string::npos);
}

TEST(ErrorMap, MessagesIncludeRequestIdAndAreSanitized) {
  HttpErrorInfo e{404, "EntryNotFound", "Entry\nnot\x01 found", "req-123"};
  Status s = map_http_error(e, ctx(RequestKind::kResolve));
  EXPECT_NE(s.message().find("req-123"), std::string::npos);
  EXPECT_NE(s.message().find("model.bin"), std::string::npos);
  EXPECT_EQ(s.message().find('\n'), std::string::npos);
  EXPECT_EQ(s.message().find('\x01'), std::string::npos);
}

TEST(ErrorMap, SecretsScrubbedAndBodiesParsed) {
  EXPECT_EQ(scrub_secret("bad token hf_secret123 here hf_secret123", "hf_secret123"),
            "bad token *** here ***");
  EXPECT_EQ(error_message_from_body(R"({"error":"Repository not found"})"), "Repository not found");
  EXPECT_EQ(error_message_from_body(R"({"error":["a","b"]})"), "a; b");
  EXPECT_EQ(error_message_from_body(R"({"errors":[{"message":"m1"}]})"), "m1");
  EXPECT_EQ(error_message_from_body("plain text"), "plain text");
  EXPECT_EQ(error_message_from_body("<html><body>x</body></html>"), "");
  std::string longs(1000, 'x');
  EXPECT_LE(sanitize_for_message(longs).size(), 303u);
}

TEST(RetryPolicy, RetryableStatuses) {
  for (long s : {408, 429, 500, 502, 503, 504}) EXPECT_TRUE(is_retryable_status(s)) << s;
  for (long s : {200, 206, 400, 401, 403, 404, 410, 416, 501, 505}) EXPECT_FALSE(is_retryable_status(s)) << s;
}

TEST(RetryPolicy, FullJitterCappedExponential) {
  RetryPolicy p;
  p.base = milliseconds(250);
  p.cap = milliseconds(8000);
  // The ceiling doubles: 250, 500, 1000, 2000, 4000, 8000, 8000...
  const int64_t ceilings[] = {250, 500, 1000, 2000, 4000, 8000, 8000, 8000};
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(backoff_delay(p, i, 0.0).count(), 0) << i;
    EXPECT_EQ(backoff_delay(p, i, 0.5).count(), ceilings[i] / 2) << i;
    EXPECT_EQ(backoff_delay(p, i, 0.999999).count(), ceilings[i] - 1) << i;
    EXPECT_LE(backoff_delay(p, i, 1.0).count(), ceilings[i]) << i;
  }
  EXPECT_EQ(backoff_delay(p, 1000, 0.5).count(), 4000);  // no overflow for large indices
}

TEST(RetryPolicy, ServerRequestedDelay) {
  RetryPolicy p;
  p.server_wait_cap = milliseconds(30'000);
  EXPECT_EQ(server_requested_delay("1", "")->count(), 1000);
  EXPECT_EQ(server_requested_delay("", R"("api";r=0;t=7)")->count(), 7000);
  // RateLimit wins over Retry-After when exhausted; ignored when r > 0.
  EXPECT_EQ(server_requested_delay("2", R"("api";r=0;t=7)")->count(), 7000);
  EXPECT_EQ(server_requested_delay("2", R"("api";r=5;t=7)")->count(), 2000);
  EXPECT_FALSE(server_requested_delay("", R"("api";r=5;t=7)"));
  EXPECT_FALSE(server_requested_delay("soon", ""));
  EXPECT_EQ(next_delay(p, 3, 0.5, milliseconds(1000)).count(), 1000);
  EXPECT_EQ(next_delay(p, 3, 0.5, milliseconds(99'000)).count(), 30'000);
  EXPECT_EQ(next_delay(p, 0, 0.5, std::nullopt).count(), 125);
  double u = default_unit_rng();
  EXPECT_GE(u, 0.0);
  EXPECT_LT(u, 1.0);
}
