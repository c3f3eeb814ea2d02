#include <gtest/gtest.h>

#include <string>

#include "hubapi/tree_parse.h"

using namespace hffs;
using namespace hffs::hubapi;

namespace {

const std::string kOid(40, 'a');
const std::string kSha(64, 'b');

std::string file(const std::string& path, const std::string& size = "10",
                 const std::string& extra = "") {
  return R"({"type":"file","oid":")" + kOid + R"(","size":)" + size + R"(,"path":)" + path + extra + "}";
}
std::string dir(const std::string& path) {
  return R"({"type":"directory","oid":")" + kOid + R"(","size":0,"path":)" + path + "}";
}

void expect_rejected(const std::string& json, const std::string& needle = "") {
  auto r = parse_tree_json(json);
  ASSERT_FALSE(r.ok()) << json;
  EXPECT_EQ(r.status().code(), Errc::kInvalidInput) << r.status().to_string();
  if (!needle.empty()) {
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  }
}

}  // namespace

TEST(TreeParse, GoodListingWithImpliedDirsAndLfs) {
  std::string j = "[" + dir(R"("onnx")") + "," + file(R"("config.json")", "1392") + "," +
                  file(R"("onnx/model.onnx")", "497764107",
                       R"(,"lfs":{"oid":")" + std::string(64, 'B') +
                           R"(","size":497764107,"pointerSize":134},"xetHash":"x")") +
                  "," + file(R"("a/b/c/deep.txt")", "0") + "]";
  auto r = parse_tree_json(j);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const auto& v = *r;
  ASSERT_EQ(v.size(), 7u);  // onnx, config.json, onnx/model.onnx, a/b/c/deep.txt + a, a/b, a/b/c
  EXPECT_EQ(v[0].path, "a");
  EXPECT_EQ(v[0].type, TreeEntry::Type::kDirectory);
  EXPECT_EQ(v[1].path, "a/b");
  EXPECT_EQ(v[2].path, "a/b/c");
  EXPECT_EQ(v[3].path, "a/b/c/deep.txt");
  EXPECT_EQ(v[4].path, "config.json");
  EXPECT_EQ(v[4].size, 1392u);
  EXPECT_FALSE(v[4].is_lfs());
  EXPECT_EQ(v[4].content_key(), kOid);
  EXPECT_EQ(v[6].path, "onnx/model.onnx");
  EXPECT_TRUE(v[6].is_lfs());
  EXPECT_EQ(*v[6].lfs_sha256, std::string(64, 'b'));  // lowercased
  EXPECT_EQ(v[6].size, 497764107u);
}

TEST(TreeParse, PrefersLfsSizeAndSkipsUnknownTypes) {
  std::string j = std::string("[") + R"({"type":"file","oid":")" + kOid + R"(","path":"x","lfs":{"oid":")" + kSha +
                  R"(","size":5}})" + "," + R"({"type":"unknown","oid":")" + kOid +
                  R"(","size":0,"path":"sub"})" + "]";
  TreeBuilder b;
  ASSERT_TRUE(b.add_page(j));
  EXPECT_EQ(b.skipped(), 1u);
  auto r = std::move(b).finish();
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].size, 5u);
}

TEST(TreeParse, MultiplePagesAccumulate) {
  TreeBuilder b;
  ASSERT_TRUE(b.add_page("[" + file(R"("a")") + "]"));
  ASSERT_TRUE(b.add_page("[" + file(R"("b")") + "]"));
  ASSERT_TRUE(b.add_page("[]"));
  auto r = std::move(b).finish();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 2u);
}

TEST(TreeParse, RejectsMaliciousPaths) {
  expect_rejected("[" + file(R"("../etc/passwd")") + "]", "'..'");
  expect_rejected("[" + file(R"("a/../b")") + "]", "'..'");
  expect_rejected("[" + file(R"("/etc/passwd")") + "]", "absolute");
  expect_rejected("[" + file(R"("./a")") + "]", "'.'");
  expect_rejected("[" + file(R"("a//b")") + "]", "empty segment");
  expect_rejected("[" + file(R"("a/")") + "]", "empty segment");
  expect_rejected("[" + file(R"("")") + "]", "empty path");
  expect_rejected("[" + file(R"("a\u0000b")") + "]", "NUL");
  expect_rejected("[" + file(R"("a\nb")") + "]", "control");
  expect_rejected("[" + file(R"("a\u007fb")") + "]", "control");
  expect_rejected("[" + file("\"" + std::string(256, 'x') + "\"") + "]", "255");
  std::string long_path;
  for (int i = 0; i < 20; ++i) long_path += std::string(250, 'y') + "/";
  long_path += "f";
  expect_rejected("[" + file("\"" + long_path + "\"") + "]", "4096");
  expect_rejected(R"([{"type":"file","oid":")" + kOid + R"(","size":1,"path":5}])", "path");
}

TEST(TreeParse, MessageShowsControlCharsEscaped) {
  auto r = parse_tree_json("[" + file(R"("bad\u0001name")") + "]");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bad\\x01name"), std::string::npos) << r.status().message();
}

TEST(TreeParse, RejectsDuplicatesAndConflicts) {
  expect_rejected("[" + file(R"("a")") + "," + file(R"("a")") + "]", "more than once");
  expect_rejected("[" + dir(R"("d")") + "," + dir(R"("d")") + "]", "more than once");
  expect_rejected("[" + file(R"("a")") + "," + dir(R"("a")") + "]", "more than once");
  expect_rejected("[" + file(R"("a")") + "," + file(R"("a/b")") + "]", "listed as a file");
  expect_rejected("[" + file(R"("a/b/c")") + "," + file(R"("a")") + "]", "listed as a file");
  expect_rejected("[" + file(R"("a")") + "," + dir(R"("a/sub")") + "]", "listed as a file");
}

TEST(TreeParse, RejectsBadSizes) {
  expect_rejected("[" + file(R"("a")", "-1") + "]", "size");
  expect_rejected("[" + file(R"("a")", "1.5") + "]", "size");
  expect_rejected("[" + file(R"("a")", "\"10\"") + "]", "size");
  expect_rejected("[" + file(R"("a")", "1125899906842625") + "]", "size");  // 2^50 + 1
  expect_rejected("[" + file(R"("a")", "18446744073709551615") + "]", "size");
  expect_rejected("[" + file(R"("a")", "1e300") + "]", "size");
  expect_rejected("[" + file(R"("a")", "null") + "]", "size");
  expect_rejected(R"([{"type":"file","oid":")" + kOid + R"(","path":"a"}])", "without 'size'");
  EXPECT_TRUE(parse_tree_json("[" + file(R"("a")", "1125899906842624") + "]").ok());  // 2^50
  EXPECT_TRUE(parse_tree_json("[" + file(R"("a")", "2.0") + "]").ok());
  expect_rejected("[" + file(R"("a")", "10", R"(,"lfs":{"oid":")" + kSha + R"(","size":11})") + "]",
                  "differs");
}

TEST(TreeParse, RejectsBadHex) {
  expect_rejected(R"([{"type":"file","oid":"xyz","size":1,"path":"a"}])", "oid");
  expect_rejected(R"([{"type":"file","oid":")" + std::string(39, 'a') + R"(","size":1,"path":"a"}])", "oid");
  expect_rejected(R"([{"type":"file","oid":")" + std::string(40, 'g') + R"(","size":1,"path":"a"}])", "oid");
  expect_rejected(R"([{"type":"file","size":1,"path":"a"}])", "oid");
  expect_rejected("[" + file(R"("a")", "10", R"(,"lfs":{"oid":")" + std::string(63, 'a') + R"(","size":10})") + "]",
                  "lfs.oid");
  expect_rejected("[" + file(R"("a")", "10", R"(,"lfs":{"oid":")" + std::string(64, 'z') + R"(","size":10})") + "]",
                  "lfs.oid");
  expect_rejected("[" + file(R"("a")", "10", R"(,"lfs":"yes")") + "]", "lfs");
}

TEST(TreeParse, RejectsNonArraysAndGarbage) {
  for (const char* j : {"{}", "not json", "[1,2", "\"x\"", ""}) {
    auto r = parse_tree_json(j);
    EXPECT_FALSE(r.ok()) << j;
  }
  auto r = parse_tree_json("[1]");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Errc::kInvalidInput);
  std::string deep(100000, '[');
  EXPECT_FALSE(parse_tree_json(deep).ok());
  EXPECT_TRUE(json_depth_ok(R"(["[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["])"));
}

TEST(TreeParse, CheckPathAcceptsOrdinaryNames) {
  for (const char* p : {"a", "a/b", "名前/x y.txt", ".gitattributes", "a/.hidden", "...", "a/..b", "#?%+"})
    EXPECT_EQ(check_tree_path(p), "") << p;
}
