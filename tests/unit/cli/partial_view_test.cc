// Partial views (cli/partial_view.h): the repo argument split into repo id and subfolder, the
// globs (the matcher `hffs prefetch` uses), and the cut of a listing into a view.
#include "cli/partial_view.h"

#include <gtest/gtest.h>

#include <set>

namespace hffs::cli {
namespace {

using hubapi::RepoType;
using hubapi::TreeEntry;

TEST(RepoViewArg, TwoSegmentsAreTheRepoTheRestIsTheSubfolder) {
  struct Case {
    const char* arg;
    RepoType type;
    const char* id;
    const char* sub;
  };
  for (const auto& c : {Case{"org/name", RepoType::kModel, "org/name", ""},
                        Case{"org/name/onnx", RepoType::kModel, "org/name", "onnx"},
                        Case{"org/name/a/b/c/", RepoType::kModel, "org/name", "a/b/c"},
                        Case{"org/name/", RepoType::kModel, "org/name", ""},
                        Case{"datasets/org/name", RepoType::kDataset, "org/name", ""},
                        Case{"datasets/org/name/data/train", RepoType::kDataset, "org/name", "data/train"},
                        Case{"spaces/org/app/static", RepoType::kSpace, "org/app", "static"},
                        Case{"models/org/name/onnx", RepoType::kModel, "org/name", "onnx"},
                        // A bare "datasets/x" is the model x of user "datasets", as the Hub reads it.
                        Case{"datasets/foo", RepoType::kModel, "datasets/foo", ""},
                        Case{"gpt2", RepoType::kModel, "gpt2", ""}}) {
    auto r = parse_repo_view_arg(c.arg, std::nullopt);
    ASSERT_TRUE(r.ok()) << c.arg << ": " << r.status().to_string();
    EXPECT_EQ(r->repo.type, c.type) << c.arg;
    EXPECT_EQ(r->repo.id, c.id) << c.arg;
    EXPECT_EQ(r->subfolder, c.sub) << c.arg;
  }
  auto typed = parse_repo_view_arg("org/name/sub", std::string("dataset"));
  ASSERT_TRUE(typed.ok());
  EXPECT_EQ(typed->repo.type, RepoType::kDataset);
  EXPECT_EQ(typed->subfolder, "sub");
}

TEST(RepoViewArg, BadSubfoldersAndIdsAreUsageErrors) {
  for (const char* bad : {"org/name/a//b", "org/name/../x", "org/name/./x", "org/name/a/..", "org//name", "/org/name",
                          "org/na me/x"}) {
    auto r = parse_repo_view_arg(bad, std::nullopt);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Errc::kInvalidInput) << bad;
  }
  EXPECT_FALSE(parse_repo_view_arg("datasets/org/name/x", std::string("model")).ok());
  EXPECT_EQ(*clean_subfolder("/onnx/"), "onnx");
  EXPECT_EQ(*clean_subfolder("a/b"), "a/b");
  for (const char* bad : {"", "/", "a//b", "..", "a/./b"}) EXPECT_FALSE(clean_subfolder(bad).ok()) << bad;
}

TEST(Globs, AsHfDownloadStarCrossesSlashesAndATrailingSlashIsAFolder) {
  EXPECT_TRUE(glob_match("*.json", "config.json"));
  EXPECT_TRUE(glob_match("*.json", "onnx/config.json"));  // '*' matches '/' (no FNM_PATHNAME)
  EXPECT_TRUE(glob_match("onnx/*", "onnx/a/b.bin"));
  EXPECT_TRUE(glob_match("onnx/", "onnx/a/b.bin"));
  EXPECT_FALSE(glob_match("onnx/", "onnx"));
  EXPECT_FALSE(glob_match("*.json", "config.jsonl"));
  EXPECT_TRUE(glob_match("model-0000?-of-*.safetensors", "model-00001-of-00002.safetensors"));
  EXPECT_TRUE(glob_match("[ab]/*", "a/x"));

  PathFilter f{{"*.safetensors", "*.json"}, {"onnx/*"}};
  EXPECT_TRUE(f.matches("model.safetensors"));
  EXPECT_TRUE(f.matches("tokenizer.json"));
  EXPECT_FALSE(f.matches("onnx/config.json"));  // excluded after being included
  EXPECT_FALSE(f.matches("README.md"));
  EXPECT_TRUE(PathFilter{}.matches("anything"));
  EXPECT_TRUE((PathFilter{{}, {"*.md"}}.matches("a.txt")));
  EXPECT_FALSE((PathFilter{{}, {"*.md"}}.matches("README.md")));
}

TreeEntry file(std::string path) {
  TreeEntry e;
  e.path = std::move(path);
  e.size = 1;
  e.oid = std::string(40, 'a');
  return e;
}
TreeEntry dir(std::string path) {
  TreeEntry e;
  e.type = TreeEntry::Type::kDirectory;
  e.path = std::move(path);
  return e;
}
std::vector<TreeEntry> repo() {
  return {file("README.md"),        file("config.json"),    dir("onnx"),         file("onnx/model.onnx"),
          file("onnx/config.json"), dir("a"),               dir("a/b"),          file("a/b/deep.txt"),
          dir("a/c"),               file("a/c/x.json"),     file("model.safetensors")};
}
std::set<std::string> paths(const std::vector<TreeEntry>& v) {
  std::set<std::string> out;
  for (const auto& e : v) out.insert(e.path + (e.type == TreeEntry::Type::kDirectory ? "/" : ""));
  return out;
}

TEST(CutView, ASubfolderBecomesTheRoot) {
  PartialView v{"a", {}};
  auto cut = cut_view(repo(), v, "model 'org/name'");
  ASSERT_TRUE(cut.ok()) << cut.status().to_string();
  EXPECT_EQ(paths(*cut), (std::set<std::string>{"b/", "b/deep.txt", "c/", "c/x.json"}));
  v.subfolder = "a/b";
  EXPECT_EQ(paths(*cut_view(repo(), v, "m")), (std::set<std::string>{"deep.txt"}));
}

TEST(CutView, AFilterKeepsMatchingFilesAndOnlyTheFoldersLeadingToThem) {
  PartialView v{"", {{"*.json", "*.safetensors"}, {}}};
  auto cut = cut_view(repo(), v, "m");
  ASSERT_TRUE(cut.ok());
  // Directory entries are dropped: build() implies "onnx" and "a/c" from the files; "a/b" is gone.
  EXPECT_EQ(paths(*cut), (std::set<std::string>{"config.json", "onnx/config.json", "a/c/x.json", "model.safetensors"}));
  v.filter.exclude = {"onnx/"};
  EXPECT_EQ(paths(*cut_view(repo(), v, "m")), (std::set<std::string>{"config.json", "a/c/x.json", "model.safetensors"}));
  // With a subfolder, the globs still see repo paths.
  PartialView sv{"onnx", {{"onnx/*.json"}, {}}};
  EXPECT_EQ(paths(*cut_view(repo(), sv, "m")), (std::set<std::string>{"config.json"}));
}

TEST(CutView, AMissingOrFileSubfolderAndAnEmptySelectionAreNotFound) {
  for (const char* sub : {"nosuch", "onn", "a/b/c", "config.json"}) {
    auto cut = cut_view(repo(), PartialView{sub, {}}, "model 'org/name'");
    ASSERT_FALSE(cut.ok()) << sub;
    EXPECT_EQ(cut.status().code(), Errc::kEntryNotFound) << sub;
    EXPECT_NE(cut.status().message().find(sub), std::string::npos) << cut.status().message();
  }
  auto none = cut_view(repo(), PartialView{"", {{"*.gguf"}, {}}}, "model 'org/name'");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Errc::kEntryNotFound);
  EXPECT_NE(none.status().message().find("include=*.gguf"), std::string::npos) << none.status().message();
  // A listing of the subfolder itself (tree/{sha}/a) has the same repo paths.
  std::vector<TreeEntry> sub_listing = {dir("a/b"), file("a/b/deep.txt")};
  EXPECT_EQ(paths(*cut_view(sub_listing, PartialView{"a", {}}, "m")), (std::set<std::string>{"b/", "b/deep.txt"}));
  EXPECT_FALSE(cut_view({}, PartialView{"a", {}}, "m").ok());
}

TEST(PartialViewText, DescribesWhatIsSet) {
  EXPECT_EQ((PartialView{}).describe(), "");
  EXPECT_TRUE((PartialView{}).whole());
  PartialView v{"onnx", {{"*.json", "*.onnx"}, {"x"}}};
  EXPECT_FALSE(v.whole());
  EXPECT_EQ(v.describe(), "subfolder=onnx include=*.json include=*.onnx exclude=x");
}

}  // namespace
}  // namespace hffs::cli
