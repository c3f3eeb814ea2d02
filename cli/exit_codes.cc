#include "cli/exit_codes.h"

namespace hffs::cli {

int exit_code_for(Errc c) {
  switch (c) {
    case Errc::kOk: return kExitOk;
    case Errc::kRepoNotFound: return kExitRepoNotFound;
    case Errc::kRevisionNotFound:
    // A path that is not there at the pinned commit: a subfolder view's folder, or no file a
    // filtered view's globs select (cli/partial_view.h).
    case Errc::kEntryNotFound: return kExitRevisionNotFound;
    case Errc::kGated:
    case Errc::kUnauthorized:
    case Errc::kForbidden: return kExitAccess;
    case Errc::kNetwork:
    case Errc::kTimeout:
    case Errc::kServer:
    case Errc::kRateLimited:
    // Offline (--offline, HF_HUB_OFFLINE) and no view of the revision kept: the Hub is
    // unreachable by choice, and the fix is the same as for a network failure (go online once).
    case Errc::kOffline: return kExitNetwork;
    default: return kExitError;
  }
}

Failure repo_failure(const Status& s, const hubapi::RepoId& repo, const std::string& revision,
                     const std::vector<std::string>& endpoints, bool have_token, const std::string& verb) {
  // Links go to the preferred endpoint; "where" names them all (a list was tried in order).
  const std::string& endpoint = endpoints.front();
  const bool list = endpoints.size() > 1;
  std::string where, all;  // "A, B or C", "A, B, C"
  for (size_t i = 0; i < endpoints.size(); ++i) {
    where += (i == 0 ? "" : i + 1 == endpoints.size() ? " or " : ", ") + endpoints[i];
    all += (i == 0 ? "" : ", ") + endpoints[i];
  }
  std::string what = std::string(hubapi::repo_type_name(repo.type)) + " '" + repo.id + "'";
  std::string web = endpoint + "/" + std::string(hubapi::repo_type_web_prefix(repo.type)) + repo.id;
  std::string msg;
  switch (s.code()) {
    case Errc::kRepoNotFound:
      msg = what + " not found at " + where +
            (have_token ? ", or the token has no access to it: check the name and --repo-type"
                        : ", or it is private: check the name and --repo-type, or log in (hf auth login, "
                          "HF_TOKEN or --token)");
      break;
    case Errc::kRevisionNotFound:
      msg = "revision '" + revision + "' not found in " + what +
            ": use a branch, tag, commit sha or refs/pr/N that exists (see " + web + "/tree/main)";
      break;
    case Errc::kEntryNotFound:
      msg = s.message() + " (see " + web + "/tree/" + revision + ")";
      break;
    case Errc::kGated:
      msg = what + " is gated: request access at " + web +
            (have_token ? ", then " + verb + " again once it is granted (the token in use is not yet authorized)"
                        : ", then pass a token that has access (HF_TOKEN or --token)");
      break;
    case Errc::kUnauthorized:
      msg = list ? "the token was rejected (invalid or expired): " + s.message() +
                       " (create one on the Hub's /settings/tokens page and set HF_TOKEN or --token)"
                 : "the Hub at " + endpoint + " rejected the token (invalid or expired): create one at " + endpoint +
                       "/settings/tokens and set HF_TOKEN or --token";
      break;
    case Errc::kForbidden:
      msg = "access to " + what + " is forbidden: " + s.message();
      break;
    case Errc::kNetwork:
    case Errc::kTimeout:
    case Errc::kServer:
    case Errc::kRateLimited:
      msg = "Hub unreachable at " + (list ? "every endpoint (" + all + ")" : endpoint) + ": " + s.message() +
            " (check the network, HF_ENDPOINT or --endpoint)";
      break;
    case Errc::kOffline:
      msg = s.message();
      break;
    default:
      msg = "cannot " + verb + " " + what + ": " + s.to_string();
  }
  return {exit_code_for(s.code()), msg};
}

}  // namespace hffs::cli
