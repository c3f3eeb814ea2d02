// The kept image of a Namespace: one binary file that a remount reads back in one pass, instead
// of a million JSON entries parsed and sorted again (seconds).
//
//   header   "HFFSNS01", then u64: inodes, children, name bytes, key bytes, total bytes, files,
//            unlisted directories
//   Inode[inodes]        the 32-byte records, offsets into the sections below (packed: no slack)
//   u32[children]        each listed directory's children, in inode-record order
//   char[name bytes]     every name, in inode order
//   char[key bytes]      every file's key (binary digest or raw text), in inode order
//   trailer  "HFFSEND1"
// Little-endian, this host's layout (a cache file, never shipped between machines). Everything is
// checked on load (sizes, offsets, parents, children), so a torn or foreign file is refused and
// the caller lists again.
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <vector>

#include "common/fd.h"
#include "fs/namespace.h"

namespace hffs::fs {

namespace {

constexpr char kMagic[8] = {'H', 'F', 'F', 'S', 'N', 'S', '0', '1'};
constexpr char kTrailer[8] = {'H', 'F', 'F', 'S', 'E', 'N', 'D', '1'};
constexpr uint32_t kRawKeyBit = 1u << 31;
enum { kInodes, kChildren, kNames, kKeys, kTotal, kFiles, kUnlistedDirs, kFields };

// Buffered writes to an fd, failing once.
class Out {
 public:
  explicit Out(int fd) : fd_(fd) { buf_.reserve(1 << 20); }
  void put(const void* p, size_t n) {
    if (!ok_) return;
    if (buf_.size() + n > buf_.capacity()) flush();
    if (n >= buf_.capacity()) return raw(p, n);
    buf_.insert(buf_.end(), static_cast<const char*>(p), static_cast<const char*>(p) + n);
  }
  bool finish() {
    flush();
    return ok_;
  }

 private:
  void flush() {
    raw(buf_.data(), buf_.size());
    buf_.clear();
  }
  void raw(const void* p, size_t n) {
    auto* c = static_cast<const char*>(p);
    while (ok_ && n > 0) {
      ssize_t w = ::write(fd_, c, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) ok_ = false;
      else {
        c += w;
        n -= static_cast<size_t>(w);
      }
    }
  }
  int fd_;
  bool ok_ = true;
  std::vector<char> buf_;
};

bool read_exact(int fd, void* p, size_t n) {
  auto* c = static_cast<char*>(p);
  while (n > 0) {
    ssize_t r = ::read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

uint32_t key_len(const Inode& n) { return n.count & ~kRawKeyBit; }

}  // namespace

Status Namespace::save_image(const std::string& path) const {
  // The kept image of a commit is of its whole tree: a later full mount reads it back.
  if (!root_path_.empty()) return Status(Errc::kInvalidInput, "a subfolder view is not kept as the commit's image");
  const uint32_t count = static_cast<uint32_t>(inode_count());
  // Section sizes, with the packed offsets each record gets.
  std::array<uint64_t, kFields> h{};
  h[kInodes] = count;
  for (uint32_t ino = 1; ino <= count; ++ino) {
    const Inode& n = *node(ino);
    h[kNames] += n.name_len;
    if (n.is_dir) {
      const uint32_t c = count_of(n);
      if (c == kUnlisted) h[kUnlistedDirs]++;
      else h[kChildren] += c;
    } else {
      h[kKeys] += key_len(n);
      h[kTotal] += n.size;
      h[kFiles]++;
    }
  }
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status(Errc::kIo, "cannot write " + tmp + ": " + std::strerror(errno));
  Out out(fd);
  out.put(kMagic, sizeof kMagic);
  out.put(h.data(), sizeof h);
  uint64_t name_off = 0, key_off = 0, child_off = 0;
  for (uint32_t ino = 1; ino <= count; ++ino) {
    Inode n = *node(ino);
    n.count = count_of(*node(ino));
    n.name_off = static_cast<uint32_t>(name_off);
    name_off += n.name_len;
    if (n.is_dir) {
      if (n.count != kUnlisted) {
        n.first = static_cast<uint32_t>(child_off);
        child_off += n.count;
      } else {
        n.first = 0;
      }
    } else {
      n.first = static_cast<uint32_t>(key_off);
      key_off += key_len(n);
    }
    out.put(&n, sizeof n);
  }
  for (uint32_t ino = 1; ino <= count; ++ino)
    if (auto kids = children(*node(ino)); !kids.empty()) out.put(kids.data(), kids.size_bytes());
  for (uint32_t ino = 1; ino <= count; ++ino) out.put(names_.at(node(ino)->name_off), node(ino)->name_len);
  for (uint32_t ino = 1; ino <= count; ++ino)
    if (const Inode& n = *node(ino); !n.is_dir) out.put(keys_.at(n.first), key_len(n));
  out.put(kTrailer, sizeof kTrailer);
  const bool ok = out.finish();
  close_fd(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Status(err == ENOSPC ? Errc::kNoSpace : Errc::kIo, "cannot write " + path + ": " + std::strerror(err));
  }
  return Status::ok();
}

Result<Namespace> Namespace::load_image(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status(Errc::kEntryNotFound, "no kept image " + path);
  auto bad = [&](const std::string& why) {
    close_fd(fd);
    return Status(Errc::kInvalidInput, "kept image " + path + " is unusable: " + why);
  };
  char magic[8];
  std::array<uint64_t, kFields> h{};
  if (!read_exact(fd, magic, sizeof magic) || std::memcmp(magic, kMagic, sizeof magic) != 0 ||
      !read_exact(fd, h.data(), sizeof h))
    return bad("not an hffs tree image of this version");
  constexpr uint64_t kMax = 0x7fffffff;
  if (h[kInodes] == 0 || h[kInodes] > kMax || h[kChildren] > kMax || h[kNames] > kMax || h[kKeys] > kMax)
    return bad("sizes out of range");
  Namespace ns;
  if (h[kUnlistedDirs] == 0) {  // complete: never grows, one block each
    ns.inodes_ = StableArray<Inode>(30, true);
    ns.children_ = StableArray<uint32_t>(30, true);
    ns.names_ = StableArray<char>(30, true);
    ns.keys_ = StableArray<char>(30, true);
  }
  const uint32_t count = static_cast<uint32_t>(h[kInodes]);
  // Each section read straight into its arena; offsets re-based below on where it landed.
  const uint32_t inodes_at = ns.inodes_.append_n(count);
  const uint32_t children_base = h[kChildren] ? ns.children_.append_n(h[kChildren]) : 0;
  const uint32_t names_base = h[kNames] ? ns.names_.append_n(h[kNames]) : 0;
  const uint32_t keys_base = h[kKeys] ? ns.keys_.append_n(h[kKeys]) : 0;
  if (inodes_at == StableArray<Inode>::npos || children_base == StableArray<uint32_t>::npos ||
      names_base == StableArray<char>::npos || keys_base == StableArray<char>::npos)
    return bad("too large");
  Inode* inodes = ns.inodes_.at_mut(inodes_at);
  uint32_t* kids = h[kChildren] ? ns.children_.at_mut(children_base) : nullptr;
  char* names = h[kNames] ? ns.names_.at_mut(names_base) : nullptr;
  char* keys = h[kKeys] ? ns.keys_.at_mut(keys_base) : nullptr;
  char trailer[8];
  if (!read_exact(fd, inodes, count * sizeof(Inode)) || !read_exact(fd, kids, h[kChildren] * sizeof(uint32_t)) ||
      !read_exact(fd, names, h[kNames]) || !read_exact(fd, keys, h[kKeys]) ||
      !read_exact(fd, trailer, sizeof trailer) || std::memcmp(trailer, kTrailer, sizeof trailer) != 0)
    return bad("truncated");
  if (char extra; ::read(fd, &extra, 1) != 0) return bad("trailing bytes");
  close_fd(fd);
  uint64_t unlisted = 0, files = 0, total = 0;
  auto fail = [&](const std::string& why) { return Status(Errc::kInvalidInput, "kept image " + path + " is unusable: " + why); };
  for (uint32_t i = 0; i < count; ++i) {
    Inode& n = inodes[i];
    if (n.ino != i + 1 || n.parent == 0 || n.parent > count || !inodes[n.parent - 1].is_dir ||
        uint64_t{n.name_off} + n.name_len > h[kNames] || (i == 0) != (n.name_len == 0 && n.parent == 1) ||
        (i == 0 && !n.is_dir))
      return fail("inode " + std::to_string(i + 1));
    n.name_off += names_base;
    if (n.is_dir) {
      if (n.count == kUnlisted) {
        unlisted++;
        continue;
      }
      if (uint64_t{n.first} + n.count > h[kChildren]) return fail("children of inode " + std::to_string(i + 1));
      for (uint32_t c = 0; c < n.count; ++c)
        if (kids[n.first + c] <= 1 || kids[n.first + c] > count || inodes[kids[n.first + c] - 1].parent != n.ino)
          return fail("children of inode " + std::to_string(i + 1));
      n.first += children_base;
    } else {
      if (uint64_t{n.first} + key_len(n) > h[kKeys]) return fail("key of inode " + std::to_string(i + 1));
      n.first += keys_base;
      files++;
      total += n.size;
    }
  }
  if (unlisted != h[kUnlistedDirs] || files != h[kFiles] || total != h[kTotal]) return fail("totals");
  ns.total_bytes_ = total;
  ns.file_count_ = files;
  ns.unlisted_ = unlisted;
  ns.count_.store(count, std::memory_order_release);
  return ns;
}

}  // namespace hffs::fs
