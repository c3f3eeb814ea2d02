// Plain data types of the Hub protocol as hffs uses them (no libcurl/JSON here).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hffs::hubapi {

enum class RepoType { kModel, kDataset, kSpace };

std::string_view repo_type_name(RepoType t);     // "model" | "dataset" | "space"
std::string_view repo_type_plural(RepoType t);   // "models" | "datasets" | "spaces" (API prefix)
std::string_view repo_type_web_prefix(RepoType t);  // "" | "datasets/" | "spaces/" (resolve prefix)

struct RepoId {
  RepoType type = RepoType::kModel;
  std::string id;  // "namespace/name" (or legacy "name")
  bool operator==(const RepoId&) const = default;
};

// Parses "org/name", "datasets/org/name", "spaces/org/name" (a prefix wins over `type_override`
// only when no override is given; a conflicting prefix is an error). Validates the id as the Hub does.
Result<RepoId> parse_repo_arg(std::string_view arg, std::optional<RepoType> type_override);
Result<RepoType> parse_repo_type(std::string_view s);
// Added: validates a bare id ("name" or "namespace/name") per hub-protocol.md 1.3.
Status validate_repo_id(std::string_view id);
// A revision as sent in a URL segment: not empty, at most kMaxRevisionBytes, no control
// characters, and no "." or ".." component (libcurl would normalize such a URL path away and
// the mount would silently serve another revision). kInvalidInput naming the problem.
Status validate_revision(std::string_view rev);
// Added: "org/name", "datasets/org/name", "spaces/org/name" (for messages and web URLs).
std::string repo_display(const RepoId& r);

struct RepoInfo {
  std::string id;             // canonical id returned by the Hub
  std::string sha;            // 40-hex commit the revision resolved to
  std::string last_modified;  // ISO-8601 as sent
  int64_t last_modified_epoch = 0;
  bool is_private = false;
  std::string gated;  // "" (false) | "auto" | "manual"
};

struct TreeEntry {
  enum class Type { kFile, kDirectory };
  Type type = Type::kFile;
  std::string path;  // validated: relative, no "." / ".." / empty segments, no NUL
  uint64_t size = 0;  // content size (lfs.size when present)
  std::string oid;    // git oid (blob sha1 of file or LFS pointer; tree id for dirs)
  std::optional<std::string> lfs_sha256;  // 64 lowercase hex when LFS
  // Content key used by the cache: lfs sha256 if present, else the git blob sha1.
  const std::string& content_key() const { return lfs_sha256 ? *lfs_sha256 : oid; }
  bool is_lfs() const { return lfs_sha256.has_value(); }
};

// One listing call: the whole tree (the default), or one directory's direct children, or the
// first pages only.
struct ListRequest {
  std::string dir;         // "" = the root
  bool recursive = true;
  int max_pages = 0;       // > 0: stop after this many pages (the answer then says incomplete)
};
struct Listing {
  std::vector<TreeEntry> entries;
  bool complete = true;    // false: max_pages ended it before the last page
};

}  // namespace hffs::hubapi
