#include "cli/view_sources.h"

#include <fstream>
#include <sstream>

#include "hubapi/snapshot.h"

namespace hffs::cli {

std::unordered_map<std::string, ContentOrigin> index_kept_views(const std::filesystem::path& cache_dir) {
  std::unordered_map<std::string, ContentOrigin> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator repo(cache_dir / "views", ec), end; !ec && repo != end; repo.increment(ec)) {
    std::error_code ec2;
    for (std::filesystem::directory_iterator c(repo->path() / "commits", ec2), e2; !ec2 && c != e2; c.increment(ec2)) {
      std::ifstream in(c->path(), std::ios::binary);
      std::stringstream text;
      text << in.rdbuf();
      auto snap = hubapi::parse_snapshot(text.str());
      if (!snap) continue;
      for (const auto& e : snap->tree)
        if (e.type == hubapi::TreeEntry::Type::kFile)
          out.try_emplace(e.content_key(), ContentOrigin{snap->repo, snap->info.sha, e.path, e.size});
    }
  }
  return out;
}

namespace {

class HubFileSource final : public cache::BlockSource {
 public:
  HubFileSource(hubapi::HubClient& c, ContentOrigin o) : c_(c), o_(std::move(o)) {}
  Status fetch(uint64_t offset, uint64_t len, ByteSink& sink) override {
    return c_.read_range_to(o_.repo, o_.commit, o_.path, o_.size, offset, len, sink);
  }
  void refresh() override { c_.forget_location(o_.repo, o_.commit, o_.path); }
  std::string name() const override {
    return "'" + o_.path + "' (" + c_.file_url(o_.repo, o_.commit, o_.path) + ", served by " +
           c_.location_origin(o_.repo, o_.commit, o_.path) + ")";
  }

 private:
  hubapi::HubClient& c_;
  ContentOrigin o_;
};

}  // namespace

std::unique_ptr<cache::BlockSource> hub_file_source(hubapi::HubClient& client, ContentOrigin o) {
  return std::make_unique<HubFileSource>(client, std::move(o));
}

}  // namespace hffs::cli
