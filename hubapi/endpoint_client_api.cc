// EndpointClient, the metadata side: revision pinning (GET .../revision/{rev}) and the paginated,
// validated tree listing. Both are API GETs answered by the Hub itself (redirects stay on its host).
#include <unordered_set>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "hubapi/headers.h"
#include "hubapi/endpoint_client_impl.h"
#include "hubapi/limits.h"
#include "hubapi/location.h"
#include "hubapi/tree_parse.h"

namespace hffs::hubapi {

namespace {

using std::chrono::milliseconds;
using json = nlohmann::json;

bool is_lower_hex40(std::string_view s) {
  if (s.size() != 40) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

// One API GET: the attempt the retry loop repeats, at the URL the last redirect named.
class EndpointClient::Impl::ApiGet {
 public:
  ApiGet(Impl& m, const std::string& url, const std::string& what, const ErrorContext& ctx,
         Clock::time_point deadline, HttpResponse& out, std::string& final_url)
      : m_(m), cur_(url), what_(what), ctx_(ctx), deadline_(deadline), out_(out), final_url_(final_url) {}

  Outcome attempt() {
    TokenSource::Token used;
    HttpRequest req = m_.make_request(cur_, deadline_, false, &used);
    req.headers.push_back("Accept: application/json");
    req.max_string_body = kMaxApiAnswerBytes;
    ++m_.api_requests;
    HttpResponse r = m_.http.perform(req);
    if (r.overflow)
      return Outcome::fail(Status(Errc::kProtocol, "the Hub at " + m_.endpoint + " sent more than " +
                                                       mib_str(kMaxApiAnswerBytes) + " " + what_ +
                                                       " (the bound on one API answer)"));
    if (!r.ok_transfer()) {
      Status s = m_.net_status(r, cur_);
      if (m_.final_net_failure(r)) return Outcome::fail(s);
      return Outcome::retry(s);
    }
    if (is_redirect(r.status)) return follow_redirect(r);
    if (r.status == 200) {
      out_ = std::move(r);
      final_url_ = cur_;
      return Outcome::done();
    }
    Status s = map_http_error(m_.error_info(r), ctx_);
    if (m_.token_rotated(r, used)) return Outcome::again(s, /*hop=*/false);
    if (is_retryable_status(r.status)) return Outcome::retry(s, m_.server_delay(r));
    return Outcome::fail(s);
  }

 private:
  // The next attempt goes to the redirect's target, which must stay on the Hub's host.
  Outcome follow_redirect(const HttpResponse& r) {
    std::string loc = r.headers.get("location");
    auto base = parse_url(cur_);
    auto target = base ? resolve_reference(*base, loc) : std::nullopt;
    if (loc.empty() || !target)
      return Outcome::fail(Status(Errc::kProtocol, "bad redirect (HTTP " + std::to_string(r.status) + ") " + what_));
    if (++hops_ > kMaxRedirectHops)
      return Outcome::fail(Status(Errc::kProtocol, "the Hub at " + m_.endpoint + " sent more than " +
                                                       std::to_string(kMaxRedirectHops) + " redirects " + what_));
    if (auto tu = parse_url(*target)) {
      if (Status d = m_.check_downgrade(cur_, *tu, what_); !d) return Outcome::fail(d);
      // An API answer is trusted as the repo's metadata: it must come from the Hub's host.
      if (m_.ep && tu->host != m_.ep->host)
        return Outcome::fail(Status(Errc::kProtocol, "the Hub at " + m_.endpoint + " redirected " + what_ +
                                                         " to another host (" + tu->origin() + "), refused"));
    }
    spdlog::debug("hubapi: {} redirected to {}", what_, redact_url(*target));
    cur_ = *target;
    return Outcome::again(Status(Errc::kProtocol, "redirect"), /*hop=*/true);
  }

  Impl& m_;
  std::string cur_;  // the URL of the next attempt
  int hops_ = 0;
  const std::string& what_;
  const ErrorContext& ctx_;
  const Clock::time_point deadline_;
  HttpResponse& out_;
  std::string& final_url_;
};

Status EndpointClient::Impl::api_get(const std::string& url, const std::string& what, const ErrorContext& ctx,
                                HttpResponse& out, std::string& final_url,
                                std::optional<Clock::time_point> cap) {
  auto start = Clock::now();
  auto deadline = start + cfg.op_deadline;
  if (cap && *cap < deadline) deadline = *cap;
  ApiGet get(*this, url, what, ctx, deadline, out, final_url);
  return run(what, start, deadline, [&get] { return get.attempt(); });
}

Result<RepoInfo> parse_repo_info(std::string_view body, const RepoId& repo) {
  auto bad = [](const std::string& why) { return Status(Errc::kProtocol, why); };
  if (!json_depth_ok(body, kMaxInfoJsonDepth)) return bad("JSON nested too deeply");
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  RepoInfo info;
  if (auto it = j.find("id"); it != j.end() && it->is_string()) info.id = it->get<std::string>();
  else info.id = repo.id;
  if (Status s = validate_repo_id(info.id); !s) return bad("invalid canonical id");
  auto sit = j.find("sha");
  if (sit == j.end() || !sit->is_string() || !is_lower_hex40(sit->get_ref<const std::string&>()))
    return bad("'sha' is not a 40-hex commit id");
  info.sha = sit->get<std::string>();
  if (auto it = j.find("lastModified"); it != j.end() && it->is_string()) {
    info.last_modified = sanitize_for_message(it->get<std::string>(), 64);
    info.last_modified_epoch = parse_iso8601(info.last_modified).value_or(0);
  }
  if (auto it = j.find("private"); it != j.end() && it->is_boolean()) info.is_private = it->get<bool>();
  if (auto it = j.find("gated"); it != j.end()) {
    if (it->is_string()) {
      std::string g = it->get<std::string>();
      info.gated = (g == "auto" || g == "manual") ? g : sanitize_for_message(g, 32);
    } else if (it->is_boolean() && it->get<bool>()) {
      info.gated = "manual";
    }
  }
  return info;
}

Result<RepoInfo> EndpointClient::repo_info(const RepoId& repo, std::string_view revision,
                                           std::optional<Clock::time_point> cap) {
  Impl& m = *impl_;
  if (!m.ep) return Status(Errc::kInvalidInput, "invalid endpoint URL '" + redact_url(m.endpoint) + "'");
  if (Status s = validate_repo_id(repo.id); !s) return s;
  if (Status s = validate_revision(revision); !s) return s;
  std::string url = revision_url(m.endpoint, repo, revision);
  std::string what = "getting info of " + repo_display(repo) + " at revision '" +
                     sanitize_for_message(revision, 200) + "'";
  auto ctx = m.context(repo, revision, "", RequestKind::kApi, what);
  HttpResponse r;
  std::string final_url;
  if (Status s = m.api_get(url, what, ctx, r, final_url, cap); !s) return s;

  auto bad = [&](const std::string& why) {
    ++m.errors;
    return Status(Errc::kProtocol, "the Hub sent an invalid answer " + what + ": " + why);
  };
  auto info = parse_repo_info(r.body, repo);
  if (!info) return bad(info.status().message());
  return info;
}

Result<std::vector<std::string>> parse_tag_names(std::string_view body) {
  auto bad = [](const std::string& why) { return Status(Errc::kProtocol, why); };
  if (!json_depth_ok(body, kMaxInfoJsonDepth)) return bad("JSON nested too deeply");
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  auto tags = j.find("tags");
  if (tags == j.end() || !tags->is_array()) return bad("'tags' is not a list");
  std::vector<std::string> out;
  for (const auto& t : *tags)
    if (t.is_object())
      if (auto n = t.find("name"); n != t.end() && n->is_string()) out.push_back(n->get<std::string>());
  return out;
}

Result<std::vector<std::string>> EndpointClient::tag_names(const RepoId& repo, std::optional<Clock::time_point> cap) {
  Impl& m = *impl_;
  if (!m.ep) return Status(Errc::kInvalidInput, "invalid endpoint URL '" + redact_url(m.endpoint) + "'");
  if (Status s = validate_repo_id(repo.id); !s) return s;
  std::string url = api_repo_url(m.endpoint, repo) + "/refs";
  std::string what = "getting the tags of " + repo_display(repo);
  auto ctx = m.context(repo, "", "", RequestKind::kApi, what);
  HttpResponse r;
  std::string final_url;
  if (Status s = m.api_get(url, what, ctx, r, final_url, cap); !s) return s;
  auto tags = parse_tag_names(r.body);
  if (!tags) {
    ++m.errors;
    return Status(Errc::kProtocol, "the Hub sent an invalid answer " + what + ": " + tags.status().message());
  }
  return tags;
}

Result<std::vector<TreeEntry>> EndpointClient::list_tree(const RepoId& repo, std::string_view commit,
                                                         std::optional<Clock::time_point> cap) {
  auto r = list_tree(repo, commit, ListRequest{}, cap);
  if (!r) return r.status();
  return std::move(r->entries);
}

Result<Listing> EndpointClient::list_tree(const RepoId& repo, std::string_view commit, const ListRequest& req,
                                          std::optional<Clock::time_point> cap) {
  Impl& m = *impl_;
  if (!m.ep) return Status(Errc::kInvalidInput, "invalid endpoint URL '" + redact_url(m.endpoint) + "'");
  if (Status s = validate_repo_id(repo.id); !s) return s;
  if (Status s = validate_revision(commit); !s) return s;
  if (!req.dir.empty())
    if (std::string why = check_tree_path(req.dir); !why.empty())
      return Status(Errc::kInvalidInput, "cannot list '" + sanitize_for_message(req.dir, 100) + "': " + why);
  std::string url = tree_url(m.endpoint, repo, commit, req.dir, req.recursive);
  bool complete = true;
  TreeBuilder builder;
  builder.set_max_entries(m.cfg.max_tree_entries);
  std::unordered_set<std::string> seen;
  const auto start = Clock::now();
  const auto deadline = cap ? std::min(*cap, start + m.cfg.listing_deadline) : start + m.cfg.listing_deadline;
  const std::string listing = "listing files of " + repo_display(repo) + " at " + sanitize_for_message(commit, 100) +
                              (req.dir.empty() ? "" : " in '" + sanitize_for_message(req.dir, 100) + "'");
  auto refuse = [&](const std::string& why, Errc code = Errc::kProtocol) {
    ++m.errors;
    return Status(code, "the Hub at " + m.endpoint + " " + why + " (" + listing + ")");
  };
  auto too_long = [&](int pages) {
    return refuse("did not finish the listing within " + ms_str(m.cfg.listing_deadline) + " (" +
                      std::to_string(pages) + " pages, " + std::to_string(builder.size()) + " entries)",
                  Errc::kTimeout);
  };
  int page = 0;
  int empty_in_a_row = 0;
  while (true) {
    ++page;
    if (page > m.cfg.max_tree_pages)
      return refuse("sent more than " + std::to_string(m.cfg.max_tree_pages) + " pages (the bound on one listing)");
    if (Clock::now() >= deadline) return too_long(page - 1);
    if (!seen.insert(url).second)
      return refuse("sent a pagination that loops (page " + std::to_string(page) + ")");
    std::string what = listing + " (page " + std::to_string(page) + ")";
    auto ctx = m.context(repo, commit, "", RequestKind::kApi, what);
    HttpResponse r;
    std::string final_url;
    if (Status s = m.api_get(url, what, ctx, r, final_url, deadline); !s) {
      if (s.code() == Errc::kTimeout && Clock::now() + milliseconds(50) >= deadline) return too_long(page - 1);
      return s;
    }
    size_t before = builder.size() + builder.skipped();
    if (Status s = builder.add_page(r.body); !s) {
      ++m.errors;
      return Status(s.code(), s.message() + " (" + what + ")");
    }
    r.body = std::string();  // the page's text is not needed any more
    empty_in_a_row = builder.size() + builder.skipped() == before ? empty_in_a_row + 1 : 0;
    std::string link = r.headers.joined("link");
    auto next = link.empty() ? std::nullopt : link_next(link);
    if (!next) break;
    if (req.max_pages > 0 && page >= req.max_pages) {
      complete = false;
      break;
    }
    if (empty_in_a_row >= kMaxEmptyTreePages)
      return refuse("sent " + std::to_string(empty_in_a_row) + " empty pages in a row, each with a next page");
    auto base = parse_url(final_url);
    auto abs = base ? resolve_reference(*base, *next) : std::nullopt;
    auto nu = abs ? parse_url(*abs) : std::nullopt;
    if (!nu) return refuse("sent an unusable next-page link (page " + std::to_string(page) + ")");
    // The next page must come from the Hub itself: a listing is trusted as the repo's content.
    if (!same_origin(*nu, *m.ep))
      return refuse("sent a next-page link to another origin (" + nu->origin() + "), refused (page " +
                    std::to_string(page) + ")");
    url = *abs;
  }
  if (builder.skipped() > 0)
    spdlog::info("hubapi: {} tree entries of unsupported types were skipped in {}", builder.skipped(),
                 repo_display(repo));
  auto entries = std::move(builder).finish();
  if (!entries) return entries.status();
  return Listing{std::move(*entries), complete};
}

}  // namespace hffs::hubapi
