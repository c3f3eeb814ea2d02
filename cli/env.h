// The Hugging Face environment as the official tools read it (hub-protocol.md section 7).
#pragma once
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace hffs::cli {

struct HfEnv {
  // HF_ENDPOINT as set: one URL or a comma-separated list (cli/endpoints.h checks and splits it).
  std::optional<std::string> endpoint_list;
  std::optional<std::string> no_token_endpoints;  // HFFS_NO_TOKEN_ENDPOINTS as set: a comma-separated list
  std::filesystem::path hf_home;        // HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface
  std::filesystem::path hub_cache;      // HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub
  std::optional<std::string> token;     // HF_TOKEN, HUGGING_FACE_HUB_TOKEN, $HF_TOKEN_PATH, $HF_HOME/token
  std::string token_source;             // where the token came from (never the token itself)
  // The file the token was read from ($HF_TOKEN_PATH or $HF_HOME/token; absolute), which rotates;
  // none for a token from the environment.
  std::optional<std::filesystem::path> token_file;
  // How often at most a token file is looked at for a change: HFFS_TOKEN_RECHECK_MS (0 to 3600000,
  // default 1000; a request that finds the look due makes it, a 401 makes one at once).
  std::chrono::milliseconds token_recheck{1000};
  bool offline = false;                 // HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE
  std::filesystem::path default_cache_dir() const { return hf_home / "hffs"; }
};

HfEnv read_hf_env();
bool env_truthy(const char* name);
// Token cleaning as huggingface_hub does: drop CR/LF, trim; empty -> nullopt.
std::optional<std::string> clean_token(std::string t);
// A group name or a numeric gid; nullopt when there is no such group.
std::optional<gid_t> lookup_group(const std::string& name);

}  // namespace hffs::cli
