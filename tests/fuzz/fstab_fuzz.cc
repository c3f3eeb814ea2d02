// The mount(8) helper's argv and `-o` option string (cli/fstab.cc), as fstab or a user writes them.
// The input is argv split at NUL bytes. An accepted mount
// has a finite positive deadline and FUSE options without separators.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
#include "cli/fstab.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> args;
  while (args.size() < 64) {
    size_t nul = all.find('\0');
    args.emplace_back(all.substr(0, nul));
    if (nul == std::string_view::npos) break;
    all.remove_prefix(nul + 1);
  }
  bool fake = false;
  auto m = hffs::cli::parse_mount_helper_args(args, &fake);
  if (!m) {
    FUZZ_CHECK(!m.status().message().empty());
    return 0;
  }
  FUZZ_CHECK(std::isfinite(m->op_deadline_s) && m->op_deadline_s > 0);
  for (const auto& o : m->fuse_options) FUZZ_CHECK(o.find(',') == std::string::npos);
  return 0;
}
