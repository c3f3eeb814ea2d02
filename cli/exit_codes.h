// The exit codes of every hffs command, and the one map from an error's Errc to them: `mount` and
// `prefetch` (and anything else that opens a repo) answer the same failure with the same code.
// README.md "Exit codes" documents this table; tests/unit/cli/exit_codes_test.cc holds it to that.
#pragma once
#include <string>
#include <vector>

#include "common/status.h"
#include "hubapi/types.h"

namespace hffs::cli {

enum ExitCode {
  kExitOk = 0,
  kExitError = 1,        // anything else (the message says what); prefetch: some file failed
  kExitUsage = 2,        // bad option or value, malformed repo id, nothing matched
  kExitRepoNotFound = 3,
  kExitRevisionNotFound = 4,  // also a path: a subfolder view's folder, a filter's files
  kExitAccess = 5,       // gated, invalid token, forbidden
  kExitNetwork = 6,      // Hub unreachable, timeout, server errors; offline with nothing kept
  kExitMountpoint = 7,   // missing, not a directory, busy, FUSE unavailable
  kExitCache = 8,        // cache directory unusable
};

// The exit code of a command that failed with `c` while reaching the Hub or opening a repo.
int exit_code_for(Errc c);

// A command's failure: its exit code and the one line the user reads.
struct Failure {
  int code = kExitError;
  std::string message;
};

// Opening `repo` at `revision` from `endpoints` (first = preferred; never empty) failed with `s`:
// the code (exit_code_for) and a message that names the cause and the fix. `verb` is what was
// being done ("mount", "open").
Failure repo_failure(const Status& s, const hubapi::RepoId& repo, const std::string& revision,
                     const std::vector<std::string>& endpoints, bool have_token, const std::string& verb);

}  // namespace hffs::cli
