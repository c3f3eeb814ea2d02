#include "cli/doc_gen.h"

#include <CLI/CLI.hpp>

#include <cctype>
#include <fstream>
#include <iostream>

#include "cli/exit_codes.h"

namespace hffs::cli {

namespace {

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// "TEXT:{model,dataset,space}" -> model, dataset, space.
std::vector<std::string> choices_of(const std::string& type_name) {
  std::vector<std::string> out;
  auto open = type_name.find('{'), close = type_name.find('}');
  if (open == std::string::npos || close == std::string::npos || close < open) return out;
  std::string item;
  for (char c : type_name.substr(open + 1, close - open - 1)) {
    if (c == ',') {
      out.push_back(item);
      item.clear();
    } else if (c != ' ') {
      item += c;
    }
  }
  if (!item.empty()) out.push_back(item);
  return out;
}

// What the value of a TEXT option is, from its long name's last word: --cache-dir DIR, --ca-file
// FILE, --revision REVISION. Numbers read N.
OptionDoc::Kind kind_and_placeholder(const CLI::Option& o, OptionDoc& d) {
  std::string type = o.get_type_name();
  d.choices = choices_of(type);
  if (!d.choices.empty()) {
    for (size_t i = 0; i < d.choices.size(); ++i) d.placeholder += (i ? "|" : "") + d.choices[i];
    return OptionDoc::kChoice;
  }
  std::string base = type.substr(0, type.find(':'));
  if (o.get_lnames().empty()) {  // -o: FUSE options
    d.placeholder = "OPTIONS";
    return OptionDoc::kText;
  }
  std::string name = o.get_lnames().front();
  std::string last = name.substr(name.rfind('-') == std::string::npos ? 0 : name.rfind('-') + 1);
  if (base != "TEXT") {
    d.placeholder = "N";
    return OptionDoc::kText;
  }
  d.placeholder = upper(last);
  if (last == "dir") return OptionDoc::kDir;
  if (last == "file") return OptionDoc::kFile;
  return OptionDoc::kText;
}

}  // namespace

std::vector<OptionDoc> option_docs(const CLI::App& cmd) {
  std::vector<OptionDoc> named, positional;
  for (const CLI::Option* o : cmd.get_options()) {
    OptionDoc d;
    d.help = o->get_description();
    d.positional = !o->nonpositional();
    d.required = o->get_required();
    if (d.positional) {
      d.names.push_back(o->get_name());
    } else {
      for (const auto& s : o->get_snames()) d.names.push_back("-" + s);
      for (const auto& l : o->get_lnames()) d.names.push_back("--" + l);
    }
    d.takes_value = o->get_expected_max() > 0;  // a flag expects 0 values
    d.repeatable = d.takes_value && o->get_items_expected_max() > 1;
    if (d.takes_value) d.kind = kind_and_placeholder(*o, d);
    if (d.positional) {
      d.placeholder = upper(o->get_name());
      d.kind = o->get_name() == "mountpoint" ? OptionDoc::kDir : OptionDoc::kText;
    }
    (d.positional ? positional : named).push_back(std::move(d));
  }
  named.insert(named.end(), positional.begin(), positional.end());
  return named;
}

std::vector<const CLI::App*> visible_subcommands(const CLI::App& cmd) {
  return cmd.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); });
}

int cmd_doc(const CLI::App& app, const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::cerr << "usage: hffs __doc DIR\n";
    return kExitUsage;
  }
  const std::string version = HFFS_VERSION;
  const std::pair<const char*, std::string> files[] = {
      {"hffs.1", man_page_hffs(app, version)},
      {"mount.fuse.hffs.8", man_page_mount_helper(app, version)},
      {"hffs.bash-completion", bash_completion(app)},
  };
  for (const auto& [name, text] : files) {
    std::ofstream out(args[0] + "/" + name, std::ios::trunc);
    out << text;
    if (!out.flush()) {
      std::cerr << "hffs __doc: cannot write " << args[0] << "/" << name << "\n";
      return kExitError;
    }
  }
  return kExitOk;
}

}  // namespace hffs::cli
