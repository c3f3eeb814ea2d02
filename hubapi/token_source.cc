#include "hubapi/token_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "common/fd.h"

namespace hffs::hubapi {

namespace {

constexpr size_t kMaxTokenFileBytes = 64 * 1024;  // a token is ~40 bytes; anything bigger is not one
constexpr size_t kKeepKnown = 8;

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::optional<std::string> trimmed_token(std::string t) {
  std::erase_if(t, [](char c) { return c == '\r' || c == '\n'; });
  auto b = t.find_first_not_of(" \t");
  if (b == std::string::npos) return std::nullopt;
  auto e = t.find_last_not_of(" \t");
  return t.substr(b, e - b + 1);
}

std::optional<std::string> usable_token(const std::string& given) {
  auto t = trimmed_token(given);
  if (!t) return std::nullopt;
  bool bad = false;
  for (char ch : *t) bad |= static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
  if (bad) spdlog::warn("hubapi: the token contains control characters; it will not be sent");
  if (bad) return std::nullopt;
  return t;
}

std::shared_ptr<TokenSource> TokenSource::fixed(std::optional<std::string> token) {
  std::shared_ptr<TokenSource> s(new TokenSource());
  if (token) token = usable_token(*token);
  std::lock_guard lk(s->mu_);
  s->set(std::move(token));
  return s;
}

std::shared_ptr<TokenSource> TokenSource::file(std::string path, std::chrono::milliseconds min_interval) {
  std::shared_ptr<TokenSource> s(new TokenSource());
  s->path_ = std::move(path);
  s->interval_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(min_interval).count();
  s->next_check_ns_ = steady_ns() + s->interval_ns_;
  std::lock_guard lk(s->mu_);
  s->check(true);
  return s;
}

TokenSource::Token TokenSource::current() {
  if (!path_.empty()) {
    int64_t now = steady_ns();
    int64_t due = next_check_ns_.load(std::memory_order_relaxed);
    // One request per interval does the look; the others go on with the token as it is.
    if (now >= due && next_check_ns_.compare_exchange_strong(due, now + interval_ns_, std::memory_order_relaxed)) {
      std::lock_guard lk(mu_);
      check(false);
    }
  }
  return load_cur();
}

bool TokenSource::rejected(const Token& used) {
  if (path_.empty()) return false;
  std::lock_guard lk(mu_);
  check(true);
  Token now = load_cur();
  if (!now) return false;
  return !used || *now != *used;
}

std::vector<std::string> TokenSource::known() const {
  std::lock_guard lk(mu_);
  return known_;
}

void TokenSource::complain(const std::string& why) {
  if (complained_) return;
  complained_ = true;
  spdlog::warn("token file {} {}: keeping the token in use ({})", path_, why,
               load_cur() ? "one read before" : "none");
}

void TokenSource::set(std::optional<std::string> t) {
  Token old = load_cur();
  if (!t) {
    if (old) store_cur(nullptr);
    return;
  }
  if (old && *old == *t) return;
  if (known_.size() == kKeepKnown) known_.erase(known_.begin());
  known_.push_back(*t);
  store_cur(std::make_shared<const std::string>(std::move(*t)));
}

void TokenSource::check(bool force) {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    complain(errno == ENOENT ? "is gone" : std::string("cannot be read: ") + std::strerror(errno));
    first_read_ = false;
    return;
  }
  auto sig_of = [](const struct stat& s) {
    return Signature{s.st_dev, s.st_ino, s.st_size, int64_t{s.st_mtim.tv_sec} * 1'000'000'000 + s.st_mtim.tv_nsec};
  };
  if (!force && sig_ && *sig_ == sig_of(st)) return;
  // O_NONBLOCK: a FIFO put there must not hang the request that looks.
  UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd || ::fstat(fd.get(), &st) != 0) {
    complain(std::string("cannot be read: ") + std::strerror(errno));
    first_read_ = false;
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    complain("is not a regular file");
    first_read_ = false;
    return;
  }
  std::string text;
  char buf[4096];
  ssize_t n = 0;
  while (text.size() <= kMaxTokenFileBytes && ((n = ::read(fd.get(), buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)))
    if (n > 0) text.append(buf, static_cast<size_t>(n));
  const int err = errno;
  fd.reset();
  if (n < 0) {
    complain(std::string("cannot be read: ") + std::strerror(err));
    first_read_ = false;
    return;
  }
  sig_ = sig_of(st);
  std::optional<std::string> t = text.size() > kMaxTokenFileBytes ? std::nullopt : usable_token(text);
  if (first_read_) {  // at start: what the file holds, even nothing
    first_read_ = false;
    set(std::move(t));
    return;
  }
  if (!t) {
    complain(text.size() > kMaxTokenFileBytes ? "is too big to hold a token" : "holds no usable token");
    return;
  }
  complained_ = false;
  Token old = load_cur();
  if (old && *old == *t) return;
  set(std::move(t));
  changes_.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("token file {} changed: the new token is used from now on", path_);
}

}  // namespace hffs::hubapi
