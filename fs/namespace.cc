#include "fs/namespace.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

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
bool is_hex(std::string_view hex, size_t digits) {
  if (hex.size() != digits) return false;
  for (char c : hex)
    if (hex_value(c) < 0) return false;
  return true;
}
// The bytes a key takes in the key arena.
size_t key_bytes(const hubapi::TreeEntry& e) {
  const std::string& key = e.content_key();
  return is_hex(key, e.is_lfs() ? 64 : 40) ? key.size() / 2 : key.size();
}

// In-arena layout of a file's key: binary when it is lowercase hex of its kind's length, else raw.
void put_key(Inode& n, const hubapi::TreeEntry& e, char* out) {
  const std::string& key = e.content_key();
  if (is_hex(key, n.lfs ? 64 : 40)) {
    for (size_t i = 0; i < key.size() / 2; ++i)
      out[i] = static_cast<char>(hex_value(key[2 * i]) << 4 | hex_value(key[2 * i + 1]));
    n.count = static_cast<uint32_t>(key.size() / 2);
  } else {
    std::memcpy(out, key.data(), key.size());
    n.count = static_cast<uint32_t>(key.size()) | kRawKey;
  }
}

struct Item {
  std::string_view path;
  const hubapi::TreeEntry* file;  // null: a directory
};

}  // namespace

struct Namespace::Lazy {
  Lister lister;
  std::mutex mu;  // the one writer; guards `listing`
  std::condition_variable cv;
  std::unordered_set<uint32_t> listing;  // directories being listed now
};

Namespace::Namespace()
    : inodes_(12), children_(14), names_(16), keys_(16) {}
Namespace::~Namespace() = default;
Namespace::Namespace(Namespace&& o) noexcept { *this = std::move(o); }
Namespace& Namespace::operator=(Namespace&& o) noexcept {
  inodes_ = std::move(o.inodes_);
  children_ = std::move(o.children_);
  names_ = std::move(o.names_);
  keys_ = std::move(o.keys_);
  count_.store(o.count_.exchange(0));
  total_bytes_.store(o.total_bytes_.exchange(0));
  file_count_.store(o.file_count_.exchange(0));
  unlisted_.store(o.unlisted_.exchange(0));
  root_path_ = std::move(o.root_path_);
  lazy_ = std::move(o.lazy_);
  return *this;
}

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
  if (items.size() >= std::numeric_limits<uint32_t>::max() / 2)
    return Status(Errc::kInvalidInput, "the tree has too many entries to mount");

  Namespace ns;
  ns.inodes_ = StableArray<Inode>(30, true);  // one block each, no slack: built once
  ns.children_ = StableArray<uint32_t>(30, true);
  ns.names_ = StableArray<char>(30, true);
  ns.keys_ = StableArray<char>(30, true);
  size_t name_bytes = 0, key_total = 0;
  for (const auto& it : items) {
    name_bytes += base_of(it.path).size();
    if (it.file) key_total += key_bytes(*it.file);
  }
  if (name_bytes >= kRawKey || key_total >= kRawKey)
    return Status(Errc::kInvalidInput, "the tree's names are too large to mount");
  Inode* inodes = ns.inodes_.at_mut(ns.inodes_.append_n(items.size()));
  char* names = name_bytes ? ns.names_.at_mut(ns.names_.append_n(name_bytes)) : nullptr;
  char* keys = key_total ? ns.keys_.at_mut(ns.keys_.append_n(key_total)) : nullptr;
  uint32_t name_off = 0, key_off = 0;
  uint64_t total = 0, files = 0;

  for (size_t i = 0; i < items.size(); ++i) {
    const auto& [path, e] = items[i];
    Inode& n = inodes[i];
    n.ino = static_cast<uint32_t>(i + 1);
    n.is_dir = e == nullptr;
    const auto name = base_of(path);
    if (name.size() > std::numeric_limits<uint16_t>::max())
      return Status(Errc::kInvalidInput, "a name in the tree is too long: " + std::string(name.substr(0, 64)) + "...");
    n.name_off = name_off;
    n.name_len = static_cast<uint16_t>(name.size());
    if (!name.empty()) std::memcpy(names + name_off, name.data(), name.size());
    name_off += static_cast<uint32_t>(name.size());
    n.parent = path.empty() ? static_cast<uint32_t>(kRootIno) : dir_ino.at(parent_of(path));
    if (n.is_dir) {
      dir_ino[path] = n.ino;
    } else {
      n.size = e->size;
      n.lfs = e->is_lfs();
      n.first = key_off;
      put_key(n, *e, keys + key_off);
      key_off += n.count & ~kRawKey;
      total += e->size;
      files++;
    }
    if (i != 0) inodes[n.parent - 1].count++;
  }
  // Each directory's slice of the children array; filled in inode order, which is name order:
  // siblings' paths share their parent's prefix, so they sort as their names do.
  uint32_t off = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    Inode& n = inodes[i];
    if (!n.is_dir) continue;
    n.first = off;
    off += n.count;
    n.count = 0;
  }
  uint32_t* kids = off ? ns.children_.at_mut(ns.children_.append_n(off)) : nullptr;
  for (size_t i = 1; i < items.size(); ++i) {
    Inode& p = inodes[inodes[i].parent - 1];
    kids[p.first + p.count++] = static_cast<uint32_t>(i + 1);
  }
  ns.total_bytes_ = total;
  ns.file_count_ = files;
  ns.count_.store(static_cast<uint32_t>(items.size()), std::memory_order_release);
  return ns;
}

Result<Namespace> Namespace::lazy(const std::vector<hubapi::TreeEntry>& root_entries, Lister lister,
                                  std::string root_path) {
  Namespace ns;
  ns.root_path_ = std::move(root_path);
  Inode root;
  root.ino = static_cast<uint32_t>(kRootIno);
  root.parent = static_cast<uint32_t>(kRootIno);
  root.is_dir = true;
  root.count = kUnlisted;
  ns.inodes_.append(&root, 1);
  ns.count_.store(1, std::memory_order_release);
  ns.unlisted_.store(1);
  ns.set_lister(std::move(lister));
  std::lock_guard lk(ns.lazy_->mu);
  if (Status s = ns.add_children(*ns.node(kRootIno), root_entries); !s) return s;
  return ns;
}

void Namespace::set_lister(Lister lister) {
  if (!lazy_) lazy_ = std::make_unique<Lazy>();
  lazy_->lister = std::move(lister);
}

Status Namespace::ensure_listed(const Inode& dir) const {
  if (listed(dir)) return Status::ok();
  if (!lazy_ || !lazy_->lister)
    return Status(Errc::kOffline, "the directory '" + path_of(dir) + "' was not listed and cannot be now");
  Lazy& z = *lazy_;
  std::unique_lock lk(z.mu);
  while (z.listing.count(dir.ino)) z.cv.wait(lk);
  if (listed(dir)) return Status::ok();
  z.listing.insert(dir.ino);
  const std::string path = path_of(dir);
  lk.unlock();
  auto got = z.lister(path);  // the network, without the lock: other directories go on
  lk.lock();
  z.listing.erase(dir.ino);
  Status s = got ? add_children(*node(dir.ino), std::move(*got)) : got.status();
  z.cv.notify_all();
  return s;
}

Status Namespace::add_children(Inode& dir, std::vector<hubapi::TreeEntry> entries) const {
  const std::string dir_path = path_of(dir);
  // Only the direct children of `dir` (a listing also implies its ancestors); by name.
  std::vector<const hubapi::TreeEntry*> kids;
  kids.reserve(entries.size());
  for (const auto& e : entries) {
    if (e.path.empty() || parent_of(e.path) != dir_path) continue;
    kids.push_back(&e);
  }
  std::sort(kids.begin(), kids.end(), [](auto* a, auto* b) { return base_of(a->path) < base_of(b->path); });
  for (size_t i = 1; i < kids.size(); ++i)
    if (base_of(kids[i]->path) == base_of(kids[i - 1]->path))
      return Status(Errc::kInvalidInput, "the Hub listed '" + kids[i]->path + "' twice");
  const uint32_t first_ino = count_.load(std::memory_order_relaxed) + 1;
  if (uint64_t{first_ino} + kids.size() >= std::numeric_limits<uint32_t>::max() / 2)
    return Status(Errc::kInvalidInput, "the tree has too many entries to mount");
  std::vector<uint32_t> child_inos;
  child_inos.reserve(kids.size());
  uint64_t bytes = 0, files = 0, dirs = 0;
  for (const auto* e : kids) {
    const auto name = base_of(e->path);
    if (name.size() > std::numeric_limits<uint16_t>::max())
      return Status(Errc::kInvalidInput, "a name in the tree is too long: " + std::string(name.substr(0, 64)) + "...");
    Inode n;
    n.ino = first_ino + static_cast<uint32_t>(child_inos.size());
    n.parent = dir.ino;
    n.name_off = names_.append(name.data(), name.size());
    n.name_len = static_cast<uint16_t>(name.size());
    n.is_dir = e->type == hubapi::TreeEntry::Type::kDirectory;
    if (n.is_dir) {
      n.count = kUnlisted;
      dirs++;
    } else {
      n.size = e->size;
      n.lfs = e->is_lfs();
      const size_t kb = key_bytes(*e);
      n.first = keys_.append_n(kb);
      if (n.first == StableArray<char>::npos) return Status(Errc::kInvalidInput, "the tree's keys are too large");
      put_key(n, *e, keys_.at_mut(n.first));
      bytes += e->size;
      files++;
    }
    if (n.name_off == StableArray<char>::npos || inodes_.append(&n, 1) == StableArray<Inode>::npos)
      return Status(Errc::kInvalidInput, "the tree is too large to mount");
    child_inos.push_back(n.ino);
  }
  const uint32_t first = children_.append(child_inos.data(), child_inos.size());
  if (first == StableArray<uint32_t>::npos) return Status(Errc::kInvalidInput, "the tree is too large to mount");
  total_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  file_count_.fetch_add(files, std::memory_order_relaxed);
  unlisted_.fetch_add(dirs);
  count_.store(first_ino - 1 + static_cast<uint32_t>(child_inos.size()), std::memory_order_release);
  dir.first = first;
  std::atomic_ref<uint32_t>(dir.count).store(static_cast<uint32_t>(child_inos.size()), std::memory_order_release);
  unlisted_.fetch_sub(1);
  return Status::ok();
}

const Inode* Namespace::get(uint64_t ino) const {
  if (ino == 0 || ino > inode_count()) return nullptr;
  return inodes_.at(static_cast<uint32_t>(ino - 1));
}

std::span<const uint32_t> Namespace::children(const Inode& n) const {
  if (!n.is_dir) return {};
  const uint32_t c = count_of(n);
  if (c == kUnlisted || c == 0) return {};
  return {children_.at(n.first), c};
}

const Inode* Namespace::lookup(uint64_t parent, std::string_view name) const {
  const Inode* dir = get(parent);
  if (!dir || !dir->is_dir) return nullptr;
  if (name == ".") return dir;
  if (name == "..") return get(dir->parent);
  auto kids = children(*dir);
  auto it = std::lower_bound(kids.begin(), kids.end(), name,
                             [&](uint32_t ino, std::string_view n) { return this->name(*node(ino)) < n; });
  if (it == kids.end() || this->name(*node(*it)) != name) return nullptr;
  return node(*it);
}

const Inode* Namespace::find_path(std::string_view path) const {
  const Inode* cur = get(kRootIno);
  while (cur && !path.empty()) {
    if (!ensure_listed(*cur)) return nullptr;
    auto pos = path.find('/');
    auto seg = path.substr(0, pos);
    cur = lookup(cur->ino, seg);
    path = pos == std::string_view::npos ? std::string_view{} : path.substr(pos + 1);
  }
  return cur;
}

std::string Namespace::path_of(const Inode& n) const {
  // Two walks up the parent chain: the length, then the names from the last one back.
  // A subfolder view's root path comes first, with its '/'.
  const size_t root = root_path_.empty() ? 0 : root_path_.size() + 1;
  size_t len = 0;
  for (const Inode* c = &n; c->ino != kRootIno; c = node(c->parent)) len += c->name_len + 1u;
  if (len == 0) return root_path_;
  std::string p(root + len - 1, '/');
  if (root) std::memcpy(p.data(), root_path_.data(), root_path_.size());
  size_t end = p.size();
  for (const Inode* c = &n; c->ino != kRootIno; c = node(c->parent)) {
    end -= c->name_len;
    std::memcpy(p.data() + end, names_.at(c->name_off), c->name_len);
    if (end > 0) --end;  // the '/' before it
  }
  return p;
}

std::string Namespace::key_hex(const Inode& n) const {
  if (n.is_dir) return {};
  const uint32_t len = n.count & ~kRawKey;
  std::string_view k(keys_.at(n.first), len);
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
  std::string_view k(keys_.at(n.first), len);
  if (n.count & kRawKey) return k == hex;
  if (hex.size() != 2 * len) return false;
  for (uint32_t i = 0; i < len; ++i) {
    const auto b = static_cast<unsigned char>(k[i]);
    if (hex[2 * i] != kHexDigits[b >> 4] || hex[2 * i + 1] != kHexDigits[b & 15]) return false;
  }
  return true;
}

size_t Namespace::memory_bytes() const {
  return inodes_.memory_bytes() + children_.memory_bytes() + names_.memory_bytes() + keys_.memory_bytes();
}

}  // namespace hffs::fs
