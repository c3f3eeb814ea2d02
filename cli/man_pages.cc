// hffs(1) and mount.fuse.hffs(8), written as roff from the command tree and the fstab table. The
// prose around the generated lists is kept short: README.md is the long form.
#include <CLI/CLI.hpp>

#include <cctype>
#include <sstream>

#include "cli/doc_gen.h"
#include "cli/exit_codes.h"
#include "cli/fstab.h"

namespace hffs::cli {

namespace {

// Text for a roff body line: backslashes escaped, a '-' that starts a word (an option name) made a
// minus sign, newlines joined, and a leading '.' or '\'' kept from reading as a request.
std::string roff(const std::string& s) {
  std::string out;
  char before = ' ';
  for (char c : s) {
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-' && (before == ' ' || before == '(' || before == '-' || before == '[' || before == '|')) {
      out += "\\-";
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
    before = c;
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out = "\\&" + out;
  return out;
}

std::string bold(const std::string& s) { return "\\fB" + roff(s) + "\\fR"; }

// An option name in bold, every '-' a minus sign so that it can be copied into a shell.
std::string option_name(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '-' ? std::string("\\-") : std::string(1, c);
  return "\\fB" + out + "\\fR";
}
std::string italic(const std::string& s) { return "\\fI" + roff(s) + "\\fR"; }

// ".TP" tag of an option: "-r, --revision REVISION".
std::string option_tag(const OptionDoc& d) {
  if (d.positional) return italic(d.placeholder);
  std::string tag;
  for (const auto& n : d.names) tag += (tag.empty() ? "" : ", ") + option_name(n);
  if (d.takes_value) tag += " " + italic(d.placeholder);
  return tag;
}

std::string upper_name(const std::string& s) {  // "mount.fuse.hffs" -> "MOUNT.FUSE.HFFS"
  std::string out = s;
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string header(const std::string& name, int section, const std::string& version, const char* manual) {
  return ".TH " + upper_name(name) + " " + std::to_string(section) + " \"\" \"hffs " + version + "\" \"" + manual + "\"\n";
}

void synopsis_lines(const CLI::App& cmd, const std::string& path, std::ostringstream& out) {
  auto subs = visible_subcommands(cmd);
  if (!subs.empty()) {
    for (const CLI::App* s : subs) synopsis_lines(*s, path + " " + s->get_name(), out);
    return;
  }
  out << ".B " << roff(path) << "\n[\\fIOPTIONS\\fR]";
  for (const auto& d : option_docs(cmd)) {
    if (!d.positional) continue;
    std::string arg = italic(d.placeholder) + (d.repeatable ? "..." : "");
    out << " " << (d.required ? arg : "[" + arg + "]");
  }
  out << "\n.br\n";
}

void command_section(const CLI::App& cmd, const std::string& path, std::ostringstream& out) {
  out << ".SS \"" << roff(path) << "\"\n" << roff(cmd.get_description()) << "\n";
  for (const auto& d : option_docs(cmd)) {
    if (!d.positional && d.names.back() == "--help") continue;  // listed once, under OPTIONS
    out << ".TP\n" << option_tag(d) << "\n" << roff(d.help.empty() ? "(no description)" : d.help) << "\n";
  }
  for (const CLI::App* s : visible_subcommands(cmd)) command_section(*s, path + " " + s->get_name(), out);
}

const CLI::App* find_mount(const CLI::App& app) {
  for (const CLI::App* s : visible_subcommands(app))
    if (s->get_name() == "mount") return s;
  return nullptr;
}

}  // namespace

std::string man_page_hffs(const CLI::App& app, const std::string& version) {
  std::ostringstream out;
  out << header("hffs", 1, version, "User Commands");
  out << ".SH NAME\nhffs \\- mount a Hugging Face Hub repository as a read\\-only directory\n";
  out << ".SH SYNOPSIS\n";
  for (const CLI::App* s : visible_subcommands(app)) synopsis_lines(*s, "hffs " + s->get_name(), out);
  out << ".B hffs\n\\fB\\-\\-help\\fR | \\fB\\-\\-version\\fR\n";
  out << ".SH DESCRIPTION\n"
      << roff("hffs mounts a model, dataset or space of the Hugging Face Hub (or a mirror of it) as a "
              "read-only FUSE filesystem. At mount it resolves the revision to one commit and lists the "
              "repository; file contents are fetched on first read with HTTP range requests, verified "
              "against their hashes, and kept in a block cache on disk shared by every mount of the "
              "machine.")
      << "\n.PP\n"
      << roff("mount(8) and /etc/fstab use the mount helper, see mount.fuse.hffs(8). The systemd template "
              "unit hffs@.service mounts one repository per instance, configured by /etc/hffs/INSTANCE.env "
              "(an example is in /usr/share/doc/hffs/examples/).")
      << "\n";
  out << ".SH OPTIONS\n";
  for (const auto& d : option_docs(app))
    out << ".TP\n" << option_tag(d) << "\n" << roff(d.help) << "\n";
  out << ".SH COMMANDS\n";
  for (const CLI::App* s : visible_subcommands(app)) command_section(*s, "hffs " + s->get_name(), out);
  std::string footer = app.get_footer();
  if (auto colon = footer.find(':'); colon != std::string::npos) footer = footer.substr(colon + 1);
  out << ".SH ENVIRONMENT\n" << roff(footer.substr(footer.find_first_not_of(' '))) << "\n";
  const std::pair<int, const char*> codes[] = {
      {kExitOk, "success"},
      {kExitError, "any other error (the message says what); prefetch: some file failed; cache verify: corruption found"},
      {kExitUsage, "bad option or value, malformed repository id, nothing matched"},
      {kExitRepoNotFound, "repository not found"},
      {kExitRevisionNotFound, "revision not found"},
      {kExitAccess, "access denied: gated repository, invalid token, forbidden"},
      {kExitNetwork, "Hub unreachable, timeout, server errors; offline with nothing kept"},
      {kExitMountpoint, "mount point missing, not a directory or busy; FUSE unavailable"},
      {kExitCache, "cache directory unusable"},
  };
  out << ".SH EXIT STATUS\n";
  for (const auto& [code, what] : codes) out << ".TP\n.B " << code << "\n" << roff(what) << "\n";
  out << ".SH FILES\n"
      << ".TP\n.I $HF_HOME/hffs\n" << roff("Default block cache (HF_HOME defaults to ~/.cache/huggingface).") << "\n"
      << ".TP\n.I /etc/hffs/INSTANCE.env\n" << roff("Configuration of the systemd instance hffs@INSTANCE.") << "\n"
      << ".TP\n.I /var/cache/hffs\n" << roff("Block cache of the systemd instances.") << "\n";
  out << ".SH SEE ALSO\n\\fBmount.fuse.hffs\\fR(8), \\fBmount\\fR(8), \\fBfusermount3\\fR(1), "
         "\\fBsystemd.service\\fR(5)\n";
  return out.str();
}

std::string man_page_mount_helper(const CLI::App& app, const std::string& version) {
  const CLI::App* mount = find_mount(app);
  std::vector<OptionDoc> mount_opts = mount ? option_docs(*mount) : std::vector<OptionDoc>{};
  auto mount_option = [&](const std::string& key) -> const OptionDoc* {
    std::string lname = "--" + key;
    for (char& c : lname) c = c == '_' ? '-' : c;
    for (const auto& d : mount_opts)
      for (const auto& n : d.names)
        if (n == lname) return &d;
    return nullptr;
  };
  std::ostringstream out;
  out << header("mount.fuse.hffs", 8, version, "System Administration");
  out << ".SH NAME\nmount.fuse.hffs, mount.hffs \\- mount helper for hffs filesystems in /etc/fstab\n";
  out << ".SH SYNOPSIS\n.B mount.fuse.hffs\n\\fIREPO\\fR \\fIMOUNTPOINT\\fR [\\fB\\-o\\fR \\fIOPTIONS\\fR] "
         "[\\fB\\-s\\fR] [\\fB\\-f\\fR] [\\fB\\-n\\fR] [\\fB\\-v\\fR]\n";
  out << ".SH DESCRIPTION\n"
      << roff("mount(8) runs this helper for filesystems of type fuse.hffs (and mount.hffs for type hffs): "
              "mount -t fuse.hffs org/name /mnt/model -o ro,revision=v1.0. It mounts like hffs mount and "
              "returns once the mount serves. REPO is org/name, datasets/org/name or spaces/org/name; the "
              "form hffs#org/name is accepted too. With the option hub the source is ignored and every "
              "repository is served under MOUNTPOINT.")
      << "\n.PP\n"
      << roff("Each option of hffs mount is an fstab option here: its long name with '_' for '-', with "
              "the same values and bounds. Not here: --token (a secret in a world-readable file; use "
              "token_file=), --foreground and --debug-fuse (mount(8) needs the daemon to detach).")
      << "\n";
  out << ".SH HELPER FLAGS\n"
      << ".TP\n.B \\-o \\fIOPTIONS\\fR\n" << roff("Comma-separated mount options, below.") << "\n"
      << ".TP\n.B \\-s\n" << roff("Sloppy: ignore options hffs does not know.") << "\n"
      << ".TP\n.B \\-f\n" << roff("Fake: parse the options, mount nothing.") << "\n"
      << ".TP\n.B \\-n\\fR, \\fB\\-v\n" << roff("Accepted and ignored.") << "\n";
  out << ".SH OPTIONS\n";
  for (const FstabOption& o : fstab_options()) {
    const OptionDoc* d = mount_option(o.alias_of.empty() ? o.key : o.alias_of);
    out << ".TP\n" << bold(o.key + (o.value ? "=" : ""));
    if (o.value) out << italic(d ? d->placeholder : "VALUE");
    out << "\n";
    if (!o.alias_of.empty())
      out << roff("Same as " + o.alias_of + "=.") << "\n";
    else
      out << roff(d ? d->help : "(no description)") << (o.list ? "\n.br\n" + roff("Repeat the option for a list, in order.") : "")
          << "\n";
  }
  out << ".SS \"FUSE and generic options\"\n"
      << roff("allow_other, allow_root, default_permissions, auto_unmount and max_read= are passed to FUSE "
              "(allow_other lets every user read the mount). mount(8)'s generic options (defaults, ro, rw, "
              "auto, noauto, nofail, _netdev, user, users, nosuid, nodev, noexec, noatime, x-*, comment=, ...) "
              "are accepted and ignored: the mount is always read-only. Any other option is an error that "
              "lists the accepted ones, unless -s is given.")
      << "\n";
  out << ".SH EXAMPLES\n.nf\n"
      << "org/name  /mnt/model  fuse.hffs  ro,allow_other,revision=v1.0,_netdev,nofail  0 0\n"
      << "hub       /mnt/hf     fuse.hffs  ro,allow_other,hub,_netdev  0 0\n.fi\n";
  out << ".SH SEE ALSO\n\\fBhffs\\fR(1), \\fBfstab\\fR(5), \\fBmount\\fR(8), \\fBmount.fuse3\\fR(8)\n";
  return out.str();
}

}  // namespace hffs::cli
