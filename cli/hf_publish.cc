#include "cli/hf_publish.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <random>

#include "cache/cache_dir.h"
#include "cli/snapshot_store.h"
#include "common/fd.h"
#include "common/sha.h"

namespace hffs::cli {

namespace fsys = std::filesystem;

namespace {

Status sys_error(const std::string& what) {
  return Status(Errc::kIo, what + ": " + std::strerror(errno));
}

std::string rand8() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  uint64_t v = rng();
  std::string s(8, '0');
  for (int i = 0; i < 8; ++i) s[i] = hex[(v >> (4 * i)) & 15];
  return s;
}

bool regular_of_size(const fsys::path& p, uint64_t size) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) == size;
}

// Copies `size` bytes of `in` to `out`: a reflink if the filesystem can, else copy_file_range
// (in-kernel, also server-side on NFS), else read/write.
Status copy_bytes(int in, int out, uint64_t size) {
  if (size == 0) return Status::ok();
  if (::ioctl(out, FICLONE, in) == 0) return Status::ok();
  uint64_t done = 0;
  bool use_cfr = true;
  std::unique_ptr<char[]> buf;
  while (done < size) {
    if (use_cfr) {
      loff_t ioff = static_cast<loff_t>(done), ooff = static_cast<loff_t>(done);
      ssize_t n = ::copy_file_range(in, &ioff, out, &ooff, size - done, 0);
      if (n > 0) {
        done += static_cast<uint64_t>(n);
        continue;
      }
      if (n == 0) return Status(Errc::kIo, "the cached data file is shorter than the file");
      if (errno == EINTR) continue;
      if (errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL)
        return sys_error("copy_file_range");
      use_cfr = false;
      buf.reset(new char[1 << 20]);
    }
    ssize_t n = ::pread(in, buf.get(), static_cast<size_t>(std::min<uint64_t>(1 << 20, size - done)),
                        static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("read");
    if (n == 0) return Status(Errc::kIo, "the cached data file is shorter than the file");
    for (ssize_t w = 0; w < n;) {
      ssize_t k = ::pwrite(out, buf.get() + w, static_cast<size_t>(n - w), static_cast<off_t>(done + w));
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) return sys_error("write");
      w += k;
    }
    done += static_cast<uint64_t>(n);
  }
  return Status::ok();
}

Status hash_check(int fd, const cache::FileRef& f) {
  ContentHasher h(f.kind, f.size);
  std::unique_ptr<char[]> buf(new char[4 << 20]);
  for (uint64_t off = 0; off < f.size;) {
    ssize_t n = ::pread(fd, buf.get(), static_cast<size_t>(std::min<uint64_t>(4 << 20, f.size - off)),
                        static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("reading the copy");
    if (n == 0) return Status(Errc::kCorrupt, "the copy is short");
    h.update(buf.get(), static_cast<size_t>(n));
    off += static_cast<uint64_t>(n);
  }
  std::string d = h.hex_digest();
  if (d != f.key) return Status(Errc::kCorrupt, "the copy hashes to " + d + ", not " + f.key);
  return Status::ok();
}

// Writes `content` to `p` atomically (temp + rename), only if it differs; no trailing newline.
Status write_ref(const fsys::path& p, const std::string& content) {
  {
    UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() >= 0) {
      char buf[128];
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n >= 0 && std::string(buf, static_cast<size_t>(n)) == content) return Status::ok();
    }
  }
  std::error_code ec;
  fsys::create_directories(p.parent_path(), ec);
  if (ec) return Status(Errc::kIo, "mkdir " + p.parent_path().string() + ": " + ec.message());
  fsys::path tmp = p.string() + "." + rand8() + ".tmp";
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
    if (fd.get() < 0) return sys_error("create " + tmp.string());
    if (::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
      Status s = sys_error("write " + tmp.string());
      ::unlink(tmp.c_str());
      return s;
    }
  }
  if (::rename(tmp.c_str(), p.c_str()) != 0) {
    Status s = sys_error("rename onto " + p.string());
    ::unlink(tmp.c_str());
    return s;
  }
  return Status::ok();
}

// snapshots/<commit>/<path> -> ../../blobs/<etag> (one more ../ per directory of path). An
// existing entry pointing elsewhere (or a copy) is replaced atomically.
Status link_snapshot(const fsys::path& repo_dir, const std::string& commit, const std::string& path,
                     const std::string& etag) {
  fsys::path link = repo_dir / "snapshots" / commit / path;
  std::string target = "../../";
  for (char c : path)
    if (c == '/') target += "../";
  target += "blobs/" + etag;
  char buf[4096];
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
  if (n >= 0 && std::string(buf, static_cast<size_t>(n)) == target) return Status::ok();
  std::error_code ec;
  fsys::create_directories(link.parent_path(), ec);
  if (ec) return Status(Errc::kIo, "mkdir " + link.parent_path().string() + ": " + ec.message());
  fsys::path tmp = link.string() + "." + rand8() + ".tmp";
  if (::symlink(target.c_str(), tmp.c_str()) != 0) return sys_error("symlink " + tmp.string());
  if (::rename(tmp.c_str(), link.c_str()) != 0) {
    Status s = sys_error("rename onto " + link.string());
    ::unlink(tmp.c_str());
    return s;
  }
  return Status::ok();
}

}  // namespace

HfPublisher::HfPublisher(fsys::path hub_cache, fsys::path block_cache_dir)
    : hub_cache_(std::move(hub_cache)), cache_root_(cache::layout_dir(block_cache_dir)) {
  worker_ = std::thread([this] { loop(); });
}

HfPublisher::~HfPublisher() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void HfPublisher::add_repo(const hubapi::RepoId& repo, const std::string& commit, const std::string& revision,
                           const fs::Namespace& ns, cache::BlockCache* cache) {
  std::string folder = repo_folder_name(repo);
  fsys::path blobs = hub_cache_ / folder / "blobs";
  std::vector<cache::FileRef> ready;
  {
    std::lock_guard lk(mu_);
    for (uint64_t ino = 1; ino <= ns.inode_count(); ++ino) {
      const fs::Inode* n = ns.get(ino);
      if (n->is_dir) continue;
      const std::string key = ns.key_hex(*n);
      auto& v = targets_[key];
      Target t{folder, commit, revision, ns.path_of(*n)};
      bool known = false;
      for (const auto& o : v)
        known = known || (o.folder == t.folder && o.commit == t.commit && o.revision == t.revision && o.path == t.path);
      if (known) continue;
      v.push_back(std::move(t));
      cache::FileRef ref = ns.file_ref(*n);
      if (n->size == 0 || regular_of_size(blobs / key, n->size) ||
          (cache && cache->contains(ref, 0, n->size)))
        ready.push_back(std::move(ref));
    }
    for (auto& r : ready) queue_.push_back(std::move(r));
  }
  if (!ready.empty()) cv_.notify_all();
}

void HfPublisher::on_verified(const cache::FileRef& f) {
  {
    std::lock_guard lk(mu_);
    if (!targets_.count(f.key)) return;  // not a file of a repo we serve (another process's)
    queue_.push_back(f);
  }
  cv_.notify_all();
}

void HfPublisher::drain() {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return queue_.empty() && !busy_; });
}

void HfPublisher::loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ with nothing left to do
    cache::FileRef f = std::move(queue_.front());
    queue_.pop_front();
    std::vector<Target> ts = targets_[f.key];
    busy_ = true;
    lk.unlock();
    if (Status s = publish(f, ts); !s)
      spdlog::warn("publish-hf-cache: {} ({}): {}", ts.empty() ? f.key : ts.front().path, f.key, s.message());
    lk.lock();
    busy_ = false;
    cv_.notify_all();
  }
}

Status HfPublisher::publish(const cache::FileRef& f, const std::vector<Target>& targets) {
  Status result = Status::ok();
  for (const auto& t : targets) {
    fsys::path repo_dir = hub_cache_ / t.folder;
    Status s = ensure_blob(repo_dir, t.folder, f);
    if (s) s = link_snapshot(repo_dir, t.commit, t.path, f.key);
    if (s && t.revision != t.commit) s = write_ref(repo_dir / "refs" / t.revision, t.commit);
    if (!s) {
      result = s;
      continue;
    }
    spdlog::debug("publish-hf-cache: {} {} at {}", t.folder, t.path, t.commit);
  }
  return result;
}

Status HfPublisher::ensure_blob(const fsys::path& repo_dir, const std::string& folder, const cache::FileRef& f) {
  fsys::path blob = repo_dir / "blobs" / f.key;
  if (regular_of_size(blob, f.size)) return Status::ok();
  std::error_code ec;
  fsys::path lock_dir = hub_cache_ / ".locks" / folder;
  fsys::create_directories(lock_dir, ec);
  if (ec) return Status(Errc::kIo, "mkdir " + lock_dir.string() + ": " + ec.message());
  fsys::create_directories(blob.parent_path(), ec);
  if (ec) return Status(Errc::kIo, "mkdir " + blob.parent_path().string() + ": " + ec.message());
  fsys::path lock_path = lock_dir / (f.key + ".lock");
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0664));
  if (lock.get() < 0) return sys_error("open " + lock_path.string());
  while (::flock(lock.get(), LOCK_EX) != 0)
    if (errno != EINTR) return sys_error("flock " + lock_path.string());
  if (regular_of_size(blob, f.size)) return Status::ok();  // another writer finished first

  UniqueFd in(f.size ? ::open(cache::key_paths(cache_root_, f.key).data.c_str(), O_RDONLY | O_CLOEXEC) : -1);
  if (f.size && in.get() < 0) return sys_error("open the cached data of " + f.key);
  fsys::path tmp = blob.string() + "." + rand8() + ".incomplete";
  // Mode 0666 less the umask: what a freshly created file in the cache would get (as Python does).
  UniqueFd out(::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
  if (out.get() < 0) return sys_error("create " + tmp.string());
  Status s = copy_bytes(in.get(), out.get(), f.size);
  if (s) {
    s = hash_check(out.get(), f);
    if (!s && s.code() == Errc::kCorrupt)
      s = Status(Errc::kCorrupt, s.message() + ": not published (if the block cache itself is damaged, `hffs cache verify` drops it)");
  }
  if (s && ::rename(tmp.c_str(), blob.c_str()) != 0) s = sys_error("rename onto " + blob.string());
  if (!s) ::unlink(tmp.c_str());
  return s;
}

}  // namespace hffs::cli
