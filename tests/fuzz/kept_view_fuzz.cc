// The kept-view files under <cache>/views (cli/snapshot_store.cc, hubapi/snapshot.cc): a ref file and
// the commit's view JSON, as a damaged or tampered cache may hold them. Files live in a private
// directory under /dev/shm (or TMPDIR), rewritten for each input. An accepted view passes the tree
// checks again when re-serialized.
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli/snapshot_store.h"
#include "hubapi/snapshot.h"
#include "tests/fuzz/fuzz_check.h"

namespace stdfs = std::filesystem;

namespace {

const stdfs::path& scratch() {
  // Never destroyed: the atexit cleanup below runs after static destructors would have.
  static const stdfs::path* dir = new stdfs::path([] {
    stdfs::path base = stdfs::exists("/dev/shm") ? stdfs::path("/dev/shm") : stdfs::temp_directory_path();
    stdfs::path d = base / ("hffs-fuzz-view-" + std::to_string(::getpid()));
    stdfs::remove_all(d);
    stdfs::create_directories(d);
    std::atexit([] { std::error_code ec; stdfs::remove_all(scratch(), ec); });
    return d;
  }());
  return *dir;
}

void write(const stdfs::path& p, const std::string& text) {
  stdfs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

bool plain_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hffs;
  FuzzedDataProvider in(data, size);
  bool by_ref = in.ConsumeBool();
  std::string ref = in.ConsumeRandomLengthString(64);
  std::string view = in.ConsumeRemainingBytesAsString();

  stdfs::path cache = scratch();
  std::error_code ec;
  stdfs::remove_all(cache / "views", ec);
  hubapi::RepoId repo{hubapi::RepoType::kModel, "org/name"};
  stdfs::path dir = cache / "views" / cli::repo_folder_name(repo);
  // The ref file's content is untrusted; the view is stored under that name when it is a plain one
  // (a traversal attempt then points at a file that does not exist).
  std::string sha = plain_name(ref) ? ref : std::string(40, 'a');
  write(dir / "refs" / "main", ref);
  write(dir / "commits" / (sha + ".json"), view);

  cli::SnapshotStore store(cache);
  auto s = store.load(repo, by_ref ? std::string("main") : sha.substr(0, 7));
  auto direct = hubapi::parse_snapshot(view);
  if (!s) return 0;
  auto again = hubapi::parse_snapshot(hubapi::serialize_snapshot(*s));
  FUZZ_CHECK(again);
  FUZZ_CHECK(again->tree.size() == s->tree.size());
  FUZZ_CHECK(again->info.sha == s->info.sha && again->repo == s->repo);
  (void)direct;
  return 0;
}
