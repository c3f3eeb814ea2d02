// Typed errors shared by every module. Exactly one place (fs/errno_map.cc) turns them into errno.
#pragma once
#include <string>
#include <string_view>
#include <utility>

namespace hffs {

enum class Errc {
  kOk = 0,
  kRepoNotFound,      // missing, or private without access (the Hub does not tell them apart)
  kRevisionNotFound,  // branch/tag/sha unknown
  kEntryNotFound,     // path unknown at this commit
  kGated,             // gated repo, no token or not approved
  kUnauthorized,      // token invalid or expired
  kForbidden,         // other 403 (disabled repo, token scope)
  kReadOnly,          // a write to the read-only view
  kRateLimited,       // 429 after all retries
  kServer,            // 5xx after all retries
  kNetwork,           // connect/DNS/TLS/peer reset after all retries
  kTimeout,           // deadline passed
  kProtocol,          // the server answered something we must not trust (wrong Content-Range...)
  kInvalidInput,      // malformed tree entry, bad repo id, bad option
  kOffline,           // offline mode and the data is not cached
  kNoSpace,           // cache filesystem full
  kIo,                // local I/O error
  kCorrupt,           // content hash mismatch
  kCancelled,         // shutting down
};

std::string_view errc_name(Errc e);

// A result code with a human message. Cheap when ok.
class Status {
 public:
  Status() = default;
  Status(Errc code, std::string msg) : code_(code), msg_(std::move(msg)) {}
  static Status ok() { return {}; }
  bool is_ok() const { return code_ == Errc::kOk; }
  explicit operator bool() const { return is_ok(); }
  Errc code() const { return code_; }
  const std::string& message() const { return msg_; }
  std::string to_string() const;

 private:
  Errc code_ = Errc::kOk;
  std::string msg_;
};

// Value or Status; minimal stand-in for std::expected (not in GCC 12).
template <typename T>
class Result {
 public:
  Result(T v) : value_(std::move(v)), ok_(true) {}  // NOLINT(implicit)
  Result(Status s) : status_(std::move(s)), ok_(false) {}  // NOLINT(implicit)
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Status& status() const { return status_; }
  T& value() & { return value_; }
  const T& value() const& { return value_; }
  T&& value() && { return std::move(value_); }
  T* operator->() { return &value_; }
  const T* operator->() const { return &value_; }
  T& operator*() & { return value_; }
  const T& operator*() const& { return value_; }

 private:
  T value_{};
  Status status_;
  bool ok_;
};

}  // namespace hffs
