#include "common/status.h"

namespace hffs {

std::string_view errc_name(Errc e) {
  switch (e) {
    case Errc::kOk: return "ok";
    case Errc::kRepoNotFound: return "repo_not_found";
    case Errc::kRevisionNotFound: return "revision_not_found";
    case Errc::kEntryNotFound: return "entry_not_found";
    case Errc::kGated: return "gated";
    case Errc::kUnauthorized: return "unauthorized";
    case Errc::kForbidden: return "forbidden";
    case Errc::kReadOnly: return "read_only";
    case Errc::kRateLimited: return "rate_limited";
    case Errc::kServer: return "server_error";
    case Errc::kNetwork: return "network";
    case Errc::kTimeout: return "timeout";
    case Errc::kProtocol: return "protocol";
    case Errc::kInvalidInput: return "invalid_input";
    case Errc::kOffline: return "offline";
    case Errc::kNoSpace: return "no_space";
    case Errc::kIo: return "io";
    case Errc::kCorrupt: return "corrupt";
    case Errc::kCancelled: return "cancelled";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  std::string s(errc_name(code_));
  if (!msg_.empty()) s += ": " + msg_;
  return s;
}

}  // namespace hffs
