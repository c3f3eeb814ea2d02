// The bash completion script, one table per command path (subcommands, options, how each option's
// value completes) and one walker that needs nothing but bash (no bash-completion helpers), so a
// test can run it with COMP_WORDS/COMP_CWORD set (tests/package/test_docs.py).
#include <CLI/CLI.hpp>

#include <sstream>

#include "cli/doc_gen.h"

namespace hffs::cli {

namespace {

struct Path {
  std::string words;  // "" for hffs itself, "cache gc"
  const CLI::App* cmd;
};

void collect(const CLI::App& cmd, const std::string& words, std::vector<Path>& out) {
  out.push_back({words, &cmd});
  for (const CLI::App* s : visible_subcommands(cmd))
    collect(*s, words.empty() ? s->get_name() : words + " " + s->get_name(), out);
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

const char* const kWalker = R"BASH(
# Walks the words before the cursor: a subcommand name descends, an option that takes a value
# skips its value (also --opt=value, which bash splits at '='), then completes the word under the
# cursor (one reply per line: directory names with spaces stay whole).
_hffs() {
  local cur="${COMP_WORDS[COMP_CWORD]}" path="" i w kind="" value_of=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="${COMP_WORDS[i]}"
    if [[ -n "$value_of" ]]; then
      [[ "$w" == "=" ]] && continue
      value_of=""
      continue
    fi
    case "$w" in
      -*) [[ -n "$(_hffs_value "$path" "$w")" ]] && value_of="$w" ;;
      *) if [[ " $(_hffs_subcommands "$path") " == *" $w "* ]]; then path="${path:+$path }$w"; fi ;;
    esac
  done
  [[ "$cur" == "=" ]] && cur=""
  COMPREPLY=()
  if [[ -n "$value_of" ]]; then
    kind="$(_hffs_value "$path" "$value_of")"
    case "$kind" in
      dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
      file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
      choice:*) mapfile -t COMPREPLY < <(compgen -W "${kind#choice:}" -- "$cur") ;;
    esac
    return 0
  fi
  if [[ "$cur" == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_hffs_options "$path")" -- "$cur")
  elif [[ -n "$(_hffs_subcommands "$path")" ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_hffs_subcommands "$path")" -- "$cur")
  elif [[ "$(_hffs_positional "$path")" == dir ]]; then
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -d -- "$cur")
  fi
  return 0
}
complete -F _hffs hffs
)BASH";

}  // namespace

std::string bash_completion(const CLI::App& app) {
  std::vector<Path> paths;
  collect(app, "", paths);
  std::ostringstream subs, opts, values, positional;
  for (const Path& p : paths) {
    std::vector<std::string> sub_names, opt_names;
    for (const CLI::App* s : visible_subcommands(*p.cmd)) sub_names.push_back(s->get_name());
    bool dir_positional = false;
    for (const OptionDoc& d : option_docs(*p.cmd)) {
      if (d.positional) {
        dir_positional = dir_positional || d.kind == OptionDoc::kDir;
        continue;
      }
      for (const auto& n : d.names) {
        opt_names.push_back(n);
        if (!d.takes_value) continue;
        std::string kind = d.kind == OptionDoc::kDir    ? "dir"
                           : d.kind == OptionDoc::kFile ? "file"
                           : d.kind == OptionDoc::kChoice ? "choice:" + join(d.choices)
                                                          : "text";
        values << "    \"" << p.words << "|" << n << "\") echo \"" << kind << "\" ;;\n";
      }
    }
    if (!sub_names.empty()) subs << "    \"" << p.words << "\") echo \"" << join(sub_names) << "\" ;;\n";
    opts << "    \"" << p.words << "\") echo \"" << join(opt_names) << "\" ;;\n";
    if (dir_positional) positional << "    \"" << p.words << "\") echo dir ;;\n";
  }
  std::ostringstream out;
  out << "# bash completion for hffs(1), made by `hffs __doc` from its own option tables: do not edit.\n"
      << "# shellcheck shell=bash\n"
      << "_hffs_subcommands() {  # PATH: the subcommands under it\n  case \"$1\" in\n" << subs.str()
      << "  esac\n}\n"
      << "_hffs_options() {  # PATH: its options\n  case \"$1\" in\n" << opts.str() << "  esac\n}\n"
      << "_hffs_value() {  # PATH OPTION: how its value completes (dir, file, choice:LIST, text); nothing for a flag\n"
      << "  case \"$1|$2\" in\n" << values.str() << "  esac\n}\n"
      << "_hffs_positional() {  # PATH: dir when its operands are directories\n  case \"$1\" in\n"
      << positional.str() << "  esac\n}\n"
      << kWalker;
  return out.str();
}

}  // namespace hffs::cli
