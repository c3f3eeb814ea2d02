#include <gtest/gtest.h>

#include "hubapi/headers.h"
#include "hubapi/location.h"

using namespace hffs::hubapi;

TEST(LinkHeader, SimpleNext) {
  EXPECT_EQ(*link_next(R"(<https://hf.co/api/models/a/b/tree/x?cursor=abc>; rel="next")"),
            "https://hf.co/api/models/a/b/tree/x?cursor=abc");
  EXPECT_FALSE(link_next(R"(<https://hf.co/x>; rel="prev")"));
  EXPECT_FALSE(link_next(""));
}

TEST(LinkHeader, MultipleLinksParamsAndQuoting) {
  auto v = R"(<https://a/first>; rel="first", <https://a/next?x=1,2;3>; title="a, b; c"; rel="next last")";
  EXPECT_EQ(*link_next(v), "https://a/next?x=1,2;3");
  EXPECT_EQ(*link_next(R"(<https://a/n>;rel=next)"), "https://a/n");
  EXPECT_EQ(*link_next(R"(<https://a/n> ; REL = "Next")"), "https://a/n");
  EXPECT_EQ(*link_next(R"(<https://x/xet>; rel="xet-auth", <https://a/n>; rel="next")"), "https://a/n");
  EXPECT_EQ(*link_next(R"(<https://x/1>; title="rel=\"next\"", <https://a/2>; rel="next")"), "https://a/2");
  auto all = parse_link_header(R"(<a>; rel="x y", garbage, <b>; rel=z)");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].rels.size(), 2u);
  EXPECT_EQ(all[1].target, "b");
  EXPECT_FALSE(link_next("<unterminated; rel=next"));
}

TEST(ContentRange, Parse) {
  auto cr = parse_content_range("bytes 0-1048575/497764107");
  ASSERT_TRUE(cr);
  EXPECT_EQ(cr->first, 0u);
  EXPECT_EQ(cr->last, 1048575u);
  EXPECT_EQ(*cr->total, 497764107u);
  cr = parse_content_range("bytes 5-9/*");
  ASSERT_TRUE(cr);
  EXPECT_FALSE(cr->total);
  EXPECT_TRUE(parse_content_range("Bytes 0-0/1"));
  for (const char* bad : {"", "bytes", "bytes */100", "bytes 5-4/10", "bytes 0-10/10", "bytes -1-3/10",
                          "bytes 0-3", "items 0-3/10", "bytes 0x1-3/10", "bytes 1 -3/10",
                          "bytes 0-99999999999999999999/1"})
    EXPECT_FALSE(parse_content_range(bad)) << bad;
}

TEST(RateLimitHeaders, Parse) {
  auto rl = parse_ratelimit(R"("resolvers";r=0;t=172)");
  ASSERT_TRUE(rl);
  EXPECT_EQ(*rl->remaining, 0);
  EXPECT_EQ(*rl->reset, 172);
  EXPECT_FALSE(parse_ratelimit("garbage"));
  EXPECT_EQ(*parse_retry_after_seconds(" 7 "), 7);
  EXPECT_FALSE(parse_retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT"));
  EXPECT_FALSE(parse_retry_after_seconds("-1"));
  EXPECT_EQ(normalize_etag(R"(W/"abc")"), "abc");
}

TEST(SignedUrl, CloudFrontExpires) {
  EXPECT_EQ(*signed_url_expiry("https://us.aws.cdn.hf.co/x?Expires=1759965343&Policy=p&Signature=s"),
            1759965343);
}

TEST(SignedUrl, AmzDatePlusExpires) {
  // X-Amz-Date 2025-10-08T22:15:43Z + 3600 == 1759965343 (the capture in hub-protocol.md 4.5).
  EXPECT_EQ(*signed_url_expiry("https://cas-bridge.xethub.hf.co/a/b?X-Amz-Algorithm=x&X-Amz-Date=20251008T221543Z&X-Amz-Expires=3600&X-Amz-Signature=s"),
            1759965343);
  // Both present: the earlier wins.
  EXPECT_EQ(*signed_url_expiry("https://h/x?X-Amz-Date=20251008T221543Z&X-Amz-Expires=3600&Expires=1759960000"),
            1759960000);
  // Percent-encoded key/value.
  EXPECT_EQ(*signed_url_expiry("https://h/x?Expires=%31%32"), 12);
}

TEST(SignedUrl, DefaultsAndGarbage) {
  EXPECT_FALSE(signed_url_expiry("https://h/x"));
  EXPECT_FALSE(signed_url_expiry("https://h/x?X-Amz-Date=20251008T221543Z"));
  EXPECT_FALSE(signed_url_expiry("https://h/x?Expires=soon"));
  EXPECT_FALSE(signed_url_expiry("https://h/x?X-Amz-Date=2025-10-08&X-Amz-Expires=3600"));
  EXPECT_EQ(location_expiry("https://h/x", 1000), 1000 + 3600);
  EXPECT_EQ(location_expiry("https://h/x?Expires=5000", 1000), 5000);
}

TEST(Iso8601, Parse) {
  EXPECT_EQ(*parse_iso8601("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*parse_iso8601("2024-02-19T11:06:12.000Z"), 1708340772);
  EXPECT_EQ(*parse_iso8601("2024-02-19T12:06:12+01:00"), 1708340772);
  EXPECT_EQ(*parse_amz_date("20251008T221543Z"), 1759961743);
  EXPECT_FALSE(parse_iso8601("yesterday"));
  EXPECT_FALSE(parse_iso8601("2024-13-01T00:00:00Z"));
}
