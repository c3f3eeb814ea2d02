#include "hubapi/errors.h"

#include <optional>

#include <nlohmann/json.hpp>

namespace hffs::hubapi {

std::string sanitize_for_message(std::string_view s, size_t max) {
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '\n' || c == '\r' || c == '\t') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else if (c >= 0x20 && c != 0x7f) {
      out += ch;
    }
    if (out.size() >= max) {
      // Do not cut a UTF-8 sequence in half.
      while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
      if (!out.empty() && (static_cast<unsigned char>(out.back()) & 0x80)) out.pop_back();
      out += "...";
      break;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string scrub_secret(std::string msg, std::string_view secret) {
  if (secret.size() < 4) return msg;
  size_t pos = 0;
  while ((pos = msg.find(secret, pos)) != std::string::npos) {
    msg.replace(pos, secret.size(), "***");
    pos += 3;
  }
  return msg;
}

std::string error_message_from_body(std::string_view body) {
  if (body.empty()) return {};
  if (body.size() < 1 << 20) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_discarded() && j.is_object()) {
      auto str = [](const nlohmann::json& v) -> std::string {
        if (v.is_string()) return v.get<std::string>();
        if (v.is_array()) {
          std::string r;
          for (auto& x : v)
            if (x.is_string()) r += (r.empty() ? "" : "; ") + x.get<std::string>();
          return r;
        }
        return {};
      };
      if (auto it = j.find("error"); it != j.end()) {
        if (auto s = str(*it); !s.empty()) return sanitize_for_message(s);
      }
      if (auto it = j.find("error_description"); it != j.end()) {
        if (auto s = str(*it); !s.empty()) return sanitize_for_message(s);
      }
      if (auto it = j.find("errors"); it != j.end() && it->is_array()) {
        std::string r;
        for (auto& e : *it)
          if (e.is_object() && e.contains("message") && e["message"].is_string())
            r += (r.empty() ? "" : "; ") + e["message"].get<std::string>();
        if (!r.empty()) return sanitize_for_message(r);
      }
      if (auto it = j.find("message"); it != j.end() && it->is_string())
        return sanitize_for_message(it->get<std::string>());
      return {};
    }
  }
  // Plain text (not HTML pages: they only add noise).
  if (body.find('<') != std::string_view::npos && body.find("html") != std::string_view::npos)
    return {};
  return sanitize_for_message(body, 200);
}

namespace {

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return r;
}

std::string repo_words(const ErrorContext& c) {
  return c.repo_display.empty() ? std::string("the repository") : "repository '" + c.repo_display + "'";
}

// What every message ends with: the server's own words, the status, its error code and request
// id (to quote to the Hub's support), and what hffs was doing.
std::string error_suffix(const HttpErrorInfo& e, const ErrorContext& ctx, const std::string& server_msg) {
  std::string suffix;
  if (!server_msg.empty()) suffix += " (server said: " + server_msg + ")";
  suffix += " [HTTP " + std::to_string(e.status);
  if (!e.error_code.empty()) suffix += ", " + sanitize_for_message(e.error_code, 60);
  if (!e.request_id.empty()) suffix += ", request id " + sanitize_for_message(e.request_id, 100);
  suffix += "]";
  if (!ctx.what.empty()) suffix += " while " + ctx.what;
  return suffix;
}

// One error being mapped: the answer, what was asked, and the message parts every branch uses.
struct Mapping {
  const HttpErrorInfo& e;
  const ErrorContext& ctx;
  const std::string& code;  // X-Error-Code
  std::string lmsg;         // the server's message, lowercased
  std::string suffix;
  Status make(Errc c, const std::string& head) const { return Status(c, head + suffix); }
  std::string web() const { return ctx.endpoint + "/" + ctx.repo_display; }
};

// Gated, missing-or-private, and rejected or missing credentials.
std::optional<Status> access_error(const Mapping& m) {
  const auto& e = m.e;
  const auto& ctx = m.ctx;
  if (m.code == "GatedRepo" && (e.status == 401 || e.status == 403)) {
    std::string head = repo_words(ctx) + " is gated: ";
    if (ctx.had_token && e.status == 403)
      head += "the account of the token is not (yet) approved; request access at " + m.web() +
              " and wait for approval";
    else
      head += "request access at " + m.web() +
              " and pass a token of an approved account (HF_TOKEN, the token file or --token)";
    return m.make(Errc::kGated, head);
  }
  if (m.code == "RepoNotFound" ||
      (e.status == 401 && m.code.empty() && m.lmsg.find("invalid credentials") == std::string::npos &&
       ctx.kind != RequestKind::kData)) {
    if (e.status == 401 || e.status == 404 || m.code == "RepoNotFound") {
      std::string head = repo_words(ctx) + " was not found on " + ctx.endpoint +
                         ", or it is private and ";
      head += ctx.had_token ? "the token does not grant access to it"
                            : "no token was given (set HF_TOKEN, the token file or --token)";
      return m.make(Errc::kRepoNotFound, head);
    }
  }
  if (e.status == 401) {
    if (ctx.had_token)
      return m.make(Errc::kUnauthorized, "the token was rejected by " + ctx.endpoint +
                                             " (invalid or expired); create a new one and log in again");
    return m.make(Errc::kUnauthorized, "authentication required by " + ctx.endpoint +
                                           "; pass a token (HF_TOKEN, the token file or --token)");
  }
  return std::nullopt;
}

// A revision or entry that is not there, and refusals (403) and 404s by who answered.
std::optional<Status> missing_error(const Mapping& m) {
  const auto& e = m.e;
  const auto& ctx = m.ctx;
  if (m.code == "RevisionNotFound") {
    return m.make(Errc::kRevisionNotFound,
                  "revision '" + sanitize_for_message(ctx.revision, 200) + "' was not found in " +
                      repo_words(ctx));
  }
  if (m.code == "EntryNotFound") {
    std::string head = ctx.path.empty() ? std::string("the entry")
                                        : "'" + sanitize_for_message(ctx.path, 300) + "'";
    head += " was not found in " + repo_words(ctx);
    if (!ctx.revision.empty()) head += " at " + sanitize_for_message(ctx.revision, 100);
    return m.make(Errc::kEntryNotFound, head);
  }
  if (e.status == 403) {
    if (m.lmsg.find("disabled") != std::string::npos)
      return m.make(Errc::kForbidden, repo_words(ctx) + " is disabled");
    return m.make(Errc::kForbidden,
                  "access denied by " + (ctx.kind == RequestKind::kData ? std::string("the data host")
                                                                        : ctx.endpoint) +
                      (ctx.had_token ? " (does the token have the needed scope?)" : ""));
  }
  if (e.status == 404) {
    if (ctx.kind == RequestKind::kApi)
      return m.make(Errc::kRepoNotFound, repo_words(ctx) + " was not found on " + ctx.endpoint);
    if (ctx.kind == RequestKind::kResolve) {
      std::string head = ctx.path.empty() ? std::string("the entry")
                                          : "'" + sanitize_for_message(ctx.path, 300) + "'";
      return m.make(Errc::kEntryNotFound, head + " was not found in " + repo_words(ctx));
    }
    return m.make(Errc::kEntryNotFound, "the data host answered 'not found'");
  }
  return std::nullopt;
}

// Everything else, by status: rate limits, server errors, malformed requests, bad ranges.
Status status_error(const Mapping& m) {
  const auto& e = m.e;
  const auto& ctx = m.ctx;
  if (e.status == 429)
    return m.make(Errc::kRateLimited, "rate limited by " + ctx.endpoint +
                                          " (too many requests); try again later or use a token");
  if (e.status >= 500 && e.status <= 599)
    return m.make(Errc::kServer, "server error from " +
                                     (ctx.kind == RequestKind::kData ? std::string("the data host")
                                                                     : ctx.endpoint));
  if (e.status == 408) return m.make(Errc::kServer, "the server timed out the request");
  if (e.status == 400)
    return m.make(Errc::kInvalidInput, "the server rejected the request as malformed");
  if (e.status == 416)
    return m.make(Errc::kProtocol, "the server says the byte range is outside the file "
                                   "(the file size in the listing does not match the data)");
  return m.make(Errc::kProtocol, "unexpected HTTP status " + std::to_string(e.status));
}

}  // namespace

// Checked in this order (access, then missing, then by status) because the branches overlap: a
// gated 403 is not a plain 403, a 404 with RepoNotFound is not a missing entry.
Status map_http_error(const HttpErrorInfo& e, const ErrorContext& ctx) {
  const std::string server_msg = sanitize_for_message(e.error_message);
  const Mapping m{e, ctx, e.error_code, lower(server_msg), error_suffix(e, ctx, server_msg)};
  if (auto s = access_error(m)) return *s;
  if (auto s = missing_error(m)) return *s;
  return status_error(m);
}

}  // namespace hffs::hubapi
