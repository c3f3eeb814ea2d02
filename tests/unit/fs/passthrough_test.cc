// The FUSE passthrough amendments over the wire structs (fs/passthrough.h), without a kernel.
#include "fs/passthrough.h"

#include <gtest/gtest.h>
#include <linux/fuse.h>

#include <cstring>
#include <vector>

namespace hffs::fs {
namespace {

std::vector<char> init_request(uint64_t unique, uint32_t flags, uint32_t flags2) {
  std::vector<char> msg(sizeof(fuse_in_header) + 64, '\0');
  fuse_in_header h{};
  h.len = static_cast<uint32_t>(msg.size());
  h.opcode = FUSE_INIT;
  h.unique = unique;
  std::memcpy(msg.data(), &h, sizeof h);
  uint32_t in[5] = {7, 41, 1 << 20, flags, flags2};
  std::memcpy(msg.data() + sizeof h, in, sizeof in);
  return msg;
}

TEST(Passthrough, InitOfferIsRecognisedOnlyWithInitExtAndTheFlag) {
  uint64_t u = 0;
  auto offer = init_request(42, 1u << 30, 1u << 5);
  EXPECT_TRUE(init_offers_passthrough(offer.data(), offer.size(), &u));
  EXPECT_EQ(u, 42u);
  auto no_ext = init_request(43, 0, 1u << 5);
  EXPECT_FALSE(init_offers_passthrough(no_ext.data(), no_ext.size(), &u));
  auto no_flag = init_request(44, 1u << 30, 1u << 4);
  EXPECT_FALSE(init_offers_passthrough(no_flag.data(), no_flag.size(), &u));
  EXPECT_FALSE(init_offers_passthrough(offer.data(), sizeof(fuse_in_header) + 8, &u)) << "truncated";
  auto other = offer;
  reinterpret_cast<fuse_in_header*>(other.data())->opcode = FUSE_LOOKUP;
  EXPECT_FALSE(init_offers_passthrough(other.data(), other.size(), &u));
  EXPECT_EQ(u, 42u);
}

struct Reply {
  fuse_out_header h{};
  char body[64] = {};
  iovec iov[2];
  Reply(uint64_t unique, int32_t error, size_t body_len) {
    h.unique = unique;
    h.error = error;
    h.len = static_cast<uint32_t>(sizeof h + body_len);
    iov[0] = {&h, sizeof h};
    iov[1] = {body, body_len};
  }
  uint32_t u32(size_t off) const {
    uint32_t v;
    std::memcpy(&v, body + off, 4);
    return v;
  }
};

TEST(Passthrough, InitReplyGetsTheFlagAndStackDepthOnlyForTheOfferingRequest) {
  Reply r(42, 0, 64);
  uint32_t flags = 0x1234;
  std::memcpy(r.body + 12, &flags, 4);
  EXPECT_FALSE(amend_init_reply(r.iov, 2, 41)) << "another request's reply";
  EXPECT_TRUE(amend_init_reply(r.iov, 2, 42));
  EXPECT_EQ(r.u32(12), 0x1234u | (1u << 30)) << "flags keep libfuse's bits and gain FUSE_INIT_EXT";
  EXPECT_EQ(r.u32(32), 1u << 5) << "flags2: FUSE_PASSTHROUGH";
  EXPECT_EQ(r.u32(36), 1u) << "max_stack_depth";
  Reply err(42, -EPROTO, 64);
  EXPECT_FALSE(amend_init_reply(err.iov, 2, 42));
  Reply short_body(42, 0, 24);  // an old-protocol reply has no flags2
  EXPECT_FALSE(amend_init_reply(short_body.iov, 2, 42));
}

TEST(Passthrough, OpenReplyCarriesTheBackingId) {
  Reply r(7, 0, sizeof(fuse_open_out));
  uint32_t keep_cache = FOPEN_NOFLUSH;
  std::memcpy(r.body + 8, &keep_cache, 4);
  EXPECT_TRUE(amend_open_reply(r.iov, 2, 5));
  EXPECT_EQ(r.u32(8), static_cast<uint32_t>(FOPEN_NOFLUSH) | (1u << 7));
  EXPECT_EQ(r.u32(12), 5u);
  Reply entry(8, 0, 128);  // not an open reply
  EXPECT_FALSE(amend_open_reply(entry.iov, 2, 5));
  Reply failed(9, -ENOENT, sizeof(fuse_open_out));
  EXPECT_FALSE(amend_open_reply(failed.iov, 2, 5));
  EXPECT_FALSE(amend_open_reply(r.iov, 2, 0));
}

TEST(Passthrough, PendingBackingIdIsTakenOnce) {
  set_pending_backing_id(3);
  EXPECT_EQ(take_pending_backing_id(), 3);
  EXPECT_EQ(take_pending_backing_id(), 0);
}

}  // namespace
}  // namespace hffs::fs
