#include "hubapi/snapshot.h"

#include <nlohmann/json.hpp>

#include "hubapi/tree_parse.h"

namespace hffs::hubapi {

using nlohmann::json;

std::string serialize_snapshot(const Snapshot& s) {
  json tree = json::array();
  for (const auto& e : s.tree) {
    // A directory the listing only implied (no oid of its own) is implied again on load; written
    // out, its empty oid would make the whole view unreadable.
    if (e.type == TreeEntry::Type::kDirectory && e.oid.empty()) continue;
    json j{{"type", e.type == TreeEntry::Type::kFile ? "file" : "directory"},
           {"path", e.path},
           {"size", e.size},
           {"oid", e.oid}};
    if (e.lfs_sha256) j["lfs"] = {{"oid", *e.lfs_sha256}, {"size", e.size}};
    tree.push_back(std::move(j));
  }
  json doc{{"format_version", 1},
           {"repo_type", std::string(repo_type_name(s.repo.type))},
           {"repo", s.repo.id},
           {"id", s.info.id},
           {"sha", s.info.sha},
           {"lastModified", s.info.last_modified},
           {"lastModifiedEpoch", s.info.last_modified_epoch},
           {"private", s.info.is_private},
           {"gated", s.info.gated},
           {"tree", std::move(tree)}};
  return doc.dump(1);
}

Result<Snapshot> parse_snapshot(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
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
  } catch (const json::exception& e) {
    return Status(Errc::kInvalidInput, std::string("bad snapshot: ") + e.what());
  }
  TreeBuilder b;
  if (auto st = b.add_page(doc["tree"].dump()); !st) return st;
  auto tree = std::move(b).finish();
  if (!tree) return tree.status();
  s.tree = std::move(*tree);
  return s;
}

}  // namespace hffs::hubapi
