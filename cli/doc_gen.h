// Man pages and bash completion made from the CLI11 command tree that parses the command line and
// from the fstab option table (cli/fstab.h), so what they document is what hffs takes: an option
// added to either appears in them without anyone editing a page. The build runs `hffs __doc DIR`
// (packaging/CMakeLists.txt); tests/package/test_docs.py holds the output to `--help`.
#pragma once
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace hffs::cli {

// How an option's value completes and reads in a page.
struct OptionDoc {
  std::vector<std::string> names;    // "-r", "--revision"; for a positional its name ("repo")
  bool positional = false;
  bool required = false;
  bool takes_value = false;          // false: a flag
  bool repeatable = false;           // a list: PATTERNS..., --endpoint given again
  std::string placeholder;           // DIR, N, auto|strict, ...
  std::vector<std::string> choices;  // from an IsMember check
  enum Kind { kNone, kText, kFile, kDir, kChoice } kind = kNone;
  std::string help;
};

// The options of one command (app or subcommand), positionals last, in registration order.
std::vector<OptionDoc> option_docs(const CLI::App& cmd);

// The subcommands of `cmd` that a user sees (hidden ones, with an empty group, left out).
std::vector<const CLI::App*> visible_subcommands(const CLI::App& cmd);

std::string man_page_hffs(const CLI::App& app, const std::string& version);          // hffs(1)
std::string man_page_mount_helper(const CLI::App& app, const std::string& version);  // mount.fuse.hffs(8)
std::string bash_completion(const CLI::App& app);  // /usr/share/bash-completion/completions/hffs

// `hffs __doc DIR` (hidden): writes DIR/hffs.1, DIR/mount.fuse.hffs.8, DIR/hffs.bash-completion.
int cmd_doc(const CLI::App& app, const std::vector<std::string>& args);

}  // namespace hffs::cli
