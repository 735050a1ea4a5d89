// api::HlsRelay: a node asks a stream's home once per URL: answers are kept for their max-age
// (manual clock), requests for a URL being fetched share the fetch, a home that does not
// answer gives 503 to everyone waiting and nothing is kept, and the kept bytes stay bounded.
#include "api/hls_relay.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "util/clock.hpp"

namespace ds::api {
namespace {

Response answer(int status, std::string body, const char* cache) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.set_header("Cache-Control", cache);
  return r;
}

struct Got {
  std::optional<Response> response;
  Response::Reply reply() {
    return [this](Response&& r) {
      EXPECT_FALSE(response.has_value()) << "replied twice";
      response = std::move(r);
    };
  }
};

// A home whose answers the test hands out by hand.
struct Home {
  int fetches = 0;
  std::vector<HlsRelay::Done> pending;
  HlsRelay::Fetch fetch() {
    return [this](HlsRelay::Done done) {
      fetches++;
      pending.push_back(std::move(done));
    };
  }
};

TEST(HlsRelay, MaxAgeOfCacheControl) {
  EXPECT_EQ(max_age_s("public, max-age=6"), 6);
  EXPECT_EQ(max_age_s("public, max-age=31536000, immutable"), 31536000);
  EXPECT_EQ(max_age_s("no-store"), std::nullopt);
  EXPECT_EQ(max_age_s("public"), std::nullopt);
  EXPECT_EQ(max_age_s("max-age=x"), std::nullopt);
}

TEST(HlsRelay, OneFetchPerUrlSharedByWhoeverAsksMeanwhileAndKeptForItsMaxAge) {
  ManualClock clock{1'000'000};
  HlsRelay relay(clock, {});
  Home home;
  Got a, b, c;
  relay.get("/u/ann/live.m3u8", home.fetch(), a.reply());
  relay.get("/u/ann/live.m3u8", home.fetch(), b.reply());
  EXPECT_EQ(home.fetches, 1);
  EXPECT_FALSE(a.response);
  home.pending.at(0)(answer(200, "#EXTM3U", "public, max-age=1"));
  ASSERT_TRUE(a.response && b.response);
  EXPECT_EQ(a.response->body, "#EXTM3U");
  EXPECT_EQ(b.response->body, "#EXTM3U");

  clock.advance_ms(999);
  relay.get("/u/ann/live.m3u8", home.fetch(), c.reply());  // still fresh
  EXPECT_EQ(home.fetches, 1);
  ASSERT_TRUE(c.response);
  clock.advance_ms(1);
  Got d;
  relay.get("/u/ann/live.m3u8", home.fetch(), d.reply());  // a second later: asked again
  EXPECT_EQ(home.fetches, 2);
  EXPECT_FALSE(d.response);
  auto s = relay.stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.shared, 1u);
  EXPECT_EQ(s.fetches, 2u);
}

TEST(HlsRelay, AHomeThatDoesNotAnswerGives503ToAllAndErrorsAreNotKept) {
  ManualClock clock{1'000'000};
  HlsRelay relay(clock, {});
  Home home;
  Got a, b;
  relay.get("/u/ann/hls/7/3.m4s", home.fetch(), a.reply());
  relay.get("/u/ann/hls/7/3.m4s", home.fetch(), b.reply());
  home.pending.at(0)(std::nullopt);
  ASSERT_TRUE(a.response && b.response);
  EXPECT_EQ(a.response->status, 503);
  EXPECT_NE(a.response->body.find("home_unavailable"), std::string::npos);
  EXPECT_EQ(b.response->status, 503);

  Got c;
  relay.get("/u/ann/hls/7/3.m4s", home.fetch(), c.reply());
  EXPECT_EQ(home.fetches, 2);
  home.pending.at(1)(answer(404, "{}", "no-store"));
  ASSERT_TRUE(c.response);
  EXPECT_EQ(c.response->status, 404);
  Got d;
  relay.get("/u/ann/hls/7/3.m4s", home.fetch(), d.reply());
  EXPECT_EQ(home.fetches, 3) << "a 404 is not kept";
}

TEST(HlsRelay, KeptBytesStayBoundedLeastRecentlyUsedGoesFirst) {
  ManualClock clock{1'000'000};
  HlsRelayConfig config;
  config.max_bytes = 3 * (1000 + 256 + 20);
  HlsRelay relay(clock, config);
  Home home;
  auto keep = [&](const std::string& key) {
    Got g;
    int before = home.fetches;
    relay.get(key, home.fetch(), g.reply());
    if (home.fetches > before) {
      home.pending.back()(
          answer(200, std::string(1000, 'x'), "public, max-age=31536000, immutable"));
    }
    EXPECT_TRUE(g.response);
  };
  keep("/u/ann/hls/7/1.m4s");
  keep("/u/ann/hls/7/2.m4s");
  keep("/u/ann/hls/7/3.m4s");
  EXPECT_EQ(home.fetches, 3);
  keep("/u/ann/hls/7/1.m4s");  // used again: now the newest
  EXPECT_EQ(home.fetches, 3);
  keep("/u/ann/hls/7/4.m4s");  // 2 goes
  EXPECT_EQ(home.fetches, 4);
  EXPECT_LE(relay.stats().bytes, config.max_bytes);
  EXPECT_EQ(relay.stats().entries, 3u);
  keep("/u/ann/hls/7/1.m4s");
  EXPECT_EQ(home.fetches, 4);
  keep("/u/ann/hls/7/2.m4s");
  EXPECT_EQ(home.fetches, 5);

  // Kept at most max_ttl_ms even when immutable.
  clock.advance_ms(config.max_ttl_ms);
  keep("/u/ann/hls/7/1.m4s");
  EXPECT_EQ(home.fetches, 6);
}

}  // namespace
}  // namespace ds::api
