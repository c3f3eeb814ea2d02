// The endpoint list of a command (cli/endpoints.h, cli/hub_setup.h): order, precedence of
// --endpoint over HF_ENDPOINT over the default, no-token marks, and every usage error.
#include "cli/endpoints.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "cli/hub_setup.h"

namespace hffs::cli {
namespace {

HfEnv env_with(std::optional<std::string> hf_endpoint, std::optional<std::string> no_token = std::nullopt) {
  HfEnv env;
  env.endpoint_list = std::move(hf_endpoint);
  env.no_token_endpoints = std::move(no_token);
  return env;
}

std::vector<std::string> urls(const Result<EndpointList>& r) { return r.ok() ? r->urls() : std::vector<std::string>{}; }

std::vector<bool> tokens(const EndpointList& l) {
  std::vector<bool> out;
  for (const auto& e : l.endpoints) out.push_back(e.send_token);
  return out;
}

// The error of `r`, which must have failed as a usage error.
std::string error(const Status& s) {
  EXPECT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), Errc::kInvalidInput) << s.to_string();
  return s.message();
}

TEST(Endpoints, SplitsACommaListIgnoringSpaces) {
  auto r = split_endpoint_list(" https://a.example ,https://b.example,  http://127.0.0.1:8080/hf ", "HF_ENDPOINT");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, (std::vector<std::string>{"https://a.example", "https://b.example", "http://127.0.0.1:8080/hf"}));
  auto one = split_endpoint_list("https://a.example", "HF_ENDPOINT");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, std::vector<std::string>{"https://a.example"});
}

TEST(Endpoints, AnEmptyListItemIsAnErrorNamingTheVariable) {
  for (const char* bad : {"https://a.example,", ",https://a.example", "https://a.example,,https://b.example",
                          "https://a.example, ,https://b.example", " "}) {
    auto r = split_endpoint_list(bad, "HF_ENDPOINT");
    std::string msg = error(r.status());
    EXPECT_EQ(msg.rfind("HF_ENDPOINT: ", 0), 0u) << bad << ": " << msg;
    EXPECT_NE(msg.find("empty"), std::string::npos) << msg;
  }
}

TEST(Endpoints, EachUrlIsCheckedAndLosesItsTrailingSlash) {
  for (const char* ok : {"https://hub.example", "http://127.0.0.1:8080", "https://[::1]:8443", "https://m.example/hf"}) {
    auto r = check_endpoint(ok, "--endpoint");
    ASSERT_TRUE(r.ok()) << ok << ": " << r.status().to_string();
    EXPECT_EQ(*r, ok);
  }
  auto slash = check_endpoint("https://hub.example//", "--endpoint");
  ASSERT_TRUE(slash.ok());
  EXPECT_EQ(*slash, "https://hub.example");
  for (const char* bad : {"ftp://hub.example", "hub.example", "https://", "https://:443", "https://h:99999",
                          "https://h.example?x=1", "https://h.example#top", "https://a.example,https://b.example",
                          "https://h example", ""}) {
    std::string msg = error(check_endpoint(bad, "--endpoint").status());
    EXPECT_EQ(msg.rfind("--endpoint: ", 0), 0u) << bad << ": " << msg;
  }
}

TEST(Endpoints, CredentialsInAUrlAreRefusedWithoutRepeatingThem) {
  for (const char* bad : {"https://user:hunter2@hub.example", "https://hunter2@hub.example/hf"}) {
    std::string msg = error(check_endpoint(bad, "HF_ENDPOINT").status());
    EXPECT_NE(msg.find("credentials"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("hunter2"), std::string::npos) << msg;
  }
  // A query may hold a secret too: not repeated.
  std::string msg = error(check_endpoint("https://hub.example/?sig=hunter2", "HF_ENDPOINT").status());
  EXPECT_EQ(msg.find("hunter2"), std::string::npos) << msg;
}

TEST(Endpoints, KeysCompareSchemeHostPortAndPath) {
  EXPECT_EQ(endpoint_key("HTTPS://Hub.Example"), endpoint_key("https://hub.example:443"));
  EXPECT_EQ(endpoint_key("http://h.example"), endpoint_key("http://h.example:80"));
  EXPECT_EQ(endpoint_key("https://h.example/hf"), endpoint_key("https://H.example:443/hf"));
  EXPECT_NE(endpoint_key("http://h.example"), endpoint_key("https://h.example"));
  EXPECT_NE(endpoint_key("https://h.example:8443"), endpoint_key("https://h.example"));
  EXPECT_NE(endpoint_key("https://h.example/a"), endpoint_key("https://h.example/b"));
}

TEST(Endpoints, RepeatedOptionsKeepTheirOrder) {
  auto r = choose_endpoints({"https://mirror.example/", "https://hub.example", "http://127.0.0.1:9"}, {},
                            env_with(std::nullopt));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->urls(), (std::vector<std::string>{"https://mirror.example", "https://hub.example", "http://127.0.0.1:9"}));
  EXPECT_EQ(r->preferred(), "https://mirror.example");
  EXPECT_EQ(r->source, "--endpoint");
  EXPECT_EQ(tokens(*r), (std::vector<bool>{true, true, true}));
}

TEST(Endpoints, TheOptionReplacesTheWholeEnvironmentList) {
  auto env = env_with("https://a.example,https://b.example");
  EXPECT_EQ(urls(choose_endpoints({"https://c.example"}, {}, env)), std::vector<std::string>{"https://c.example"});
  auto from_env = choose_endpoints({}, {}, env);
  EXPECT_EQ(urls(from_env), (std::vector<std::string>{"https://a.example", "https://b.example"}));
  EXPECT_EQ(from_env->source, "HF_ENDPOINT");
  auto dflt = choose_endpoints({}, {}, env_with(std::nullopt));
  EXPECT_EQ(urls(dflt), std::vector<std::string>{"https://huggingface.co"});
  EXPECT_EQ(dflt->source, "the default");
  // One HF_ENDPOINT as it always was, trailing '/' stripped.
  EXPECT_EQ(urls(choose_endpoints({}, {}, env_with("https://hf-mirror.com/"))),
            std::vector<std::string>{"https://hf-mirror.com"});
}

TEST(Endpoints, TheSameEndpointTwiceIsAnError) {
  std::string msg = error(choose_endpoints({"https://a.example", "HTTPS://A.example:443/"}, {}, env_with(std::nullopt)).status());
  EXPECT_EQ(msg.rfind("--endpoint: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("twice"), std::string::npos) << msg;
  msg = error(choose_endpoints({}, {}, env_with("https://a.example, https://b.example, https://a.example")).status());
  EXPECT_EQ(msg.rfind("HF_ENDPOINT: ", 0), 0u) << msg;
  // A bad item of the variable names the variable.
  msg = error(choose_endpoints({}, {}, env_with("https://a.example,ftp://b.example")).status());
  EXPECT_EQ(msg.rfind("HF_ENDPOINT: ", 0), 0u) << msg;
}

TEST(Endpoints, NoTokenMarksMatchAnySpellingOfAListedEndpoint) {
  auto r = choose_endpoints({"https://hub.example", "https://mirror.example", "https://site.example"},
                            {"HTTPS://Mirror.Example:443/"}, env_with(std::nullopt, "https://site.example/"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(tokens(*r), (std::vector<bool>{true, false, false}));
  // The URLs stay as the user spelled them in the list.
  EXPECT_EQ(r->endpoints[1].url, "https://mirror.example");
  EXPECT_EQ(describe(*r),
            "https://hub.example, then https://mirror.example (no token), then https://site.example (no token) (endpoints from "
            "--endpoint)");
}

TEST(Endpoints, ANoTokenMarkThatMatchesNothingIsAnError) {
  std::string msg =
      error(choose_endpoints({"https://hub.example"}, {"https://hub.example:8443"}, env_with(std::nullopt)).status());
  EXPECT_EQ(msg.rfind("--no-token-endpoint: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("not one of the endpoints in use (https://hub.example, from --endpoint)"), std::string::npos) << msg;
  msg = error(choose_endpoints({}, {}, env_with("https://a.example", "https://b.example")).status());
  EXPECT_EQ(msg.rfind("HFFS_NO_TOKEN_ENDPOINTS: ", 0), 0u) << msg;
  msg = error(choose_endpoints({}, {}, env_with("https://a.example", "https://a.example,")).status());
  EXPECT_EQ(msg.rfind("HFFS_NO_TOKEN_ENDPOINTS: ", 0), 0u) << msg;
}

TEST(Endpoints, TheEnvironmentIsReadAsSet) {
  ::setenv("HF_ENDPOINT", "https://a.example, https://b.example", 1);
  ::setenv("HFFS_NO_TOKEN_ENDPOINTS", "https://b.example", 1);
  HfEnv env = read_hf_env();
  ::unsetenv("HF_ENDPOINT");
  ::unsetenv("HFFS_NO_TOKEN_ENDPOINTS");
  EXPECT_EQ(env.endpoint_list, "https://a.example, https://b.example");
  EXPECT_EQ(env.no_token_endpoints, "https://b.example");
  EXPECT_FALSE(read_hf_env().endpoint_list);
}

TEST(HubSetup, TheListAndTheBackoffReachTheClientConfig) {
  HubArgs o;
  o.endpoint = {"https://mirror.example/", "https://hub.example"};
  o.no_token_endpoint = {"https://mirror.example"};
  o.endpoint_backoff_s = 0.25;
  o.token = "hf_secret";
  auto hub = make_hub_config(o, env_with("https://ignored.example"));
  ASSERT_TRUE(hub.ok()) << hub.status().to_string();
  const auto& hc = hub->config;
  EXPECT_EQ(hc.endpoint, "https://mirror.example");
  EXPECT_FALSE(hc.endpoint_sends_token);
  ASSERT_EQ(hc.fallback_endpoints.size(), 1u);
  EXPECT_EQ(hc.fallback_endpoints[0].url, "https://hub.example");
  EXPECT_TRUE(hc.fallback_endpoints[0].send_token);
  EXPECT_EQ(hc.endpoint_backoff, std::chrono::milliseconds(250));
  EXPECT_EQ(hub->endpoints.source, "--endpoint");
  EXPECT_EQ(hub->token_source, "--token");
}

TEST(HubSetup, OneEndpointIsAsBefore) {
  auto hub = make_hub_config({}, env_with("https://hf-mirror.com/"));
  ASSERT_TRUE(hub.ok()) << hub.status().to_string();
  EXPECT_EQ(hub->config.endpoint, "https://hf-mirror.com");
  EXPECT_TRUE(hub->config.endpoint_sends_token);
  EXPECT_TRUE(hub->config.fallback_endpoints.empty());
  EXPECT_EQ(hub->config.endpoint_backoff, std::chrono::milliseconds(2000));
  EXPECT_EQ(describe(hub->endpoints), "https://hf-mirror.com");
}

TEST(HubSetup, BackoffIsBounded) {
  for (double bad : {0.0, -1.0, 120.5, std::nan(""), HUGE_VAL}) {
    HubArgs o;
    o.endpoint_backoff_s = bad;
    std::string msg = error(make_hub_config(o, env_with(std::nullopt)).status());
    EXPECT_NE(msg.find("--endpoint-backoff"), std::string::npos) << msg;
  }
  HubArgs o;
  o.endpoint_backoff_s = 120;
  EXPECT_TRUE(make_hub_config(o, env_with(std::nullopt)).ok());
}

}  // namespace
}  // namespace hffs::cli
