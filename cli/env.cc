#include "cli/env.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "hubapi/token_source.h"

namespace hffs::cli {

namespace {
std::optional<std::string> getenv_nonempty(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

// $HOME, else the user's home in the password database (a service or `setpriv` may leave HOME
// unset; a normal user's cache then still goes under their own home, not root's).
std::string home_dir() {
  if (const char* home = std::getenv("HOME"); home && *home) return home;
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  if (::getpwuid_r(::getuid(), &pw, buf.data(), buf.size(), &found) == 0 && found && found->pw_dir && *found->pw_dir)
    return found->pw_dir;
  return ::getuid() == 0 ? "/root" : "/";
}

std::filesystem::path expand_user(const std::string& p) {
  if (!p.empty() && p[0] == '~') return std::filesystem::path(home_dir()) / p.substr(p.size() > 1 && p[1] == '/' ? 2 : 1);
  return p;
}
}  // namespace

std::optional<gid_t> lookup_group(const std::string& name) {
  if (name.empty()) return std::nullopt;
  std::vector<char> buf(16384);
  struct group gr {};
  struct group* found = nullptr;
  if (::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) == 0 && found) return found->gr_gid;
  if (name.find_first_not_of("0123456789") != std::string::npos || name.size() > 9) return std::nullopt;
  gid_t gid = static_cast<gid_t>(std::stoul(name));
  if (::getgrgid_r(gid, &gr, buf.data(), buf.size(), &found) == 0 && found) return gid;
  return std::nullopt;
}

bool env_truthy(const char* name) {
  auto v = getenv_nonempty(name);
  if (!v) return false;
  std::string s = *v;
  std::transform(s.begin(), s.end(), s.begin(), ::toupper);
  return s == "1" || s == "ON" || s == "YES" || s == "TRUE";
}

std::optional<std::string> clean_token(std::string t) { return hubapi::trimmed_token(std::move(t)); }

HfEnv read_hf_env() {
  HfEnv env;
  env.endpoint_list = getenv_nonempty("HF_ENDPOINT");
  env.no_token_endpoints = getenv_nonempty("HFFS_NO_TOKEN_ENDPOINTS");

  if (auto h = getenv_nonempty("HF_HOME")) {
    env.hf_home = expand_user(*h);
  } else if (auto x = getenv_nonempty("XDG_CACHE_HOME")) {
    env.hf_home = expand_user(*x) / "huggingface";
  } else {
    env.hf_home = expand_user("~/.cache/huggingface");
  }
  if (auto c = getenv_nonempty("HF_HUB_CACHE")) {
    env.hub_cache = expand_user(*c);
  } else if (auto c2 = getenv_nonempty("HUGGINGFACE_HUB_CACHE")) {
    env.hub_cache = expand_user(*c2);
  } else {
    env.hub_cache = env.hf_home / "hub";
  }

  if (auto t = getenv_nonempty("HF_TOKEN"); t && (env.token = clean_token(*t))) {
    env.token_source = "HF_TOKEN";
  } else if (auto t2 = getenv_nonempty("HUGGING_FACE_HUB_TOKEN"); t2 && (env.token = clean_token(*t2))) {
    env.token_source = "HUGGING_FACE_HUB_TOKEN";
  } else {
    std::filesystem::path p = getenv_nonempty("HF_TOKEN_PATH") ? expand_user(*getenv_nonempty("HF_TOKEN_PATH"))
                                                               : env.hf_home / "token";
    std::ifstream f(p);
    if (f) {
      std::stringstream ss;
      ss << f.rdbuf();
      if ((env.token = clean_token(ss.str()))) {
        env.token_file = p;  // made absolute with --token-file's by make_hub_config
        env.token_source = p.string();
      }
    }
  }
  if (auto r = getenv_nonempty("HFFS_TOKEN_RECHECK_MS");
      r && r->size() <= 7 && r->find_first_not_of("0123456789") == std::string::npos)
    env.token_recheck = std::chrono::milliseconds(std::min(std::stoul(*r), 3'600'000ul));
  env.offline = env_truthy("HF_HUB_OFFLINE") || env_truthy("TRANSFORMERS_OFFLINE");
  return env;
}

}  // namespace hffs::cli
