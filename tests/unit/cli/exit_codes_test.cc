// The one Errc -> exit code map of every command that opens a repo (mount, prefetch), as README
// "Exit codes" documents it.
#include "cli/exit_codes.h"

#include <gtest/gtest.h>

#include <map>

namespace hffs::cli {
namespace {

// Every Errc, with the code README.md promises for it. A new Errc must be added here (the loop
// below fails on one it does not know), which makes its author decide its exit code.
const std::map<Errc, int> kDocumented = {
    {Errc::kOk, 0},
    {Errc::kRepoNotFound, 3},
    {Errc::kRevisionNotFound, 4},
    {Errc::kEntryNotFound, 4},
    {Errc::kGated, 5},
    {Errc::kUnauthorized, 5},
    {Errc::kForbidden, 5},
    {Errc::kReadOnly, 1},
    {Errc::kRateLimited, 6},
    {Errc::kServer, 6},
    {Errc::kNetwork, 6},
    {Errc::kTimeout, 6},
    {Errc::kProtocol, 1},
    {Errc::kInvalidInput, 1},
    {Errc::kOffline, 6},
    {Errc::kNoSpace, 1},
    {Errc::kIo, 1},
    {Errc::kCorrupt, 1},
    {Errc::kCancelled, 1},
};

const std::vector<std::string> kHub = {"https://hub.example"};

TEST(ExitCodes, EveryErrcHasItsDocumentedCode) {
  for (int i = 0; i <= static_cast<int>(Errc::kCancelled); ++i) {
    auto c = static_cast<Errc>(i);
    auto it = kDocumented.find(c);
    ASSERT_NE(it, kDocumented.end()) << errc_name(c) << ": give it a code in README and here";
    EXPECT_EQ(exit_code_for(c), it->second) << errc_name(c);
  }
}

TEST(ExitCodes, TheWordedFailureCarriesTheSameCode) {
  hubapi::RepoId repo{hubapi::RepoType::kModel, "org/name"};
  for (int i = 1; i <= static_cast<int>(Errc::kCancelled); ++i) {
    auto c = static_cast<Errc>(i);
    for (const char* verb : {"mount", "prefetch"}) {
      for (bool token : {false, true}) {
        Failure f = repo_failure(Status(c, "why"), repo, "v1", kHub, token, verb);
        EXPECT_EQ(f.code, exit_code_for(c)) << errc_name(c) << " " << verb;
        EXPECT_FALSE(f.message.empty()) << errc_name(c);
      }
    }
  }
}

TEST(ExitCodes, MessagesNameTheCauseAndTheFix) {
  hubapi::RepoId repo{hubapi::RepoType::kDataset, "org/d"};
  auto gated = repo_failure(Status(Errc::kGated, ""), repo, "main", kHub, true, "prefetch");
  EXPECT_NE(gated.message.find("https://hub.example/datasets/org/d"), std::string::npos) << gated.message;
  EXPECT_NE(gated.message.find("prefetch again"), std::string::npos) << gated.message;
  auto rev = repo_failure(Status(Errc::kRevisionNotFound, ""), repo, "v9", kHub, false, "mount");
  EXPECT_NE(rev.message.find("revision 'v9' not found"), std::string::npos) << rev.message;
  auto net = repo_failure(Status(Errc::kTimeout, "deadline passed"), repo, "main", kHub, false, "mount");
  EXPECT_NE(net.message.find("Hub unreachable at https://hub.example: deadline passed"), std::string::npos);
  auto offline = repo_failure(Status(Errc::kOffline, "no view kept"), repo, "main", kHub, false, "mount");
  EXPECT_EQ(offline.message, "no view kept");
  auto other = repo_failure(Status(Errc::kProtocol, "bad tree"), repo, "main", kHub, false, "mount");
  EXPECT_EQ(other.message.rfind("cannot mount dataset 'org/d': ", 0), 0u) << other.message;
}

// With a list, a message that is about every endpoint names them all; links go to the preferred.
TEST(ExitCodes, AListOfEndpointsIsNamedWhereItMatters) {
  hubapi::RepoId repo{hubapi::RepoType::kModel, "org/m"};
  const std::vector<std::string> list = {"https://mirror.example", "https://hub.example", "http://127.0.0.1:9"};
  auto net = repo_failure(Status(Errc::kNetwork, "why"), repo, "main", list, false, "mount");
  EXPECT_EQ(net.code, kExitNetwork);
  EXPECT_NE(net.message.find("Hub unreachable at every endpoint (https://mirror.example, https://hub.example, "
                             "http://127.0.0.1:9): why"),
            std::string::npos)
      << net.message;
  auto missing = repo_failure(Status(Errc::kRepoNotFound, ""), repo, "main", list, false, "mount");
  EXPECT_NE(missing.message.find("not found at https://mirror.example, https://hub.example or http://127.0.0.1:9"),
            std::string::npos)
      << missing.message;
  auto gated = repo_failure(Status(Errc::kGated, ""), repo, "main", list, true, "mount");
  EXPECT_NE(gated.message.find("https://mirror.example/org/m"), std::string::npos) << gated.message;
  auto token = repo_failure(Status(Errc::kUnauthorized, "the token was rejected by https://hub.example"), repo, "main",
                            list, true, "mount");
  EXPECT_EQ(token.code, kExitAccess);
  EXPECT_NE(token.message.find("rejected by https://hub.example"), std::string::npos) << token.message;
}

}  // namespace
}  // namespace hffs::cli
