// Every option of `hffs mount` has an fstab spelling that sets the same thing, and every fstab
// option is a mount option: walks the CLI11 definition (cli/mount_options.cc) and the fstab table
// (cli/fstab.cc), so that a new option cannot be added to one and forgotten in the other.
#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "cli/fstab.h"
#include "cli/mount_options.h"

namespace hffs::cli {
namespace {

// Command-line options with no fstab form, and why.
const std::map<std::string, std::string> kCliOnly = {
    {"token", "a secret does not belong in /etc/fstab (world-readable) or mount(8)'s argv: use token_file="},
    {"foreground", "mount(8) waits for its helper: the daemon must detach (and the helper's -f means 'fake')"},
    {"debug_fuse", "implies --foreground"},
    {"help", "CLI11's own"},
};
// fstab options with no command-line form of that name, and why.
const std::map<std::string, std::string> kFstabOnly = {
    {"rev", "alias of revision="},
    {"type", "alias of repo_type="},
};
// The "-o" option has only a short name: on an fstab line it is the options field itself.

// A value each option accepts, for the round trip below (flags take none).
const std::map<std::string, std::string> kSample = {
    {"idle_release", "30"},      {"refresh", "10"},            {"revision", "v1.0"},         {"repo_type", "dataset"},
    {"endpoint", "http://hub"},  {"token_file", "/etc/hf"},     {"cache_dir", "/var/cache/x"},
    {"cache_group", "hf"},       {"cache_size", "20G"},         {"cache_min_free", "1G"},
    {"ca_file", "/etc/ca.pem"},  {"log_level", "debug"},        {"log_file", "/var/log/h"},
    {"deadline", "2.5"},         {"part_size", "16"},           {"max_inflight", "512"},
    {"metrics_file", "/run/m"},  {"verify", "strict"},          {"verify_whole_max", "16M"},
    {"read_ahead_kb", "4096"},   {"no_token_endpoint", "http://hub"}, {"endpoint_backoff", "0.5"},
    {"stall_timeout", "2"},      {"subfolder", "onnx"},         {"include", "*.json"},
    {"exclude", "*.bin"},
};

std::string fstab_key(const std::string& long_name) {
  std::string k = long_name;
  std::replace(k.begin(), k.end(), '-', '_');
  return k;
}

// `hffs mount ARGS...` as the command line parses it.
MountArgs parse_mount(std::vector<std::string> argv) {
  CLI::App app;
  MountArgs m;
  add_mount_command(app, m);
  argv.insert(argv.begin(), "mount");
  std::reverse(argv.begin(), argv.end());  // CLI11 takes them last first
  app.parse(argv);
  return m;
}

// `hffs mount org/name /mnt ARGS...` as the command line parses it.
MountArgs parse_cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"org/name", "/mnt"};
  argv.insert(argv.end(), args.begin(), args.end());
  return parse_mount(argv);
}

struct CliOption {
  std::string key;  // the fstab spelling of its long name
  bool flag;
  std::string long_name;
  bool list;  // may be repeated, each occurrence adding one value
};

std::vector<CliOption> cli_options() {
  CLI::App app;
  MountArgs m;
  std::vector<CliOption> out;
  for (const CLI::Option* o : add_mount_command(app, m)->get_options()) {
    if (o->get_positional()) continue;  // REPO, MOUNTPOINT
    if (o->get_lnames().empty()) {
      EXPECT_EQ(o->get_snames(), std::vector<std::string>{"o"}) << "an option without a long name: give it one";
      continue;
    }
    const std::string& ln = o->get_lnames().front();
    // A flag expects no value; a list option takes one value per occurrence, any number of times.
    out.push_back({fstab_key(ln), o->get_expected_max() == 0, ln, o->get_expected_max() > 1});
  }
  return out;
}

TEST(MountOptions, EveryCliOptionHasAnFstabFormThatSetsTheSame) {
  std::map<std::string, bool> fstab;
  for (const auto& o : fstab_options()) fstab[o.key] = o.value;
  auto opts = cli_options();
  ASSERT_GT(opts.size(), 25u);
  for (const auto& o : opts) {
    if (kCliOnly.count(o.key)) continue;
    SCOPED_TRACE("--" + o.long_name);
    ASSERT_TRUE(fstab.count(o.key)) << "no fstab option '" << o.key << "': add it to cli/fstab.cc (or to kCliOnly, with why)";
    EXPECT_EQ(fstab[o.key], !o.flag) << "a flag in one spelling, a value in the other";
    std::vector<std::string> cli_args = {"--" + o.long_name};
    std::string fstab_opt = o.key;
    if (!o.flag) {
      auto sample = kSample.find(o.key);
      ASSERT_NE(sample, kSample.end()) << "give kSample a value for " << o.key;
      cli_args.push_back(sample->second);
      fstab_opt += "=" + sample->second;
    }
    MountArgs from_cli = parse_cli(cli_args);
    bool fake = false;
    auto from_fstab = parse_mount_helper_args({"org/name", "/mnt", "-o", "ro," + fstab_opt}, &fake);
    ASSERT_TRUE(from_fstab.ok()) << from_fstab.status().to_string();
    if (o.key == "hub") from_cli.repo.clear();  // `hffs mount --hub` swaps its positionals later
    EXPECT_TRUE(*from_fstab == from_cli) << "--" << o.long_name << " and " << fstab_opt << " set different things";
    MountArgs defaults;
    defaults.repo = from_fstab->repo;
    defaults.mountpoint = "/mnt";
    EXPECT_FALSE(*from_fstab == defaults)
        << fstab_opt << " changed nothing: pick a sample value that is not the default";
  }
}

// A list on the command line (--endpoint A --endpoint B) is the same list in fstab, in the same order.
TEST(MountOptions, RepeatedOptionsAreRepeatedKeysInTheSameOrder) {
  std::map<std::string, bool> fstab_list;
  for (const auto& o : fstab_options()) fstab_list[o.key] = o.list;
  size_t lists = 0;
  for (const auto& o : cli_options()) {
    if (kCliOnly.count(o.key) || o.flag) continue;
    SCOPED_TRACE("--" + o.long_name);
    EXPECT_EQ(fstab_list[o.key], o.list) << "repeatable in one spelling only";
    if (!o.list) continue;
    ++lists;
    const std::vector<std::string> values = {"http://b.example", "http://a.example", "http://c.example"};
    std::vector<std::string> cli_args;
    std::string fstab_opts = "ro";
    for (const auto& v : values) {
      cli_args.insert(cli_args.end(), {"--" + o.long_name, v});
      fstab_opts += "," + o.key + "=" + v;
    }
    bool fake = false;
    auto from_fstab = parse_mount_helper_args({"org/name", "/mnt", "-o", fstab_opts}, &fake);
    ASSERT_TRUE(from_fstab.ok()) << from_fstab.status().to_string();
    EXPECT_TRUE(*from_fstab == parse_cli(cli_args)) << fstab_opts;
  }
  EXPECT_GE(lists, 2u) << "--endpoint and --no-token-endpoint are lists";
  auto m = parse_cli({"--endpoint", "http://b.example", "--endpoint", "http://a.example"});
  EXPECT_EQ(m.endpoint, (std::vector<std::string>{"http://b.example", "http://a.example"}));
}

// A list option takes one value per occurrence: REPO and MOUNTPOINT after it stay positionals.
TEST(MountOptions, AListOptionDoesNotSwallowThePositionals) {
  auto m = parse_mount({"--endpoint", "http://a.example", "--no-token-endpoint", "http://a.example", "--include",
                        "*.json", "--exclude", "*.bin", "org/name", "/mnt"});
  EXPECT_EQ(m.include, std::vector<std::string>{"*.json"});
  EXPECT_EQ(m.exclude, std::vector<std::string>{"*.bin"});
  EXPECT_EQ(m.endpoint, std::vector<std::string>{"http://a.example"});
  EXPECT_EQ(m.no_token_endpoint, std::vector<std::string>{"http://a.example"});
  EXPECT_EQ(m.repo, "org/name");
  EXPECT_EQ(m.mountpoint, "/mnt");
}

TEST(MountOptions, EveryFstabOptionIsACliOption) {
  std::set<std::string> cli;
  for (const auto& o : cli_options()) cli.insert(o.key);
  for (const auto& o : fstab_options()) {
    if (kFstabOnly.count(o.key)) continue;
    EXPECT_TRUE(cli.count(o.key)) << "fstab option '" << o.key << "' has no --" << o.key << " (or list it in kFstabOnly)";
  }
  for (const auto& [k, why] : kCliOnly) EXPECT_TRUE(cli.count(k)) << "kCliOnly lists a gone option " << k;
}

TEST(MountOptions, NumbersAreBoundedAsOnTheCommandLine) {
  bool fake = false;
  for (const char* bad : {"part_size=0", "part_size=257", "max_inflight=0", "max_inflight=65537", "idle_release=0",
                          "idle_release=-1", "read_ahead_kb=4k", "read_ahead_kb=", "part_size=1.5",
                          "read_ahead_kb=99999999999", "endpoint_backoff=0", "endpoint_backoff=121",
                          "endpoint_backoff=2s", "endpoint_backoff=nan", "stall_timeout=0", "stall_timeout=3601"}) {
    auto r = parse_mount_helper_args({"org/name", "/mnt", "-o", bad}, &fake);
    EXPECT_FALSE(r.ok()) << bad;
  }
  for (const char* bad : {"--part-size=0", "--part-size=257", "--max-inflight=0", "--max-inflight=65537",
                          "--idle-release=0", "--endpoint-backoff=0", "--endpoint-backoff=121",
                          "--stall-timeout=0", "--stall-timeout=3601"})
    EXPECT_THROW(parse_cli({bad}), CLI::ParseError) << bad;
  auto ok = parse_mount_helper_args({"org/name", "/mnt", "-o", "part_size=256,max_inflight=1,idle_release=5,read_ahead_kb=0"},
                                    &fake);
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(ok->part_mib, 256u);
  EXPECT_EQ(ok->max_inflight_mib, 1u);
  EXPECT_EQ(ok->idle_release_s, 5u);
  EXPECT_EQ(ok->read_ahead_kb, 0u);
}

}  // namespace
}  // namespace hffs::cli
