// Repo types and repo-id validation (hub-protocol.md 1.2, 1.3).
#include "hubapi/types.h"

#include "hubapi/limits.h"

#include <array>

namespace hffs::hubapi {

std::string_view repo_type_name(RepoType t) {
  switch (t) {
    case RepoType::kModel: return "model";
    case RepoType::kDataset: return "dataset";
    case RepoType::kSpace: return "space";
  }
  return "model";
}

std::string_view repo_type_plural(RepoType t) {
  switch (t) {
    case RepoType::kModel: return "models";
    case RepoType::kDataset: return "datasets";
    case RepoType::kSpace: return "spaces";
  }
  return "models";
}

std::string_view repo_type_web_prefix(RepoType t) {
  switch (t) {
    case RepoType::kModel: return "";
    case RepoType::kDataset: return "datasets/";
    case RepoType::kSpace: return "spaces/";
  }
  return "";
}

Result<RepoType> parse_repo_type(std::string_view s) {
  std::string l;
  for (char c : s) l += static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  if (l == "model" || l == "models") return RepoType::kModel;
  if (l == "dataset" || l == "datasets") return RepoType::kDataset;
  if (l == "space" || l == "spaces") return RepoType::kSpace;
  return Status(Errc::kInvalidInput,
                "unknown repo type '" + std::string(s) + "' (expected model, dataset or space)");
}

namespace {

bool id_char_ok(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// Returns an empty string when `part` is a valid namespace or name, else the reason.
std::string check_part(std::string_view part, std::string_view what) {
  if (part.empty()) return std::string(what) + " is empty";
  if (part.size() > 96) return std::string(what) + " is longer than 96 characters";
  for (char c : part) {
    if (!id_char_ok(c)) {
      std::string shown = (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
                              ? "a control character"
                              : "'" + std::string(1, c) + "'";
      return std::string(what) + " contains " + shown +
             " (allowed: letters, digits, '_', '.', '-')";
    }
  }
  if (part.front() == '-' || part.front() == '.' || part.back() == '-' || part.back() == '.')
    return std::string(what) + " must not start or end with '-' or '.'";
  if (part.find("--") != std::string_view::npos || part.find("..") != std::string_view::npos)
    return std::string(what) + " must not contain '--' or '..'";
  return {};
}

}  // namespace

Status validate_repo_id(std::string_view id) {
  auto bad = [&](const std::string& why) {
    return Status(Errc::kInvalidInput, "invalid repo id '" + std::string(id) + "': " + why);
  };
  if (id.empty()) return bad("it is empty");
  size_t slash = id.find('/');
  if (slash == std::string_view::npos) {
    if (auto why = check_part(id, "the name"); !why.empty()) return bad(why);
    return Status::ok();
  }
  if (id.find('/', slash + 1) != std::string_view::npos)
    return bad("expected 'namespace/name' (at most one '/')");
  if (auto why = check_part(id.substr(0, slash), "the namespace"); !why.empty()) return bad(why);
  if (auto why = check_part(id.substr(slash + 1), "the name"); !why.empty()) return bad(why);
  return Status::ok();
}

Result<RepoId> parse_repo_arg(std::string_view arg, std::optional<RepoType> type_override) {
  std::string_view rest = arg;
  std::optional<RepoType> prefix_type;
  static constexpr std::array<std::pair<std::string_view, RepoType>, 3> kPrefixes{{
      {"models/", RepoType::kModel},
      {"datasets/", RepoType::kDataset},
      {"spaces/", RepoType::kSpace},
  }};
  // A prefix is only recognised when something that looks like "org/name" follows; a bare
  // "datasets/foo" stays a plain (namespace "datasets") id, as the Hub would read it.
  for (const auto& [p, t] : kPrefixes) {
    if (rest.substr(0, p.size()) == p && rest.substr(p.size()).find('/') != std::string_view::npos) {
      prefix_type = t;
      rest.remove_prefix(p.size());
      break;
    }
  }
  if (prefix_type && type_override && *prefix_type != *type_override) {
    return Status(Errc::kInvalidInput,
                  "repo '" + std::string(arg) + "' has the prefix of a " +
                      std::string(repo_type_name(*prefix_type)) + " but the repo type was given as " +
                      std::string(repo_type_name(*type_override)));
  }
  if (Status s = validate_repo_id(rest); !s) return s;
  RepoId r;
  r.type = type_override ? *type_override : (prefix_type ? *prefix_type : RepoType::kModel);
  r.id = std::string(rest);
  return r;
}

Status validate_revision(std::string_view rev) {
  auto bad = [&](const std::string& why) {
    std::string shown;
    for (char ch : rev.substr(0, 100)) shown += static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f ? '?' : ch;
    return Status(Errc::kInvalidInput, "invalid revision '" + shown + "': " + why +
                                           " (use a branch, tag, commit sha or refs/pr/N)");
  };
  if (rev.empty()) return bad("it is empty");
  if (rev.size() > kMaxRevisionBytes) return bad("longer than " + std::to_string(kMaxRevisionBytes) + " bytes");
  for (char ch : rev)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) return bad("it contains a control character");
  size_t start = 0;
  while (true) {
    size_t slash = rev.find('/', start);
    std::string_view part = rev.substr(start, slash == std::string_view::npos ? rev.npos : slash - start);
    if (part == "." || part == "..") return bad("'.' and '..' are not revisions or parts of one");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return Status::ok();
}

std::string repo_display(const RepoId& r) {
  return std::string(repo_type_web_prefix(r.type)) + r.id;
}

}  // namespace hffs::hubapi
