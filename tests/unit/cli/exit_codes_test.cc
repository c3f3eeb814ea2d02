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
    {Errc::kEntryNotFound, 1},
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
        Failure f = repo_failure(Status(c, "why"), repo, "v1", "https://hub.example", token, verb);
        EXPECT_EQ(f.code, exit_code_for(c)) << errc_name(c) << " " << verb;
        EXPECT_FALSE(f.message.empty()) << errc_name(c);
      }
    }
  }
}

TEST(ExitCodes, MessagesNameTheCauseAndTheFix) {
  hubapi::RepoId repo{hubapi::RepoType::kDataset, "org/d"};
  auto gated = repo_failure(Status(Errc::kGated, ""), repo, "main", "https://hub.example", true, "prefetch");
  EXPECT_NE(gated.message.find("https://hub.example/datasets/org/d"), std::string::npos) << gated.message;
  EXPECT_NE(gated.message.find("prefetch again"), std::string::npos) << gated.message;
  auto rev = repo_failure(Status(Errc::kRevisionNotFound, ""), repo, "v9", "https://hub.example", false, "mount");
  EXPECT_NE(rev.message.find("revision 'v9' not found"), std::string::npos) << rev.message;
  auto net = repo_failure(Status(Errc::kTimeout, "deadline passed"), repo, "main", "https://hub.example", false, "mount");
  EXPECT_NE(net.message.find("Hub unreachable at https://hub.example: deadline passed"), std::string::npos);
  auto offline = repo_failure(Status(Errc::kOffline, "no view kept"), repo, "main", "https://hub.example", false, "mount");
  EXPECT_EQ(offline.message, "no view kept");
  auto other = repo_failure(Status(Errc::kProtocol, "bad tree"), repo, "main", "https://hub.example", false, "mount");
  EXPECT_EQ(other.message.rfind("cannot mount dataset 'org/d': ", 0), 0u) << other.message;
}

}  // namespace
}  // namespace hffs::cli
