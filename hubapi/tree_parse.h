// Validation of tree listings (hub-protocol.md 3.2). The Hub is untrusted input: a malicious or
// broken server must not be able to make the filesystem create odd inodes. Private to hubapi.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "hubapi/limits.h"
#include "hubapi/types.h"

namespace hffs::hubapi {

// The bounds (kMaxFileSize, kMaxPathBytes, kMaxSegmentBytes, kMaxPathDepth, kMaxTreeEntries,
// kMaxJsonDepth) live in hubapi/limits.h.

// Empty string when `path` is acceptable, else the reason.
std::string check_tree_path(std::string_view path);

// Rejects JSON nested deeper than `max_depth` (cheap pre-check before a full parse).
bool json_depth_ok(std::string_view text, int max_depth = kMaxJsonDepth);

// Accumulates the pages of one listing, then checks the whole.
class TreeBuilder {
 public:
  // Parses one page (a JSON array of entries) and appends its entries. Any malformed entry
  // fails with kInvalidInput naming the entry; non-JSON / non-array fails with kProtocol.
  Status add_page(std::string_view json_text);
  // The bound on entries (default kMaxTreeEntries; lower in tests).
  void set_max_entries(size_t n) { max_entries_ = n; }
  // Duplicate / file-vs-directory checks, implied parent directories, sorted by path.
  Result<std::vector<TreeEntry>> finish() &&;
  size_t skipped() const { return skipped_; }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<TreeEntry> entries_;
  size_t skipped_ = 0;
  size_t max_entries_ = kMaxTreeEntries;
};

// One-shot convenience for tests: a single page.
Result<std::vector<TreeEntry>> parse_tree_json(std::string_view json_text);

}  // namespace hffs::hubapi
