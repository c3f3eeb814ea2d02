// The revision/info answer (hubapi/hub_client_api.cc parse_repo_info): an accepted answer names a valid
// repo id and a 40-hex lowercase commit, and gated is one of "", "auto", "manual" or a short string.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "hubapi/hub_client.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hffs::hubapi;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto info = parse_repo_info(body, RepoId{RepoType::kModel, "org/name"});
  if (!info) {
    FUZZ_CHECK(!info.status().message().empty());
    return 0;
  }
  FUZZ_CHECK(validate_repo_id(info->id));
  FUZZ_CHECK(info->sha.size() == 40);
  for (char c : info->sha) FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  FUZZ_CHECK(info->last_modified.size() <= 64 + 8);
  FUZZ_CHECK(info->gated.size() <= 32 + 8);
  return 0;
}
