#include "hubapi/snapshot.h"

#include <nlohmann/json.hpp>

#include "hubapi/tree_parse.h"

namespace hffs::hubapi {

using nlohmann::json;

std::string serialize_snapshot(const Snapshot& s) {
  json doc{{"format_version", 1},
           {"repo_type", std::string(repo_type_name(s.repo.type))},
           {"repo", s.repo.id},
           {"id", s.info.id},
           {"sha", s.info.sha},
           {"lastModified", s.info.last_modified},
           {"lastModifiedEpoch", s.info.last_modified_epoch},
           {"private", s.info.is_private},
           {"gated", s.info.gated},
           {"tree_in_image", s.tree_in_image}};
  // The tree is written entry by entry, as the last member ("tree" sorts after the others): one
  // DOM of a million-file tree would take about a gigabyte, for a moment, at every new mount.
  std::string out = doc.dump(1);
  out.resize(out.rfind('}'));
  while (!out.empty() && out.back() == '\n') out.pop_back();
  out += ",\n \"tree\": [";
  bool first = true;
  for (const auto& e : s.tree) {
    // A directory the listing only implied (no oid of its own) is implied again on load; written
    // out, its empty oid would make the whole view unreadable.
    if (e.type == TreeEntry::Type::kDirectory && e.oid.empty()) continue;
    json j{{"type", e.type == TreeEntry::Type::kFile ? "file" : "directory"},
           {"path", e.path},
           {"size", e.size},
           {"oid", e.oid}};
    if (e.lfs_sha256) j["lfs"] = {{"oid", *e.lfs_sha256}, {"size", e.size}};
    out += first ? "\n  " : ",\n  ";
    out += j.dump();
    first = false;
  }
  out += first ? "]\n}" : "\n ]\n}";
  return out;
}

Result<Snapshot> parse_snapshot(std::string_view text) {
  // Each object of "tree" goes to the TreeBuilder (a page at a time) as soon as it is parsed and
  // is dropped from the document: a DOM of a million-file tree would take about a gigabyte.
  TreeBuilder b;
  json page = json::array();
  Status paged = Status::ok();
  bool pages = false;
  auto flush = [&] {
    if (paged) paged = b.add_page(page.dump());
    page = json::array();
    pages = true;
  };
  bool in_tree = false;
  json::parser_callback_t take_entries = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key) in_tree = parsed == "tree";
    if (depth != 2 || event != json::parse_event_t::object_end || !in_tree) return true;
    page.push_back(std::move(parsed));
    if (page.size() == 1000) flush();
    return false;
  };
  json doc = json::parse(text, take_entries, /*allow_exceptions=*/false);
  if (!doc.is_object() || doc.value("format_version", 0) != 1 || !doc.contains("tree") || !doc["tree"].is_array())
    return Status(Errc::kInvalidInput, "not an hffs snapshot (format_version 1)");
  Snapshot s;
  try {
    auto type = parse_repo_type(doc.at("repo_type").get<std::string>());
    if (!type) return type.status();
    s.repo = RepoId{*type, doc.at("repo").get<std::string>()};
    s.info.id = doc.at("id").get<std::string>();
    s.info.sha = doc.at("sha").get<std::string>();
    s.info.last_modified = doc.at("lastModified").get<std::string>();
    s.info.last_modified_epoch = doc.at("lastModifiedEpoch").get<int64_t>();
    s.info.is_private = doc.at("private").get<bool>();
    s.info.gated = doc.at("gated").get<std::string>();
    s.tree_in_image = doc.value("tree_in_image", false);
  } catch (const json::exception& e) {
    return Status(Errc::kInvalidInput, std::string("bad snapshot: ") + e.what());
  }
  // What the callback left in "tree" (elements that are not objects) is judged by the builder too.
  for (auto& e : doc["tree"]) page.push_back(std::move(e));
  if (!page.empty() || !pages) flush();
  if (!paged) return paged;
  auto tree = std::move(b).finish();
  if (!tree) return tree.status();
  s.tree = std::move(*tree);
  return s;
}

}  // namespace hffs::hubapi
