#include "cli/fstab.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

using namespace hffs::cli;

TEST(MountHelper, RecognisesItsNames) {
  EXPECT_TRUE(is_mount_helper_name("/sbin/mount.fuse.hffs"));
  EXPECT_TRUE(is_mount_helper_name("mount.hffs"));
  EXPECT_FALSE(is_mount_helper_name("/usr/bin/hffs"));
}

TEST(MountHelper, FstabLineMapsToMountArgs) {
  bool fake;
  auto m = parse_mount_helper_args(
      {"org/name", "/mnt/model", "-o", "ro,allow_other,revision=v1.0,_netdev,nofail,x-systemd.automount,cache_dir=/var/cache/hffs,"
       "cache_group=hf"},
      &fake);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_FALSE(fake);
  EXPECT_EQ(m->repo, "org/name");
  EXPECT_EQ(m->mountpoint, "/mnt/model");
  EXPECT_EQ(m->revision, "v1.0");
  EXPECT_EQ(m->cache_dir, "/var/cache/hffs");
  EXPECT_EQ(m->cache_group, "hf");
  EXPECT_EQ(m->fuse_options, std::vector<std::string>{"allow_other"});
  EXPECT_FALSE(m->foreground);
}

TEST(MountHelper, UnknownOptionIsAClearError) {
  bool fake;
  auto m = parse_mount_helper_args({"org/name", "/mnt", "-o", "ro,colour=blue"}, &fake);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("unknown mount option 'colour=blue'"), std::string::npos);
  EXPECT_NE(m.status().message().find("revision="), std::string::npos) << "lists what is accepted";
  // -s (sloppy) ignores it, as mount(8) asks.
  EXPECT_TRUE(parse_mount_helper_args({"org/name", "/mnt", "-s", "-o", "ro,colour=blue"}, &fake).ok());
}

TEST(MountHelper, ValuesAreRequiredAndPositionalsChecked) {
  bool fake;
  EXPECT_FALSE(parse_mount_helper_args({"org/name", "/mnt", "-o", "revision="}, &fake).ok());
  EXPECT_FALSE(parse_mount_helper_args({"org/name"}, &fake).ok());
  EXPECT_FALSE(parse_mount_helper_args({"org/name", "/mnt", "-o", "deadline=-1"}, &fake).ok());
  auto m = parse_mount_helper_args({"hffs#datasets/org/d", "/mnt", "-f", "-oallow_other"}, &fake);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(fake);
  EXPECT_EQ(m->repo, "datasets/org/d");
}

namespace hffs::cli {
TEST(MountHelper, VerifyOptions) {
  bool fake = false;
  auto m = parse_mount_helper_args({"org/name", "/mnt", "-o", "ro,verify=strict,verify_whole_max=16M"}, &fake);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->verify, "strict");
  EXPECT_EQ(m->verify_whole_max, "16M");
}
}  // namespace hffs::cli
TEST(MountHelper, AllowHttpRedirectIsAFlag) {
  bool fake;
  auto m = parse_mount_helper_args({"org/name", "/mnt", "-o", "ro,allow_http_redirect"}, &fake);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_TRUE(m->allow_http_redirect);
  auto d = parse_mount_helper_args({"org/name", "/mnt", "-o", "ro"}, &fake);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->allow_http_redirect);
}

// fuzz: fstab-crash-8e5a524e (tests/fuzz/fstab_fuzz.cc). "deadline=1e999" (and "inf", "nan") was
// accepted: an infinite or NaN deadline, undefined behaviour when made milliseconds at mount.
TEST(MountHelper, DeadlineMustBeFinite) {
  bool fake = false;
  for (const char* d : {"deadline=1e999", "deadline=inf", "deadline=nan", "deadline=-nan", "deadline=0"}) {
    auto r = parse_mount_helper_args({"org/name", "/mnt", "-o", d}, &fake);
    ASSERT_FALSE(r.ok()) << d;
    EXPECT_NE(r.status().message().find("deadline"), std::string::npos) << r.status().message();
  }
  auto ok = parse_mount_helper_args({"org/name", "/mnt", "-o", "deadline=2.5"}, &fake);
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_DOUBLE_EQ(ok->op_deadline_s, 2.5);
}

// Mount options are comma-separated, so a list of endpoints is the key repeated, in order.
TEST(MountHelper, EndpointListNoTokenAndBackoff) {
  bool fake = false;
  auto m = parse_mount_helper_args(
      {"org/name", "/mnt", "-o",
       "ro,endpoint=https://mirror.example,endpoint=https://huggingface.co,no_token_endpoint=https://mirror.example,"
       "endpoint_backoff=7.5,_netdev"},
      &fake);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->endpoint, (std::vector<std::string>{"https://mirror.example", "https://huggingface.co"}));
  EXPECT_EQ(m->no_token_endpoint, std::vector<std::string>{"https://mirror.example"});
  EXPECT_DOUBLE_EQ(m->endpoint_backoff_s, 7.5);
  // -o given twice (mount(8) may split them) keeps the order too.
  auto two = parse_mount_helper_args({"org/name", "/mnt", "-o", "endpoint=http://a", "-o", "endpoint=http://b"}, &fake);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->endpoint, (std::vector<std::string>{"http://a", "http://b"}));
  auto none = parse_mount_helper_args({"org/name", "/mnt", "-o", "ro"}, &fake);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->endpoint.empty());
  EXPECT_DOUBLE_EQ(none->endpoint_backoff_s, 2);
}

TEST(MountHelper, EndpointOptionsNeedValuesAndBackoffIsBounded) {
  bool fake = false;
  for (const char* bad : {"endpoint=", "endpoint", "no_token_endpoint=", "endpoint_backoff=", "endpoint_backoff=0",
                          "endpoint_backoff=120.5", "endpoint_backoff=-1", "endpoint_backoff=inf", "endpoint_backoff=1x"}) {
    auto r = parse_mount_helper_args({"org/name", "/mnt", "-o", bad}, &fake);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("endpoint"), std::string::npos) << r.status().message();
  }
  auto r = parse_mount_helper_args({"org/name", "/mnt", "-o", "endpoint_backoff=120"}, &fake);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_DOUBLE_EQ(r->endpoint_backoff_s, 120);
}

// A partial view in fstab: subfolder=, and include= / exclude= repeated, one glob each (the
// options field is comma-separated itself, so a glob cannot hold a comma there).
TEST(MountHelper, SubfolderAndRepeatedGlobs) {
  bool fake;
  auto m = parse_mount_helper_args({"org/name", "/mnt", "-o",
                                    "ro,subfolder=onnx,include=*.json,include=*.onnx,exclude=tmp/*"},
                                   &fake);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->subfolder, "onnx");
  EXPECT_EQ(m->include, (std::vector<std::string>{"*.json", "*.onnx"}));
  EXPECT_EQ(m->exclude, std::vector<std::string>{"tmp/*"});
  // The repo path form goes through as the source.
  auto path = parse_mount_helper_args({"datasets/org/name/data/train", "/mnt"}, &fake);
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(path->repo, "datasets/org/name/data/train");
  for (const char* bad : {"include=", "exclude", "subfolder="})
    EXPECT_FALSE(parse_mount_helper_args({"org/name", "/mnt", "-o", bad}, &fake).ok()) << bad;
}

// mount.fuse.hffs(8) says "Same as revision=" for rev= (cli/man_pages.cc): an alias is a key that
// sets the field of an earlier one, and only rev= and type= are.
TEST(MountHelper, AliasesNameTheOptionTheySpellDifferently) {
  std::map<std::string, std::string> alias;
  for (const auto& o : fstab_options())
    if (!o.alias_of.empty()) alias[o.key] = o.alias_of;
  EXPECT_EQ(alias, (std::map<std::string, std::string>{{"rev", "revision"}, {"type", "repo_type"}}));
}
