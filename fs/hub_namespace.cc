#include "fs/hub_namespace.h"

#include "fs/dir_page.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <ctime>


namespace hffs::fs {

namespace {
constexpr uint64_t kRoot = 1, kDatasets = 2, kSpaces = 3;

bool valid_part(std::string_view s) {
  if (s.empty() || s.size() > 96 || s == "." || s == "..") return false;
  for (char c : s)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

// "refs%2Fpr%2F1" -> "refs/pr/1": revisions with '/' cannot appear in a file name as such.
std::string decode_revision(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}
}  // namespace

HubNamespace::HubNamespace(Opener opener, HubNamespaceConfig cfg)
    : opener_(std::move(opener)), cfg_(cfg), mount_time_(std::time(nullptr)) {
  dirs_[kRoot] = VDir{kRoot, kRoot, hubapi::RepoType::kModel, "", {{"datasets", kDatasets}, {"spaces", kSpaces}}};
  dirs_[kDatasets] = VDir{kDatasets, kRoot, hubapi::RepoType::kDataset, "", {}};
  dirs_[kSpaces] = VDir{kSpaces, kRoot, hubapi::RepoType::kSpace, "", {}};
  slots_.emplace_back();  // slot 0 is never used
  if (cfg_.reaper) reaper_ = std::thread([this] { reaper(); });
}

HubNamespace::~HubNamespace() {
  {
    std::lock_guard lk(reaper_mu_);
    stop_ = true;
  }
  reaper_cv_.notify_all();
  if (reaper_.joinable()) reaper_.join();
}

void HubNamespace::set_invalidator(Invalidator inv) { invalidate_ = std::move(inv); }

void HubNamespace::set_forget(Follower::Forget f) {
  std::lock_guard lk(forget_mu_);
  forget_ = std::move(f);
}

void HubNamespace::stop_following() {
  std::vector<std::shared_ptr<Slot>> all;
  {
    std::shared_lock lk(mu_);
    for (auto& s : slots_)
      if (s) all.push_back(s);
  }
  for (auto& s : all) s->mount.follower.reset();
}

void HubNamespace::reaper() {
  auto period = std::max<std::chrono::seconds>(std::chrono::seconds(1),
                                               std::min<std::chrono::seconds>(cfg_.idle_release / 4, std::chrono::seconds(15)));
  std::unique_lock lk(reaper_mu_);
  while (!reaper_cv_.wait_for(lk, period, [&] { return stop_; })) {
    lk.unlock();
    release_idle(cfg_.clock());
    lk.lock();
  }
}

size_t HubNamespace::release_idle(std::chrono::steady_clock::time_point now) {
  std::vector<std::pair<uint64_t, std::string>> dropped;
  std::vector<std::shared_ptr<Slot>> keep_alive;  // destroyed after the lock is released
  {
    std::unique_lock lk(mu_);
    int64_t limit = (now - cfg_.idle_release).time_since_epoch().count();
    for (size_t k = 1; k < slots_.size(); ++k) {
      auto& s = slots_[k];
      if (!s || s->open_files.load() > 0 || s->last_used.load() > limit) continue;
      dirs_[s->parent].children.erase(s->name);
      dropped.emplace_back(s->parent, s->name);
      spdlog::info("releasing idle repo {}@{}", s->repo.id, s->revision);
      keep_alive.push_back(std::move(s));
      s = nullptr;
    }
  }
  if (invalidate_)
    for (auto& [parent, name] : dropped) invalidate_(parent, name);
  return dropped.size();
}

size_t HubNamespace::loaded_repos() const {
  std::shared_lock lk(mu_);
  size_t n = 0;
  for (auto& s : slots_) n += s ? 1 : 0;
  return n;
}

void HubNamespace::for_each_repo(const std::function<void(const std::string&, Filesystem&)>& f) const {
  std::vector<std::shared_ptr<Slot>> all;
  {
    std::shared_lock lk(mu_);
    for (auto& s : slots_)
      if (s) all.push_back(s);
  }
  for (auto& s : all) f(hubapi::repo_display(s->repo) + "@" + s->revision, *s->mount.fs);
}

Attr HubNamespace::vdir_attr(const VDir& d) const {
  Attr a;
  a.ino = d.ino;
  a.is_dir = true;
  a.mode = S_IFDIR | 0555;
  a.nlink = 2;
  a.mtime = mount_time_;
  a.uid = cfg_.uid;
  a.gid = cfg_.gid;
  a.entry_timeout = cfg_.virtual_entry_timeout;
  return a;
}

std::shared_ptr<HubNamespace::Slot> HubNamespace::slot_of(uint64_t ino) const {
  uint64_t k = ino >> kSlotShift;
  if (k == 0) return nullptr;
  std::shared_lock lk(mu_);
  return k < slots_.size() ? slots_[k] : nullptr;
}

void HubNamespace::touch(Slot& s) const {
  s.last_used.store(cfg_.clock().time_since_epoch().count(), std::memory_order_relaxed);
}

Attr HubNamespace::translate(const Attr& a, uint64_t k) const {
  Attr t = a;
  t.ino = (k << kSlotShift) | a.ino;
  if (a.ino == kRootIno) t.entry_timeout = cfg_.virtual_entry_timeout;  // may be released later
  return t;
}

uint64_t HubNamespace::add_vdir(uint64_t parent, const std::string& name, hubapi::RepoType type,
                                const std::string& org) {
  std::unique_lock lk(mu_);
  auto& p = dirs_[parent];
  if (auto it = p.children.find(name); it != p.children.end()) return it->second;
  uint64_t ino = next_vdir_++;
  dirs_[ino] = VDir{ino, parent, type, org, {}};
  dirs_[parent].children[name] = ino;
  return ino;
}

Result<Attr> HubNamespace::open_repo(const VDir& org_dir, std::string_view entry) {
  std::string name(entry), revision = "main";
  if (auto at = name.find('@'); at != std::string::npos) {
    revision = decode_revision(name.substr(at + 1));
    name = name.substr(0, at);
    if (revision.empty()) return Status(Errc::kEntryNotFound, "empty revision");
  }
  if (!valid_part(name)) return Status(Errc::kEntryNotFound, "not a repository name");
  hubapi::RepoId repo{org_dir.type, org_dir.org + "/" + name};
  std::string key = hubapi::repo_display(repo) + "@" + revision;
  {
    std::shared_lock lk(mu_);
    if (auto it = negative_.find(key); it != negative_.end() && it->second.until > cfg_.clock())
      return it->second.status;
  }
  std::lock_guard open_lk(open_mu_);
  {
    std::shared_lock lk(mu_);  // opened by another thread meanwhile?
    auto& d = dirs_.at(org_dir.ino);
    if (auto it = d.children.find(std::string(entry)); it != d.children.end()) {
      uint64_t k = it->second >> kSlotShift;
      auto s = slots_[k];
      lk.unlock();
      auto a = s->mount.fs->getattr(kRootIno);
      if (!a) return a.status();
      return translate(*a, k);
    }
  }
  auto m = opener_(repo, revision);
  if (!m) {
    spdlog::warn("{}: {}", key, m.status().to_string());
    std::unique_lock lk(mu_);
    negative_[key] = Negative{m.status(), cfg_.clock() + cfg_.negative_ttl};
    return m.status();
  }
  auto slot = std::make_shared<Slot>();
  slot->repo = repo;
  slot->revision = revision;
  slot->name = std::string(entry);
  slot->parent = org_dir.ino;
  slot->mount = std::move(*m);
  touch(*slot);
  if (cfg_.follow && entry.find('@') == std::string_view::npos) {
    // The follower's switches reach the kernel in this namespace's numbers (slot k).
    slot->mount.follower = cfg_.follow(repo, revision, *slot->mount.fs, [this, s = slot.get()](const Invalidations& inv) {
      const uint64_t k = s->k.load(std::memory_order_acquire) << kSlotShift;
      Invalidations t;
      for (const auto& [p, n] : inv.entries) t.entries.emplace_back(k | p, n);
      for (uint64_t i : inv.inodes) t.inodes.push_back(k | i);
      std::lock_guard lk(forget_mu_);
      if (forget_ && k) forget_(t);
    });
  }
  auto a = slot->mount.fs->getattr(kRootIno);
  if (!a) return a.status();
  std::unique_lock lk(mu_);
  uint64_t k = slots_.size();
  slots_.push_back(slot);
  slot->k.store(k, std::memory_order_release);
  dirs_[org_dir.ino].children[slot->name] = (k << kSlotShift) | kRootIno;
  negative_.erase(key);
  spdlog::info("opened {} as slot {}", key, k);
  return translate(*a, k);
}

Result<Attr> HubNamespace::lookup(uint64_t parent, std::string_view name) {
  if (auto s = slot_of(parent)) {
    touch(*s);
    uint64_t k = parent >> kSlotShift;
    if ((parent & kLocalMask) == kRootIno && name == "..") return getattr(s->parent);
    auto a = s->mount.fs->lookup(parent & kLocalMask, name);
    if (!a) return a.status();
    return translate(*a, k);
  }
  if (parent >> kSlotShift) return Status(Errc::kEntryNotFound, "released");
  VDir dir;
  uint64_t child = 0;
  {
    std::shared_lock lk(mu_);
    auto it = dirs_.find(parent);
    if (it == dirs_.end()) return Status(Errc::kEntryNotFound, "no such directory");
    dir = it->second;
    if (auto c = dir.children.find(std::string(name)); c != dir.children.end()) child = c->second;
  }
  if (name == ".") return getattr(parent);
  if (name == "..") return getattr(dir.parent);
  if (child) return getattr(child);
  if (dir.org.empty()) {
    // Root or a type folder: any valid namespace is an organisation folder (no network).
    if (!valid_part(name)) return Status(Errc::kEntryNotFound, "not an organisation name");
    uint64_t ino = add_vdir(parent, std::string(name), dir.type, std::string(name));
    return getattr(ino);
  }
  return open_repo(dir, name);
}

Result<Attr> HubNamespace::getattr(uint64_t ino) {
  if (auto s = slot_of(ino)) {
    auto a = s->mount.fs->getattr(ino & kLocalMask);
    if (!a) return a.status();
    return translate(*a, ino >> kSlotShift);
  }
  if (ino >> kSlotShift) return Status(Errc::kEntryNotFound, "released");
  std::shared_lock lk(mu_);
  auto it = dirs_.find(ino);
  if (it == dirs_.end()) return Status(Errc::kEntryNotFound, "no such inode");
  return vdir_attr(it->second);
}

namespace {
// A repo's listing as seen under the hub: inode numbers of slot k, and the repo root's ".." is
// its org folder.
class SlotFiller final : public DirFiller {
 public:
  SlotFiller(DirFiller& out, std::function<Attr(const Attr&)> translate, uint64_t dotdot)
      : out_(out), translate_(std::move(translate)), dotdot_(dotdot) {}
  bool plus() const override { return out_.plus(); }
  bool add(std::string_view name, const Attr& attr, bool entry, uint64_t next) override {
    Attr a = entry ? translate_(attr) : attr;
    if (!entry && a.ino != 0) a.ino = translate_(attr).ino;
    if (next == 2 && dotdot_ != 0) a.ino = dotdot_;  // ".." of the repo root
    return out_.add(name, a, entry, next);
  }

 private:
  DirFiller& out_;
  std::function<Attr(const Attr&)> translate_;
  uint64_t dotdot_;
};
}  // namespace

Status HubNamespace::readdir(uint64_t ino, uint64_t offset, DirFiller& out) {
  if (auto s = slot_of(ino)) {
    touch(*s);
    uint64_t k = ino >> kSlotShift;
    SlotFiller f(out, [this, k](const Attr& a) { return translate(a, k); },
                 (ino & kLocalMask) == kRootIno ? s->parent : 0);
    return s->mount.fs->readdir(ino & kLocalMask, offset, f);
  }
  std::vector<DirEntry> ents;  // copied: attributes are looked up without the lock
  {
    std::shared_lock lk(mu_);
    auto it = dirs_.find(ino);
    if (it == dirs_.end()) return Status(Errc::kEntryNotFound, "no such directory");
    ents = {{".", ino, true}, {"..", it->second.parent, true}};
    for (auto& [name, child] : it->second.children) ents.push_back({name, child, true});
  }
  fill_dir_page(
      out, offset, ents.size(), [&](uint64_t i) { return DirItem{ents[i].name, ents[i].ino, ents[i].is_dir}; },
      [&](const DirItem& d) { return getattr(d.ino); });
  return Status::ok();
}

Result<OpenReply> HubNamespace::open(uint64_t ino, int flags, BackingFiles& kernel) {
  auto s = slot_of(ino);
  if (!s) return Status(Errc::kInvalidInput, "is a directory");
  auto r = s->mount.fs->open(ino & kLocalMask, flags, kernel);
  if (r) {
    s->open_files.fetch_add(1);
    touch(*s);
  }
  return r;
}

void HubNamespace::release(uint64_t ino, uint64_t fh) {
  if (auto s = slot_of(ino)) {
    s->mount.fs->release(ino & kLocalMask, fh);
    s->open_files.fetch_sub(1);
    touch(*s);
  }
}

Status HubNamespace::opendir(uint64_t ino) {
  if (auto s = slot_of(ino)) return s->mount.fs->opendir(ino & kLocalMask);
  return getattr(ino) ? Status::ok() : Status(Errc::kEntryNotFound, "no such directory");
}

Result<ReadDone> HubNamespace::read(uint64_t ino, uint64_t fh, uint64_t offset, size_t len, ReadTarget& to) {
  auto s = slot_of(ino);
  if (!s) return Status(Errc::kEntryNotFound, "released");
  touch(*s);
  return s->mount.fs->read(ino & kLocalMask, fh, offset, len, to);
}

std::vector<uint64_t> HubNamespace::inodes_of(const std::string& key) {
  std::vector<std::pair<uint64_t, std::shared_ptr<Slot>>> all;
  {
    std::shared_lock lk(mu_);
    for (uint64_t k = 1; k < slots_.size(); ++k)
      if (slots_[k]) all.emplace_back(k, slots_[k]);
  }
  std::vector<uint64_t> out;
  for (auto& [k, s] : all)
    for (uint64_t ino : s->mount.fs->inodes_of(key)) out.push_back((k << kSlotShift) | ino);
  return out;
}

Result<std::string> HubNamespace::getxattr(uint64_t ino, std::string_view name) {
  if (auto s = slot_of(ino)) return s->mount.fs->getxattr(ino & kLocalMask, name);
  if (ino == kRoot && name == "user.hffs.metrics" && metrics_) return metrics_();
  return Status(Errc::kEntryNotFound, "no such attribute");
}

Result<std::vector<std::string>> HubNamespace::listxattr(uint64_t ino) {
  if (auto s = slot_of(ino)) return s->mount.fs->listxattr(ino & kLocalMask);
  if (ino == kRoot && metrics_) return std::vector<std::string>{"user.hffs.metrics"};
  return std::vector<std::string>{};
}

FsSummary HubNamespace::summary() {
  FsSummary sum;
  for_each_repo([&](const std::string&, Filesystem& f) {
    auto s = f.summary();
    sum.bytes += s.bytes;
    sum.inodes += s.inodes;
  });
  return sum;
}

}  // namespace hffs::fs
