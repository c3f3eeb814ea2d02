// The standard Hugging Face cache ($HF_HUB_CACHE, hub-protocol.md section 8) as a source of
// complete files: content the user already has is served without the network.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "fs/namespace.h"
#include "hubapi/types.h"

namespace hffs::cli {

// For every file of `ns`, a local path holding exactly its bytes, if the HF cache has one:
// blobs/<etag> (etag = sha256 for LFS files, git blob sha1 otherwise), else a regular file at
// snapshots/<commit>/<path> (HF_HUB_DISABLE_SYMLINKS copies). Sizes must match.
std::vector<std::pair<uint64_t, std::string>> find_hf_cache_copies(const std::filesystem::path& hub_cache,
                                                                   const hubapi::RepoId& repo,
                                                                   const std::string& commit,
                                                                   const fs::Namespace& ns);

}  // namespace hffs::cli
