// Parsing --server addresses and the reconnect backoff of the worker and push tools.
#include <gtest/gtest.h>

#include "worker/backoff.hpp"
#include "worker/ws_url.hpp"

namespace ds::worker {
namespace {

TEST(ParseWsUrl, AddsTheDefaultPathToABareServer) {
  auto u = parse_ws_url("ws://127.0.0.1:8080", "/ws/worker");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "8080");
  EXPECT_EQ(u->target, "/ws/worker");
  EXPECT_EQ(u->host_header(), "127.0.0.1:8080");
  EXPECT_EQ(parse_ws_url("ws://h:1/", "/ws/ingest")->target, "/ws/ingest");
}

TEST(ParseWsUrl, KeepsAnExplicitPathAndQuery) {
  auto u = parse_ws_url("ws://h:9/custom/path?x=1", "/ws/worker");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->target, "/custom/path?x=1");
  EXPECT_EQ(parse_ws_url("ws://h:9?token=dsw_x", "/ws/worker")->target, "/ws/worker?token=dsw_x");
}

TEST(ParseWsUrl, SchemesAndDefaultPorts) {
  auto https = parse_ws_url("https://stream.example", "/ws/worker");
  ASSERT_TRUE(https);
  EXPECT_TRUE(https->tls);
  EXPECT_EQ(https->port, "443");
  EXPECT_EQ(https->host_header(), "stream.example");
  auto wss = parse_ws_url("WSS://stream.example:8443/", "/ws/worker");
  ASSERT_TRUE(wss);
  EXPECT_TRUE(wss->tls);
  EXPECT_EQ(wss->host_header(), "stream.example:8443");
  auto http = parse_ws_url("http://localhost", "/ws/worker");
  ASSERT_TRUE(http);
  EXPECT_FALSE(http->tls);
  EXPECT_EQ(http->port, "80");
  auto bare = parse_ws_url("localhost:8080", "/ws/worker");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->host, "localhost");
  EXPECT_EQ(bare->port, "8080");
}

TEST(ParseWsUrl, Ipv6Hosts) {
  auto u = parse_ws_url("ws://[::1]:8080", "/ws/worker");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->host_header(), "[::1]:8080");
  EXPECT_EQ(u->display(), "ws://[::1]:8080/ws/worker");
}

TEST(ParseWsUrl, RejectsNonsense) {
  for (const char* bad : {"", "ftp://h", "ws://", "ws://:80", "ws://h:", "ws://h:0", "ws://h:99999",
                          "ws://h:80x", "ws://user:pw@h", "ws://[::1", "ws://[::1]x"}) {
    EXPECT_FALSE(parse_ws_url(bad, "/ws/worker")) << bad;
  }
}

TEST(WsUrl, DisplayNeverShowsTheQuery) {
  auto u = parse_ws_url("ws://h:1/ws/worker?token=dsw_secret", "/ws/worker");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->display(), "ws://h:1/ws/worker");
}

TEST(Backoff, DoublesUpToTheCapWithJitterInTheUpperHalf) {
  Backoff b(250, 10'000);
  EXPECT_EQ(b.next_delay_ms(1.0), 250);
  EXPECT_EQ(b.next_delay_ms(1.0), 500);
  EXPECT_EQ(b.next_delay_ms(0.0), 500);  // step 1000, lowest point: half of it
  EXPECT_EQ(b.next_delay_ms(1.0), 2000);
  for (int i = 0; i < 20; ++i) {
    int d = b.next_delay_ms(0.5);
    EXPECT_LE(d, 10'000);
  }
  EXPECT_EQ(b.next_delay_ms(1.0), 10'000);
  EXPECT_EQ(b.next_delay_ms(0.0), 5'000);
}

TEST(Backoff, ResetStartsOver) {
  Backoff b(100, 1000);
  for (int i = 0; i < 5; ++i) b.next_delay_ms(1.0);
  b.reset();
  EXPECT_EQ(b.next_delay_ms(1.0), 100);
}

TEST(Backoff, ManyAttemptsDoNotOverflow) {
  Backoff b(250, 10'000);
  for (int i = 0; i < 10'000; ++i) EXPECT_LE(b.next_delay_ms(0.99), 10'000);
}

}  // namespace
}  // namespace ds::worker
