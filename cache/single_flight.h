// In-process single-flight: at most one fetch of a (content key, block) at a time; later
// readers wait for the first one's outcome instead of fetching again.
#pragma once
#include <array>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <tsl/robin_map.h>

#include "common/status.h"

namespace hffs::cache {

// Bytes a leader fetched into memory because the cache could not keep them, kept alive for as
// long as a waiter still copies from them. (Kept runs go straight to the file: waiters read them there.)
struct FetchedRun {
  uint64_t offset = 0;  // file offset of data[0]
  size_t len = 0;
  std::unique_ptr<char[]> data;
};

struct FlightOutcome {
  enum Kind { kFilled, kFailed, kAbandoned } kind = kAbandoned;
  Status status;                            // kFailed: the source's (or local) error
  std::shared_ptr<const FetchedRun> run;    // kFilled: the bytes, when they are not on disk
};

class Flight {
 public:
  void finish(FlightOutcome o);
  const FlightOutcome& wait();  // blocks until finish(); the outcome stays valid while we're held

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  FlightOutcome outcome_;
};

class SingleFlight {
 public:
  struct Claim {
    std::shared_ptr<Flight> flight;
    bool leader = false;
  };
  // Leader: the caller must call complete() exactly once, whatever happens.
  Claim claim(std::string_view key, uint64_t block);
  // Removes the entry (so new readers re-check the disk) then wakes the waiters.
  void complete(std::string_view key, uint64_t block, const std::shared_ptr<Flight>& f, FlightOutcome o);

 private:
  struct Shard {
    std::mutex mu;  // leaf lock, never held across I/O
    tsl::robin_map<std::string, std::shared_ptr<Flight>> inflight;
  };
  static std::string id(std::string_view key, uint64_t block);
  Shard& shard(const std::string& id);
  std::array<Shard, 16> shards_;
};

}  // namespace hffs::cache
