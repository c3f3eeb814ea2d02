#include <gtest/gtest.h>

#include "hubapi/types.h"

using namespace hffs;
using namespace hffs::hubapi;

TEST(RepoArg, PlainAndPrefixed) {
  auto r = parse_repo_arg("org/name", std::nullopt);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type, RepoType::kModel);
  EXPECT_EQ(r->id, "org/name");
  r = parse_repo_arg("datasets/org/name", std::nullopt);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type, RepoType::kDataset);
  EXPECT_EQ(r->id, "org/name");
  r = parse_repo_arg("spaces/org/app", std::nullopt);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type, RepoType::kSpace);
  r = parse_repo_arg("models/org/name", std::nullopt);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type, RepoType::kModel);
  EXPECT_EQ(r->id, "org/name");
  r = parse_repo_arg("gpt2", std::nullopt);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, "gpt2");
  r = parse_repo_arg("org/name", RepoType::kDataset);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type, RepoType::kDataset);
  r = parse_repo_arg("datasets/org/name", RepoType::kDataset);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(repo_display(*r), "datasets/org/name");
}

TEST(RepoArg, ConflictingPrefixIsAnError) {
  auto r = parse_repo_arg("datasets/org/name", RepoType::kSpace);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Errc::kInvalidInput);
  EXPECT_NE(r.status().message().find("dataset"), std::string::npos);
}

TEST(RepoArg, InvalidIds) {
  for (const char* bad : {"", "/", "org/", "/name", "a/b/c", "org/na me", "org/-name", "org/name-",
                          "org/.name", "org/name.", "org/na--me", "org/na..me", "org/na%me",
                          "o\x01rg/name", "org/名前", "datasets/a/b/c"}) {
    auto r = parse_repo_arg(bad, std::nullopt);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Errc::kInvalidInput);
      EXPECT_NE(r.status().message().find("invalid repo id"), std::string::npos) << r.status().message();
    }
  }
  std::string long_part(97, 'a');
  EXPECT_FALSE(parse_repo_arg("org/" + long_part, std::nullopt).ok());
  EXPECT_TRUE(parse_repo_arg("org/" + std::string(96, 'a'), std::nullopt).ok());
  EXPECT_TRUE(parse_repo_arg("Org_1/Name.v2-b", std::nullopt).ok());
}

TEST(RepoArg, RepoTypes) {
  EXPECT_EQ(*parse_repo_type("model"), RepoType::kModel);
  EXPECT_EQ(*parse_repo_type("datasets"), RepoType::kDataset);
  EXPECT_EQ(*parse_repo_type("Space"), RepoType::kSpace);
  EXPECT_FALSE(parse_repo_type("kernel").ok());
  EXPECT_EQ(repo_type_plural(RepoType::kDataset), "datasets");
  EXPECT_EQ(repo_type_web_prefix(RepoType::kModel), "");
  EXPECT_EQ(repo_type_web_prefix(RepoType::kSpace), "spaces/");
  EXPECT_EQ(repo_type_name(RepoType::kSpace), "space");
}
