#include "cache/cache_dir.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

#include <spdlog/spdlog.h>

#include "common/fd.h"

namespace hffs::cache {

namespace fsys = std::filesystem;

namespace {
// -1: owner only. Written once before the cache is used, read by every creator.
std::atomic<int64_t> g_group{-1};
}  // namespace

void set_cache_group(std::optional<gid_t> gid) { g_group.store(gid ? static_cast<int64_t>(*gid) : -1); }

std::optional<gid_t> cache_group() {
  int64_t g = g_group.load(std::memory_order_relaxed);
  return g < 0 ? std::nullopt : std::optional<gid_t>(static_cast<gid_t>(g));
}

mode_t cache_dir_mode() { return cache_group() ? 02770 : 0700; }
mode_t cache_file_mode() { return cache_group() ? 0660 : 0600; }

int make_cache_dir(const fsys::path& path) {
  if (::mkdir(path.c_str(), cache_dir_mode()) != 0) return errno == EEXIST ? 0 : errno;
  if (auto g = cache_group()) {
    // The umask may have taken group bits, and the parent need not be of the group.
    if (::chown(path.c_str(), static_cast<uid_t>(-1), *g) != 0 || ::chmod(path.c_str(), cache_dir_mode()) != 0)
      return errno;
  }
  return 0;
}

void share_new_file(int fd) {
  if (cache_group()) (void)::fchmod(fd, cache_file_mode());
}

void warn_if_wider(const fsys::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return;
  mode_t extra = st.st_mode & 0777 & ~(cache_dir_mode() & 0777);
  if (extra == 0) return;
  char have[8], want[8];
  std::snprintf(have, sizeof have, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  std::snprintf(want, sizeof want, "%04o", static_cast<unsigned>(cache_dir_mode()));
  spdlog::warn("cache: {} has mode {}, wider than {}: other local users may read cached files of private repos; "
               "run 'chmod -R go-rwx {}'{}",
               dir.string(), have, want, dir.string(), cache_group() ? "" : " (or share it with --cache-group)");
}

Status errno_status(int err, std::string_view what) {
  Errc c = (err == ENOSPC || err == EDQUOT || err == EFBIG) ? Errc::kNoSpace : Errc::kIo;
  return Status(c, std::string(what) + ": " + std::strerror(err));
}

bool valid_key(std::string_view key) {
  if (key.size() != 40 && key.size() != 64) return false;
  for (char c : key)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

KeyPaths key_paths(const fsys::path& root, std::string_view key) {
  KeyPaths p;
  p.shard_dir = root / "data" / std::string(key.substr(0, 2));
  p.data = p.shard_dir / std::string(key);
  p.map = p.shard_dir / (std::string(key) + ".map");
  return p;
}

std::string temp_name_for(const fsys::path& final_path) {
  static std::atomic<uint64_t> counter{0};
  return final_path.string() + ".tmp." + std::to_string(::getpid()) + "." +
         std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
}

Result<bool> publish_no_replace(const fsys::path& tmp, const fsys::path& final_path) {
  int rc = ::link(tmp.c_str(), final_path.c_str());
  int err = rc == 0 ? 0 : errno;
  if (rc != 0 && (err == EPERM || err == ENOTSUP || err == EOPNOTSUPP || err == EMLINK)) {
    // No hard links here (some FUSE/network filesystems): atomic no-replace rename instead.
    rc = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, final_path.c_str(), RENAME_NOREPLACE);
    err = rc == 0 ? 0 : errno;
    if (rc == 0) return true;  // tmp is now final_path
  }
  ::unlink(tmp.c_str());
  if (rc == 0) return true;
  if (err == EEXIST) return false;
  return errno_status(err, "publishing " + final_path.string());
}

namespace {

std::string format_text(uint32_t block_size) {
  return "hffs-cache-format " + std::to_string(kFormatVersion) + "\nblock_size " + std::to_string(block_size) +
         "\n";
}

Result<std::string> slurp(const fsys::path& p) {
  UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return Status(Errc::kEntryNotFound, p.string() + " does not exist");
    return errno_status(errno, "opening " + p.string());
  }
  std::string s;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status(errno, "reading " + p.string());
    if (n == 0) break;
    s.append(buf, static_cast<size_t>(n));
    if (s.size() > 4096) break;
  }
  return s;
}

Status write_all_new(const fsys::path& p, const std::string& content) {
  UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, cache_file_mode()));
  if (!fd) return errno_status(errno, "creating " + p.string());
  share_new_file(fd.get());
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      fd.reset();
      ::unlink(p.c_str());
      return errno_status(e, "writing " + p.string());
    }
    done += static_cast<size_t>(n);
  }
  // After a successful fsync, closing has nothing left to report on a local filesystem.
  if (::fsync(fd.get()) != 0) {
    int e = errno;
    fd.reset();
    ::unlink(p.c_str());
    return errno_status(e, "writing " + p.string());
  }
  return Status::ok();
}

// Creates dir (its parents with the default mode, dir itself with the cache's), hffs-v1, data/
// and the format file, whichever are missing.
Status make_layout(const fsys::path& dir, uint32_t block_size) {
  fsys::path root = layout_dir(dir);
  std::error_code ec;
  if (dir.has_parent_path() && !dir.parent_path().empty()) fsys::create_directories(dir.parent_path(), ec);
  for (const fsys::path& d : {dir, root, root / "data"})
    if (int err = make_cache_dir(d); err != 0) return errno_status(err, "creating " + d.string());
  fsys::path fmt = root / "format";
  if (!fsys::exists(fmt, ec)) {
    fsys::path tmp = temp_name_for(fmt);
    if (auto s = write_all_new(tmp, format_text(block_size)); !s) return s;
    auto pub = publish_no_replace(tmp, fmt);  // loser of a creation race reads the winner's file
    if (!pub) return pub.status();
  }
  return Status::ok();
}

Result<CacheFormat> parse_format(const std::string& text, const fsys::path& fmt) {
  CacheFormat f;
  unsigned long long recorded = 0;
  if (std::sscanf(text.c_str(), "hffs-cache-format %d\nblock_size %llu", &f.version, &recorded) != 2)
    return Status(Errc::kCorrupt, fmt.string() + " is not an hffs cache format file");
  f.block_size = recorded;
  return f;
}

}  // namespace

fsys::path layout_dir(const fsys::path& dir) { return dir / "hffs-v1"; }

Result<CacheFormat> read_format(const fsys::path& dir) {
  fsys::path fmt = layout_dir(dir) / "format";
  auto text = slurp(fmt);
  if (!text) return text.status();
  return parse_format(*text, fmt);
}

Status restore_layout(const fsys::path& root, uint32_t block_size) {
  return make_layout(root.parent_path(), block_size);
}

Result<fsys::path> open_cache_root(const fsys::path& dir, uint32_t block_size) {
  if (dir.empty()) return Status(Errc::kInvalidInput, "no cache directory given");
  if (block_size == 0 || block_size > (1u << 30))
    return Status(Errc::kInvalidInput, "cache block size " + std::to_string(block_size) + " out of range");
  fsys::path root = layout_dir(dir);
  // A cache shared with a group (setgid, group rwx) stays shared whichever command opens it
  // (`hffs cache gc`, `prefetch`, a mount without --cache-group): adopt its group.
  if (struct stat st {}; !cache_group() && ::stat(root.c_str(), &st) == 0 && (st.st_mode & S_ISGID) &&
                         (st.st_mode & 070) == 070)
    set_cache_group(st.st_gid);
  if (auto s = make_layout(dir, block_size); !s) return s;
  warn_if_wider(root);
  auto fmt = read_format(dir);
  if (!fmt) return fmt.status();
  const fsys::path fmt_path = root / "format";
  if (fmt->version != kFormatVersion)
    return Status(Errc::kInvalidInput, fmt_path.string() + " records cache format " + std::to_string(fmt->version) +
                                           ", this build understands " + std::to_string(kFormatVersion));
  const uint64_t recorded = fmt->block_size;
  if (recorded != block_size)
    return Status(Errc::kInvalidInput,
                  "cache " + root.string() + " was created with block size " + std::to_string(recorded) +
                      " but block size " + std::to_string(block_size) +
                      " was asked for; use that block size or another cache directory");
  return root;
}

}  // namespace hffs::cache
