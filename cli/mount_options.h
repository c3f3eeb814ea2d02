// The options of `hffs mount`, defined once for the command line (CLI11) and bounded once for
// both spellings: the fstab form of each (cli/fstab.h) is its long name with '_' for '-', and
// tests/unit/cli/mount_options_test.cc walks this command's options to prove every one has it.
#pragma once
#include <climits>

#include "cli/commands.h"

namespace CLI {
class App;
}

namespace hffs::cli {

// Bounds of the numeric mount options (inclusive), the same on the command line and in fstab.
struct UintBounds {
  unsigned min, max;
};
inline constexpr UintBounds kIdleReleaseBounds{1, UINT_MAX};      // --idle-release, seconds
inline constexpr UintBounds kPartSizeBounds{1, 256};               // --part-size, MiB
inline constexpr UintBounds kMaxInflightBounds{1, 65536};          // --max-inflight, MiB
inline constexpr UintBounds kReadAheadKbBounds{0, UINT_MAX};       // --read-ahead-kb
inline constexpr UintBounds kRefreshBounds{0, 7 * 86400};          // --refresh, seconds (0: off)

// Help of --token, for every command that takes one.
extern const char* const kTokenHelp;

// The options `mount` and `prefetch` share (HubArgs): --revision, --repo-type, --endpoint (repeatable),
// --no-token-endpoint, --endpoint-backoff, --token, --token-file, --ca-file, --deadline,
// --allow-http-redirect. `deadline_help` says what fails after --deadline for that command.
void add_hub_options(CLI::App& cmd, HubArgs& h, const char* deadline_help);

// Adds the `mount` subcommand to `app`; parsing fills `m`.
CLI::App* add_mount_command(CLI::App& app, MountArgs& m);

}  // namespace hffs::cli
