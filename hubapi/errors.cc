#include "hubapi/errors.h"

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

}  // namespace

Status map_http_error(const HttpErrorInfo& e, const ErrorContext& ctx) {
  const std::string code = e.error_code;
  const std::string server_msg = sanitize_for_message(e.error_message);
  const std::string lmsg = lower(server_msg);
  std::string suffix;
  if (!server_msg.empty()) suffix += " (server said: " + server_msg + ")";
  suffix += " [HTTP " + std::to_string(e.status);
  if (!code.empty()) suffix += ", " + sanitize_for_message(code, 60);
  if (!e.request_id.empty()) suffix += ", request id " + sanitize_for_message(e.request_id, 100);
  suffix += "]";
  if (!ctx.what.empty()) suffix += " while " + ctx.what;

  auto make = [&](Errc c, std::string head) { return Status(c, head + suffix); };
  const std::string web = ctx.endpoint + "/" + ctx.repo_display;

  if (code == "GatedRepo" && (e.status == 401 || e.status == 403)) {
    std::string head = repo_words(ctx) + " is gated: ";
    if (ctx.had_token && e.status == 403)
      head += "the account of the token is not (yet) approved; request access at " + web +
              " and wait for approval";
    else
      head += "request access at " + web +
              " and pass a token of an approved account (HF_TOKEN, the token file or --token)";
    return make(Errc::kGated, head);
  }
  if (code == "RepoNotFound" ||
      (e.status == 401 && code.empty() && lmsg.find("invalid credentials") == std::string::npos &&
       ctx.kind != RequestKind::kData)) {
    if (e.status == 401 || e.status == 404 || code == "RepoNotFound") {
      std::string head = repo_words(ctx) + " was not found on " + ctx.endpoint +
                         ", or it is private and ";
      head += ctx.had_token ? "the token does not grant access to it"
                            : "no token was given (set HF_TOKEN, the token file or --token)";
      return make(Errc::kRepoNotFound, head);
    }
  }
  if (e.status == 401) {
    if (ctx.had_token)
      return make(Errc::kUnauthorized, "the token was rejected by " + ctx.endpoint +
                                           " (invalid or expired); create a new one and log in again");
    return make(Errc::kUnauthorized, "authentication required by " + ctx.endpoint +
                                         "; pass a token (HF_TOKEN, the token file or --token)");
  }
  if (code == "RevisionNotFound") {
    return make(Errc::kRevisionNotFound,
                "revision '" + sanitize_for_message(ctx.revision, 200) + "' was not found in " +
                    repo_words(ctx));
  }
  if (code == "EntryNotFound") {
    std::string head = ctx.path.empty() ? std::string("the entry")
                                        : "'" + sanitize_for_message(ctx.path, 300) + "'";
    head += " was not found in " + repo_words(ctx);
    if (!ctx.revision.empty()) head += " at " + sanitize_for_message(ctx.revision, 100);
    return make(Errc::kEntryNotFound, head);
  }
  if (e.status == 403) {
    if (lmsg.find("disabled") != std::string::npos)
      return make(Errc::kForbidden, repo_words(ctx) + " is disabled");
    return make(Errc::kForbidden,
                "access denied by " + (ctx.kind == RequestKind::kData ? std::string("the data host")
                                                                      : ctx.endpoint) +
                    (ctx.had_token ? " (does the token have the needed scope?)" : ""));
  }
  if (e.status == 404) {
    if (ctx.kind == RequestKind::kApi)
      return make(Errc::kRepoNotFound, repo_words(ctx) + " was not found on " + ctx.endpoint);
    if (ctx.kind == RequestKind::kResolve) {
      std::string head = ctx.path.empty() ? std::string("the entry")
                                          : "'" + sanitize_for_message(ctx.path, 300) + "'";
      return make(Errc::kEntryNotFound, head + " was not found in " + repo_words(ctx));
    }
    return make(Errc::kEntryNotFound, "the data host answered 'not found'");
  }
  if (e.status == 429)
    return make(Errc::kRateLimited, "rate limited by " + ctx.endpoint +
                                        " (too many requests); try again later or use a token");
  if (e.status >= 500 && e.status <= 599)
    return make(Errc::kServer, "server error from " +
                                   (ctx.kind == RequestKind::kData ? std::string("the data host")
                                                                   : ctx.endpoint));
  if (e.status == 408) return make(Errc::kServer, "the server timed out the request");
  if (e.status == 400)
    return make(Errc::kInvalidInput, "the server rejected the request as malformed");
  if (e.status == 416)
    return make(Errc::kProtocol, "the server says the byte range is outside the file "
                                 "(the file size in the listing does not match the data)");
  return make(Errc::kProtocol, "unexpected HTTP status " + std::to_string(e.status));
}

}  // namespace hffs::hubapi
