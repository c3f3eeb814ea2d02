// The miss of ReadPath: a run of blocks this thread leads, fetched from the source under the OFD
// lock on their map bytes, straight into the cache file when it can keep them, through memory
// when it cannot. The lock is held across the fetch: that is what makes it one fetch per block
// across processes.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

#include "cache/block_map.h"
#include "cache/read_path.h"
#include "cache/run_writer.h"

namespace hffs::cache {

Status ReadPath::fetch_run(Job& j, std::span<Claimed> run) {
  CacheFile& f = j.f;
  const uint64_t b0 = j.first + run[0].i, n = run.size();
  RunResult rr;
  {
    MapRangeLock lock(*f.map, b0, n);
    for (size_t a = 0; a < n;) {
      if (f.map->present(b0 + a)) {
        bump(c_.lock_waits);
        flights_.complete(f.key, b0 + a, run[a].flight, {FlightOutcome::kFilled, {}, {}});
        ++a;
        continue;
      }
      size_t e = a + 1;
      while (e < n && !f.map->present(b0 + e)) ++e;
      fetch_missing(j, run.subspan(a, e - a), b0 + a, rr);
      a = e;
    }
  }
  after_run(j, rr);
  return rr.status;
}

void ReadPath::fetch_missing(Job& j, std::span<Claimed> sub, uint64_t b, RunResult& rr) {
  CacheFile& f = j.f;
  if (!rr.status.is_ok()) return abandon(j, sub, b);
  const uint64_t last = b + sub.size() - 1;
  const uint64_t run_off = f.block_offset(b);
  const uint64_t run_len = f.block_offset(last) + f.block_len(last) - run_off;
  bump(c_.fetches);
  // Straight into the file when it can keep the run; through memory (served, maybe not kept)
  // when it cannot, or when writing it failed.
  std::shared_ptr<FetchedRun> fetched;
  auto [kind, s] = fetch_into_file(j, run_off, run_len);
  if (kind == Direct::kFetched) {
    if (s) {
      // Data first (written, synced when durable), then the map bytes: a process killed at any
      // point leaves blocks either absent or correct. Counted as each byte flips: only a real
      // absent->present transition adds (a failed OFD lock may let two writers mark the same block).
      for (uint64_t k = b; k <= last; ++k)
        if (f.map->promote(k, kAbsent, kPresent)) usage_.add(UsageSlot::kPresentBytes, f.block_len(k));
      rr.kept_any = true;
    }
  } else if (j.req.keep_only) {
    // The caller needs the blocks on disk (to verify them there): it deals with kNoSpace.
    rr.status = Status(Errc::kNoSpace, "the cache cannot keep " + std::to_string(run_len) + " bytes of " + f.key);
    return abandon(j, sub, b);
  } else if (!j.req.out) {
    // Read-ahead of a run the cache cannot keep would be fetched for nothing (the reader would
    // fetch it again): leave it to the reader.
    for (auto& c : sub) j.mark(c.i);
    return abandon(j, sub, b);
  } else {
    // Nothing of it is kept: fetch only the part the reader asked for, not whole blocks (a 1 MiB
    // read that straddles two blocks would otherwise fetch 2 MiB).
    fetched = std::make_shared<FetchedRun>();
    fetched->offset = std::max(run_off, j.req.offset);
    fetched->len = static_cast<size_t>(std::min(run_off + run_len, j.end()) - fetched->offset);
    fetched->data.reset(new char[fetched->len]);
    s = fetch_span(j.src, fetched->offset, std::span<char>(fetched->data.get(), fetched->len));
  }
  if (!s) {
    rr.status = s;
    for (size_t k = 0; k < sub.size(); ++k)
      flights_.complete(f.key, b + k, sub[k].flight, {FlightOutcome::kFailed, s, {}});
    return;
  }
  if (fetched) rr.unkept.push_back(fetched);
  deliver(j, sub, b, fetched, fetched ? fetched->len : run_len);
}

void ReadPath::deliver(Job& j, std::span<Claimed> sub, uint64_t b0, const std::shared_ptr<FetchedRun>& fetched,
                       uint64_t got) {
  CacheFile& f = j.f;
  const uint64_t bs = cfg_.block_size, offset = j.req.offset, end = j.end();
  char* out = j.req.out;
  bump(c_.miss_bytes, got);
  usage_.add(UsageSlot::kMissBytes, got);
  for (size_t k = 0; k < sub.size(); ++k) {
    uint64_t b = b0 + k;
    uint64_t lo = std::max(b * bs, offset), hi = std::min((b + 1) * bs, end);
    if (out && fetched) std::memcpy(out + (lo - offset), fetched->data.get() + (lo - fetched->offset), hi - lo);
    j.mark(sub[k].i);
    // Without `fetched` the blocks are on disk: waiters read them from there. An in-memory run
    // that does not hold the whole block is no use to them: they fetch their own part.
    bool whole_block = !fetched || (fetched->offset <= f.block_offset(b) &&
                                    fetched->offset + fetched->len >= f.block_offset(b) + f.block_len(b));
    flights_.complete(f.key, b, sub[k].flight,
                      whole_block ? FlightOutcome{FlightOutcome::kFilled, {}, fetched}
                                  : FlightOutcome{FlightOutcome::kAbandoned, {}, {}});
  }
}

void ReadPath::abandon(Job& j, std::span<Claimed> sub, uint64_t b) {
  for (size_t k = 0; k < sub.size(); ++k)
    flights_.complete(j.f.key, b + k, sub[k].flight, {FlightOutcome::kAbandoned, {}, {}});
}

void ReadPath::after_run(Job& j, RunResult& rr) {
  CacheFile& f = j.f;
  if (rr.kept_any) {
    space_.after_store();
    // The stream hash follows the lowest missing block; a file completed here is judged in the
    // background too, in case no reader comes back to it.
    // (A file being filled to be verified first is judged by its filler: never advanced or queued.)
    if (!j.req.keep_only) (void)stream_verdict(verifier_.advance(f, &j.src), j.src);
    if (cfg_.verify != VerifyMode::kOff && !j.req.keep_only && f.all_present()) verifier_.queue(j.fp, true);
  }
  // A run the cache could not keep is hashed now or never (the reader's settle() offers its own
  // part again; this covers the rest of the run). Waiting is safe: no block lock is held.
  if (cfg_.verify != VerifyMode::kOff && !j.req.keep_only)
    for (const auto& r : rr.unkept)
      (void)stream_verdict(
          verifier_.offer(f, Verifier::Offer{r->offset, std::span<const char>(r->data.get(), r->len),
                                             /*kept=*/false, /*wait=*/true, &j.src, j.req.epoch, /*forward=*/false}),
          j.src);
}

// Fetches the run [run_off, run_off + run_len) of j.f straight into its data file (RunWriter),
// copying the part of the request it covers into req.out. kFetched: `status` is the fetch's
// outcome; on success the data is written (and synced when durable) and the caller marks the
// blocks present. kCannotKeep (no room, pair deleted: nothing fetched) and kWriteFailed (a write
// or the durable fdatasync failed; logged, counted): the caller fetches the run through memory
// and serves it, keeping nothing (failure to keep is not a read failure). Called under the OFD
// lock of the run's blocks: an evictor or deleter cannot touch them.
ReadPath::DirectResult ReadPath::fetch_into_file(Job& j, uint64_t run_off, uint64_t run_len) {
  CacheFile& f = j.f;
  if (f.map->retired()) return {Direct::kCannotKeep, {}};  // the pair is being deleted
  if (!space_.make_room(run_len)) {
    bump(c_.unkept_bytes, run_len);
    return {Direct::kCannotKeep, {}};
  }
  RunWriter w(f, run_off, run_len, j.req.out, j.req.offset, j.req.len);
  Status s = j.src.fetch(run_off, run_len, w);
  if (s) w.finish();
  if (s && w.error() && !w.complete())
    s = Status(Errc::kProtocol, j.src.name() + ": the source reported success after " + std::to_string(w.covered()) +
                                    " of " + std::to_string(run_len) + " bytes");
  Status kept = w.error();  // our own failure to write (or to sync) the run
  if (s && kept && cfg_.durable && ::fdatasync(f.data_fd.get()) != 0)
    kept = errno_status(errno, "fdatasync " + f.paths.data.string());
  if (s && kept) return {Direct::kFetched, std::move(s)};
  // Bytes written for blocks that stay absent would take space nobody counts: give it back.
  (void)::fallocate(f.data_fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(run_off),
                    static_cast<off_t>(run_len));
  if (kept) return {Direct::kFetched, std::move(s)};  // the source failed: `status` says why
  bump(c_.write_errors);
  spdlog::warn("cache: serving {} bytes of {} at {} without keeping them: {}", run_len, f.key, run_off,
               kept.message());
  return {Direct::kWriteFailed, Status::ok()};
}

}  // namespace hffs::cache
