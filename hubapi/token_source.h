// The access token of a Hub client, one for all its endpoints. A token from the environment or
// the command line is fixed for the life of the process. A token read from a file is read again
// when the file changes (its device, inode, size or mtime, looked at no more than once per
// `min_interval`, by the request that finds the look due) and at once when the Hub rejects it
// (401), so a rotated token takes effect without a remount. Reading the token copies a shared_ptr
// under a leaf mutex held for nothing else (libstdc++ 12's atomic<shared_ptr> is reported by TSan);
// a change swaps it. A file that disappears, cannot be read or holds no usable
// token keeps the last token (logged once until it is readable again). The token is never logged.
#pragma once
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace hffs::hubapi {

// As huggingface_hub does: drop CR/LF, trim spaces and tabs; nullopt when nothing is left.
std::optional<std::string> trimmed_token(std::string given);
// trimmed_token, and a token with other control characters would allow header injection:
// nullopt (warned), as for an empty one.
std::optional<std::string> usable_token(const std::string& given);

class TokenSource {
 public:
  using Token = std::shared_ptr<const std::string>;  // null: no token

  // A token that never changes (HF_TOKEN, --token; nullopt: none).
  static std::shared_ptr<TokenSource> fixed(std::optional<std::string> token);
  // The token in the file at `path` (absolute: the daemon changes directory), read now; no
  // token while the file holds none. Never fails: a file unreadable now is read when it changes.
  static std::shared_ptr<TokenSource> file(std::string path,
                                           std::chrono::milliseconds min_interval = std::chrono::seconds(1));

  // The token to send now (checks the file first when a look is due).
  Token current();
  // The Hub answered 401 to a request sent with `used`: the file is read again now. True when
  // the token is now another one than `used` (the request is worth sending again).
  bool rejected(const Token& used);

  bool rotates() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  // Times the token changed since it was first read.
  uint64_t changes() const { return changes_.load(std::memory_order_relaxed); }
  // Every token handed out so far (the last few), for scrubbing them from messages.
  std::vector<std::string> known() const;

  TokenSource(const TokenSource&) = delete;
  TokenSource& operator=(const TokenSource&) = delete;

 private:
  TokenSource() = default;
  // What tells a changed file: st_dev, st_ino, st_size, st_mtim.
  struct Signature {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    int64_t mtime_ns = 0;
    bool operator==(const Signature&) const = default;
  };
  void check(bool force);  // under mu_
  void complain(const std::string& why);
  void set(std::optional<std::string> t);  // under mu_

  Token load_cur() const {
    std::lock_guard lk(cur_mu_);
    return cur_;
  }
  void store_cur(Token t) {
    std::lock_guard lk(cur_mu_);
    cur_ = std::move(t);
  }

  mutable std::mutex cur_mu_;  // a leaf: guards cur_ only
  Token cur_;
  std::string path_;
  int64_t interval_ns_ = 0;
  std::atomic<int64_t> next_check_ns_{0};
  std::atomic<uint64_t> changes_{0};

  mutable std::mutex mu_;  // the file side: one reader of the file at a time
  std::optional<Signature> sig_;
  bool complained_ = false;
  bool first_read_ = true;
  std::vector<std::string> known_;
};

}  // namespace hffs::hubapi
