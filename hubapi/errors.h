// HTTP status + X-Error-Code -> hffs::Errc with a user-facing message (hub-protocol.md 6.3).
#pragma once
#include <string>
#include <string_view>

#include "common/status.h"

namespace hffs::hubapi {

enum class RequestKind { kApi, kResolve, kData };

struct HttpErrorInfo {
  long status = 0;
  std::string error_code;     // X-Error-Code
  std::string error_message;  // X-Error-Message, else the body's "error" / text
  std::string request_id;     // X-Request-Id (or X-Amzn-Trace-Id / X-Amz-Cf-Id)
};

struct ErrorContext {
  std::string endpoint;      // normalized, e.g. https://huggingface.co
  std::string repo_display;  // "org/name", "datasets/org/name" ("" if unknown)
  std::string revision;      // as asked, "" if n/a
  std::string path;          // file path, "" if n/a
  std::string what;          // short description: "GET /api/models/org/name/revision/main"
  bool had_token = false;
  RequestKind kind = RequestKind::kApi;
};

Status map_http_error(const HttpErrorInfo& e, const ErrorContext& ctx);

// Extracts a message from an error body: JSON {"error": "..."} / {"error": [...]} /
// {"error_description"} / {"errors":[{"message"}]}, or the plain text. Truncated, single line.
std::string error_message_from_body(std::string_view body);

// Makes a server-provided string safe for a message: printable, one line, <= max chars.
std::string sanitize_for_message(std::string_view s, size_t max = 300);

// Replaces every occurrence of `secret` in `msg` by "***" (belt and braces: servers can echo).
std::string scrub_secret(std::string msg, std::string_view secret);

}  // namespace hffs::hubapi
