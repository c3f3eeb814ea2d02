// The Hugging Face environment as the official tools read it (hub-protocol.md section 7).
#pragma once
#include <sys/types.h>

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
