#include "fs/namespace.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <unordered_map>

namespace hffs::fs {

namespace {

// A file's key is stored raw (its own text) when it is not lowercase hex of its kind's length;
// tests and fakes use such keys. The flag is in Inode::count.
constexpr uint32_t kRawKey = 1u << 31;
constexpr char kHexDigits[] = "0123456789abcdef";

std::string_view parent_of(std::string_view p) {
  auto pos = p.rfind('/');
  return pos == std::string_view::npos ? std::string_view{} : p.substr(0, pos);
}
std::string_view base_of(std::string_view p) {
  auto pos = p.rfind('/');
  return pos == std::string_view::npos ? p : p.substr(pos + 1);
}
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}
// The binary digest of `hex` when it is lowercase hex of `digits` digits.
bool decode_hex(std::string_view hex, size_t digits, std::string& out) {
  if (hex.size() != digits) return false;
  std::string bytes(digits / 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes[i] = static_cast<char>(hi << 4 | lo);
  }
  out += bytes;
  return true;
}

struct Item {
  std::string_view path;
  const hubapi::TreeEntry* file;  // null: a directory
};

}  // namespace

Result<Namespace> Namespace::build(const std::vector<hubapi::TreeEntry>& entries) {
  // Every path: files, listed directories, and directories implied by a path. A directory is
  // in `dir_ino` once; when it is, so are its ancestors (each entry walks up to a known one).
  std::vector<Item> items;
  items.reserve(entries.size() + 1);
  std::unordered_map<std::string_view, uint32_t> dir_ino;
  auto add_dir = [&](std::string_view p) {
    bool added = dir_ino.emplace(p, 0).second;
    if (added) items.push_back({p, nullptr});
    return added;
  };
  add_dir("");
  for (const auto& e : entries) {
    if (e.path.empty()) return Status(Errc::kInvalidInput, "tree entry with an empty path");
    if (e.type == hubapi::TreeEntry::Type::kDirectory)
      add_dir(e.path);
    else
      items.push_back({e.path, &e});
    for (auto p = parent_of(e.path); !p.empty() && add_dir(p); p = parent_of(p)) {
    }
  }
  // Sorted by path (the root "" first); a directory before a file of the same path.
  auto before = [](const Item& a, const Item& b) {
    int c = a.path.compare(b.path);
    return c != 0 ? c < 0 : (a.file == nullptr && b.file != nullptr);
  };
  if (!std::is_sorted(items.begin(), items.end(), before)) std::sort(items.begin(), items.end(), before);
  for (size_t i = 1; i < items.size(); ++i) {
    if (items[i].path != items[i - 1].path) continue;
    std::string p(items[i].path);
    if (items[i - 1].file) return Status(Errc::kInvalidInput, "duplicate tree entry: " + p);
    return Status(Errc::kInvalidInput, "path is both a file and a directory: " + p);
  }
  if (items.size() >= std::numeric_limits<uint32_t>::max())
    return Status(Errc::kInvalidInput, "the tree has too many entries to mount");

  Namespace ns;
  ns.inodes_.resize(items.size());
  size_t name_bytes = 0, key_bytes = 0;
  for (const auto& it : items) {
    name_bytes += base_of(it.path).size();
    if (it.file) key_bytes += it.file->content_key().size() / 2 + 1;
  }
  if (name_bytes >= kRawKey || key_bytes >= kRawKey)
    return Status(Errc::kInvalidInput, "the tree's names are too large to mount");
  ns.names_.reserve(name_bytes);
  ns.keys_.reserve(key_bytes);

  for (size_t i = 0; i < items.size(); ++i) {
    const auto& [path, e] = items[i];
    Inode& n = ns.inodes_[i];
    n.ino = static_cast<uint32_t>(i + 1);
    n.is_dir = e == nullptr;
    const auto name = base_of(path);
    if (name.size() > std::numeric_limits<uint16_t>::max())
      return Status(Errc::kInvalidInput, "a name in the tree is too long: " + std::string(name.substr(0, 64)) + "...");
    n.name_off = static_cast<uint32_t>(ns.names_.size());
    n.name_len = static_cast<uint16_t>(name.size());
    ns.names_ += name;
    n.parent = path.empty() ? static_cast<uint32_t>(kRootIno) : dir_ino.at(parent_of(path));
    if (n.is_dir) {
      dir_ino[path] = n.ino;
    } else {
      n.size = e->size;
      n.lfs = e->is_lfs();
      const std::string& key = e->content_key();
      n.first = static_cast<uint32_t>(ns.keys_.size());
      if (decode_hex(key, n.lfs ? 64 : 40, ns.keys_)) {
        n.count = static_cast<uint32_t>(key.size() / 2);
      } else {
        ns.keys_ += key;
        n.count = static_cast<uint32_t>(key.size()) | kRawKey;
      }
      ns.total_bytes_ += e->size;
      ns.file_count_++;
    }
    if (i != 0) ns.inodes_[n.parent - 1].count++;
  }
  // Each directory's slice of the children array; filled in inode order, which is name order:
  // siblings' paths share their parent's prefix, so they sort as their names do.
  uint32_t off = 0;
  for (auto& n : ns.inodes_) {
    if (!n.is_dir) continue;
    n.first = off;
    off += n.count;
    n.count = 0;
  }
  ns.children_.resize(off);
  for (size_t i = 1; i < ns.inodes_.size(); ++i) {
    Inode& p = ns.inodes_[ns.inodes_[i].parent - 1];
    ns.children_[p.first + p.count++] = static_cast<uint32_t>(i + 1);
  }
  ns.names_.shrink_to_fit();
  ns.keys_.shrink_to_fit();
  return ns;
}

const Inode* Namespace::get(uint64_t ino) const {
  if (ino == 0 || ino > inodes_.size()) return nullptr;
  return &inodes_[ino - 1];
}

std::span<const uint32_t> Namespace::children(const Inode& n) const {
  if (!n.is_dir) return {};
  return std::span<const uint32_t>(children_).subspan(n.first, n.count);
}

const Inode* Namespace::lookup(uint64_t parent, std::string_view name) const {
  const Inode* dir = get(parent);
  if (!dir || !dir->is_dir) return nullptr;
  if (name == ".") return dir;
  if (name == "..") return get(dir->parent);
  auto kids = children(*dir);
  auto it = std::lower_bound(kids.begin(), kids.end(), name,
                             [&](uint32_t ino, std::string_view n) { return this->name(inodes_[ino - 1]) < n; });
  if (it == kids.end() || this->name(inodes_[*it - 1]) != name) return nullptr;
  return &inodes_[*it - 1];
}

const Inode* Namespace::find_path(std::string_view path) const {
  const Inode* cur = get(kRootIno);
  while (cur && !path.empty()) {
    auto pos = path.find('/');
    auto seg = path.substr(0, pos);
    cur = lookup(cur->ino, seg);
    path = pos == std::string_view::npos ? std::string_view{} : path.substr(pos + 1);
  }
  return cur;
}

std::string Namespace::path_of(const Inode& n) const {
  // Two walks up the parent chain: the length, then the names from the last one back.
  size_t len = 0;
  for (const Inode* c = &n; c->ino != kRootIno; c = &inodes_[c->parent - 1]) len += c->name_len + 1u;
  if (len == 0) return {};
  std::string p(len - 1, '/');
  size_t end = p.size();
  for (const Inode* c = &n; c->ino != kRootIno; c = &inodes_[c->parent - 1]) {
    end -= c->name_len;
    std::memcpy(p.data() + end, names_.data() + c->name_off, c->name_len);
    if (end > 0) --end;  // the '/' before it
  }
  return p;
}

std::string Namespace::key_hex(const Inode& n) const {
  if (n.is_dir) return {};
  const uint32_t len = n.count & ~kRawKey;
  std::string_view k(keys_.data() + n.first, len);
  if (n.count & kRawKey) return std::string(k);
  std::string hex(2 * len, '0');
  for (uint32_t i = 0; i < len; ++i) {
    const auto b = static_cast<unsigned char>(k[i]);
    hex[2 * i] = kHexDigits[b >> 4];
    hex[2 * i + 1] = kHexDigits[b & 15];
  }
  return hex;
}

bool Namespace::key_is(const Inode& n, std::string_view hex) const {
  if (n.is_dir) return false;
  const uint32_t len = n.count & ~kRawKey;
  std::string_view k(keys_.data() + n.first, len);
  if (n.count & kRawKey) return k == hex;
  if (hex.size() != 2 * len) return false;
  for (uint32_t i = 0; i < len; ++i) {
    const auto b = static_cast<unsigned char>(k[i]);
    if (hex[2 * i] != kHexDigits[b >> 4] || hex[2 * i + 1] != kHexDigits[b & 15]) return false;
  }
  return true;
}

size_t Namespace::memory_bytes() const {
  return inodes_.capacity() * sizeof(Inode) + children_.capacity() * sizeof(uint32_t) + names_.capacity() +
         keys_.capacity();
}

}  // namespace hffs::fs
