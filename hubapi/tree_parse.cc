#include "hubapi/tree_parse.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "hubapi/errors.h"

namespace hffs::hubapi {

namespace {

using json = nlohmann::json;

std::string shown(std::string_view p) {
  // Shows control characters as \xNN so the message itself stays printable.
  std::string out;
  static constexpr char kHex[] = "0123456789abcdef";
  for (char ch : p.substr(0, 300)) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  if (p.size() > 300) out += "...";
  return "'" + out + "'";
}

bool is_hex(std::string_view s, size_t len) {
  if (s.size() != len) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  return r;
}

// Reads a JSON number that must be an integer in [0, 2^50].
bool read_size(const json& v, uint64_t& out) {
  if (v.is_number_unsigned()) {
    out = v.get<uint64_t>();
  } else if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if (i < 0) return false;
    out = static_cast<uint64_t>(i);
  } else if (v.is_number_float()) {
    double d = v.get<double>();
    if (!std::isfinite(d) || d < 0 || d != std::floor(d) || d > static_cast<double>(kMaxFileSize))
      return false;
    out = static_cast<uint64_t>(d);
  } else {
    return false;
  }
  return out <= kMaxFileSize;
}

Status bad(std::string_view path, const std::string& why) {
  return Status(Errc::kInvalidInput, "the Hub sent an invalid tree entry " + shown(path) + ": " + why);
}

}  // namespace

std::string check_tree_path(std::string_view path) {
  if (path.empty()) return "empty path";
  if (path.size() > kMaxPathBytes) return "path longer than " + std::to_string(kMaxPathBytes) + " bytes";
  if (path.front() == '/') return "absolute path";
  for (char ch : path) {
    auto c = static_cast<unsigned char>(ch);
    if (c == 0) return "path contains a NUL byte";
    if (c < 0x20 || c == 0x7f) return "path contains a control character";
  }
  size_t start = 0;
  size_t depth = 0;
  while (true) {
    if (++depth > kMaxPathDepth) return "path deeper than " + std::to_string(kMaxPathDepth) + " directories";
    size_t slash = path.find('/', start);
    std::string_view seg =
        path.substr(start, slash == std::string_view::npos ? path.npos : slash - start);
    if (seg.empty()) return "path has an empty segment";
    if (seg == ".") return "path has a '.' segment";
    if (seg == "..") return "path has a '..' segment";
    if (seg.size() > kMaxSegmentBytes)
      return "path segment longer than " + std::to_string(kMaxSegmentBytes) + " bytes";
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return {};
}

bool json_depth_ok(std::string_view t, int max_depth) {
  int depth = 0;
  bool in_str = false;
  for (size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (in_str) {
      if (c == '\\') ++i;
      else if (c == '"') in_str = false;
      continue;
    }
    if (c == '"') in_str = true;
    else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

Status TreeBuilder::add_page(std::string_view text) {
  if (!json_depth_ok(text))
    return Status(Errc::kProtocol, "the Hub sent a tree listing nested too deeply");
  json page = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (page.is_discarded())
    return Status(Errc::kProtocol, "the Hub sent a tree listing that is not valid JSON");
  if (!page.is_array())
    return Status(Errc::kProtocol, "the Hub sent a tree listing that is not a JSON array");
  for (const json& e : page) {
    if (!e.is_object()) return Status(Errc::kInvalidInput, "the Hub sent a tree entry that is not an object");
    auto pit = e.find("path");
    if (pit == e.end() || !pit->is_string())
      return Status(Errc::kInvalidInput, "the Hub sent a tree entry without a string 'path'");
    const std::string path = pit->get<std::string>();
    auto tit = e.find("type");
    if (tit == e.end() || !tit->is_string()) return bad(path, "missing 'type'");
    const std::string type = tit->get<std::string>();
    TreeEntry te;
    if (type == "file") te.type = TreeEntry::Type::kFile;
    else if (type == "directory") te.type = TreeEntry::Type::kDirectory;
    else {
      ++skipped_;
      spdlog::info("hubapi: skipping tree entry {} of unsupported type '{}'", shown(path),
                   sanitize_for_message(type, 40));
      continue;
    }
    if (auto why = check_tree_path(path); !why.empty()) return bad(path, why);
    te.path = path;

    auto oit = e.find("oid");
    if (oit == e.end() || !oit->is_string() || !is_hex(oit->get_ref<const std::string&>(), 40))
      return bad(path, "'oid' is not 40 hex digits");
    te.oid = lower(oit->get_ref<const std::string&>());

    if (te.type == TreeEntry::Type::kFile) {
      std::optional<uint64_t> size;
      if (auto sit = e.find("size"); sit != e.end()) {
        uint64_t v = 0;
        if (!read_size(*sit, v)) return bad(path, "'size' is not an integer in [0, 2^50]");
        size = v;
      }
      if (auto lit = e.find("lfs"); lit != e.end() && !lit->is_null()) {
        if (!lit->is_object()) return bad(path, "'lfs' is not an object");
        auto loid = lit->find("oid");
        if (loid == lit->end() || !loid->is_string() ||
            !is_hex(loid->get_ref<const std::string&>(), 64))
          return bad(path, "'lfs.oid' is not 64 hex digits");
        te.lfs_sha256 = lower(loid->get_ref<const std::string&>());
        if (auto lsz = lit->find("size"); lsz != lit->end()) {
          uint64_t v = 0;
          if (!read_size(*lsz, v)) return bad(path, "'lfs.size' is not an integer in [0, 2^50]");
          if (size && *size != v)
            return bad(path, "'size' (" + std::to_string(*size) + ") differs from 'lfs.size' (" +
                                 std::to_string(v) + ")");
          size = v;  // lfs.size preferred
        }
      }
      if (!size) return bad(path, "file without 'size'");
      te.size = *size;
    } else {
      te.size = 0;
    }
    if (entries_.size() >= max_entries_)
      return Status(Errc::kInvalidInput, "the Hub listed more than " + std::to_string(max_entries_) +
                                             " tree entries (the bound on one repo's tree)");
    entries_.push_back(std::move(te));
  }
  return Status::ok();
}

Result<std::vector<TreeEntry>> TreeBuilder::finish() && {
  std::unordered_map<std::string_view, size_t> by_path;
  by_path.reserve(entries_.size() * 2);
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (!by_path.emplace(entries_[i].path, i).second)
      return bad(entries_[i].path, "listed more than once");
  }
  // Every parent of every entry must be a directory (explicit or implied).
  std::vector<std::string> implied;
  std::unordered_set<std::string> implied_set;
  for (const auto& e : entries_) {
    std::string_view p = e.path;
    size_t slash = p.rfind('/');
    while (slash != std::string_view::npos) {
      std::string_view parent = p.substr(0, slash);
      auto it = by_path.find(parent);
      if (it != by_path.end()) {
        if (entries_[it->second].type == TreeEntry::Type::kFile)
          return bad(e.path, "its parent " + shown(parent) + " is listed as a file");
        break;  // an explicit directory: its own parents are checked when it is visited
      }
      if (!implied_set.insert(std::string(parent)).second) break;  // already handled
      implied.emplace_back(parent);
      slash = parent.rfind('/');
    }
  }
  for (auto& d : implied) {
    TreeEntry te;
    te.type = TreeEntry::Type::kDirectory;
    te.path = std::move(d);
    entries_.push_back(std::move(te));
  }
  by_path.clear();
  std::sort(entries_.begin(), entries_.end(),
            [](const TreeEntry& a, const TreeEntry& b) { return a.path < b.path; });
  return std::move(entries_);
}

Result<std::vector<TreeEntry>> parse_tree_json(std::string_view json_text) {
  TreeBuilder b;
  if (Status s = b.add_page(json_text); !s) return s;
  return std::move(b).finish();
}

}  // namespace hffs::hubapi
