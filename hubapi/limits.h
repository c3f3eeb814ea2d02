// Every bound on what a hostile or broken Hub (or CDN) can make hffs spend, in one place.
// Each is enforced with a one-line error naming the Hub; docs/ARCHITECTURE.md "Limits" lists them.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace hffs::hubapi {

// Bytes of one API answer (repo info, one tree page). The Hub sends at most 1000 entries per
// page, ~300 KB with expand=false; 1000 entries with the longest paths we accept (4 KiB) and
// every field would still be ~4.5 MiB. 8 MiB keeps that headroom while the parse peak stays a
// few tens of MiB (nlohmann's DOM costs ~5x the text), not 800+ MB as a 200 MB page did.
inline constexpr size_t kMaxApiAnswerBytes = size_t{8} << 20;
// Bytes of an error body kept for the message (data requests).
inline constexpr size_t kMaxErrorBodyBytes = size_t{64} << 10;
// Entries of one tree (all pages). The Hub's largest datasets list a few million files; 5 M
// leaves headroom for them while bounding the tree's memory (~200 B an entry: ~1 GiB).
inline constexpr size_t kMaxTreeEntries = 5'000'000;
// Pages of one listing: the entry bound at 250 entries a page (the Hub sends 1000).
inline constexpr int kMaxTreePages = 20'000;
// Pages in a row that bring no entry (a real Hub never sends an empty page with a next link).
inline constexpr int kMaxEmptyTreePages = 10;
// Wall time of one whole listing (each page also has the operation deadline, --deadline).
// A 5 M-entry listing is 5000 pages; at ~0.3 s a page that is 25 minutes.
inline constexpr std::chrono::minutes kMaxListingTime{30};
// Redirect hops of one request (API GET, HEAD /resolve, data GET).
inline constexpr int kMaxRedirectHops = 5;
// Response headers kept per response (a header flood is ignored past it).
inline constexpr size_t kMaxResponseHeaders = 500;
// Paths of tree entries: total bytes, bytes of one segment (NAME_MAX), segments (depth).
inline constexpr size_t kMaxPathBytes = 4096;
inline constexpr size_t kMaxSegmentBytes = 255;
inline constexpr size_t kMaxPathDepth = 256;
// Nesting of a JSON answer: a tree page is 3 deep; repo info carries the model card's data
// (user-written YAML), so it is allowed more.
inline constexpr int kMaxJsonDepth = 32;
inline constexpr int kMaxInfoJsonDepth = 64;
// Bytes of a revision (branch, tag, sha, refs/pr/N); git refs are far shorter in practice.
inline constexpr size_t kMaxRevisionBytes = 256;
// Size of one file in a tree (1 PiB).
inline constexpr uint64_t kMaxFileSize = uint64_t{1} << 50;
// Signed data locations cached per client (the cache is cleared when it is reached).
inline constexpr size_t kMaxCachedLocations = 100'000;

}  // namespace hffs::hubapi
