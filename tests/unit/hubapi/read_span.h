// HubClient has one range read, into a ByteSink; most tests want the bytes in a buffer.
#pragma once
#include <span>
#include <string_view>

#include "common/byte_sink.h"
#include "hubapi/hub_client.h"

namespace hffs::testing {

inline Status read_span(hubapi::HubClient& c, const hubapi::RepoId& repo, std::string_view commit,
                        std::string_view path, uint64_t size, uint64_t offset, std::span<char> out) {
  SpanSink sink(out);
  return c.read_range_to(repo, commit, path, size, offset, out.size(), sink);
}

}  // namespace hffs::testing
