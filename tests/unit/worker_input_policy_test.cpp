// What `push --input` lets libav open, and what `--listen` requires (worker/input_policy).
#include <gtest/gtest.h>

#include "worker/input_policy.hpp"

namespace ds::worker {
namespace {

constexpr const char* kSecret = "0123456789abcdef0123";

TEST(InputUrl, SplitsSchemeHostPortPathAndQuery) {
  auto u = parse_input_url("rtmp://user:pw@0.0.0.0:1935/live/name?x=1");
  EXPECT_EQ(u.scheme, "rtmp");
  EXPECT_EQ(u.host, "0.0.0.0");
  EXPECT_EQ(u.port, 1935);
  EXPECT_EQ(u.path, "/live/name");
  EXPECT_EQ(u.query, "x=1");

  u = parse_input_url("SRT://[::1]:9000?mode=listener");
  EXPECT_EQ(u.scheme, "srt");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 9000);
  EXPECT_EQ(u.path, "");

  EXPECT_EQ(parse_input_url("clip.mp4").scheme, "file");
  EXPECT_EQ(parse_input_url("/dev/video0").scheme, "file");
  EXPECT_EQ(parse_input_url("testsrc2=size=640x480:rate=15").scheme, "file");
  EXPECT_EQ(parse_input_url("pipe:0").scheme, "pipe");
  EXPECT_EQ(parse_input_url("file:/tmp/a.mp4").scheme, "file");
}

TEST(InputUrl, LoopbackIsOnly127And1AndLocalhost) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.1.2.3"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("LocalHost"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("::"));
  EXPECT_FALSE(is_loopback_host(""));
  EXPECT_FALSE(is_loopback_host("127.0.0.1.example.com"));
  EXPECT_FALSE(is_loopback_host("10.0.0.1"));
  EXPECT_FALSE(is_loopback_host("127.0.0"));
}

TEST(InputPolicy, NetworkInputsOpenOnlyTheirOwnProtocolsAndContainers) {
  auto p = input_policy("rtmp://0.0.0.0:1935/live", "");
  EXPECT_EQ(p.protocol_whitelist, "rtmp,tcp");
  EXPECT_EQ(p.format_whitelist, "flv");
  EXPECT_EQ(p.format, "flv");

  p = input_policy("http://cam/stream.m3u8", "");
  EXPECT_EQ(p.protocol_whitelist.find("file"), std::string::npos) << p.protocol_whitelist;
  EXPECT_NE(p.format_whitelist.find("hls"), std::string::npos);
  EXPECT_EQ(p.format_whitelist.find("concat"), std::string::npos);
  EXPECT_TRUE(p.format.empty());

  p = input_policy("srt://0.0.0.0:9000", "");
  EXPECT_EQ(p.protocol_whitelist, "srt");
  EXPECT_EQ(p.format_whitelist, "mpegts");

  p = input_policy("rtsp://cam/stream", "");
  EXPECT_EQ(p.format, "rtsp");
  EXPECT_EQ(p.protocol_whitelist.find("file"), std::string::npos);

  p = input_policy("tcp://127.0.0.1:9000", "");
  EXPECT_EQ(p.protocol_whitelist, "tcp");
  EXPECT_EQ(p.format_whitelist.find("hls"), std::string::npos) << "only HTTP carries playlists";

  p = input_policy("mmsh://host/x", "");
  EXPECT_EQ(p.protocol_whitelist.find("file"), std::string::npos);
  EXPECT_FALSE(p.format_whitelist.empty());
}

TEST(InputPolicy, LocalFilesAndPipesOpenOnlyThemselvesInAnyContainer) {
  auto p = input_policy("clip.mp4", "");
  EXPECT_EQ(p.protocol_whitelist, "file,crypto");
  EXPECT_TRUE(p.format_whitelist.empty());
  p = input_policy("pipe:0", "");
  EXPECT_EQ(p.protocol_whitelist, "pipe");
  p = input_policy("/dev/video0", "v4l2");
  EXPECT_TRUE(p.format_whitelist.empty());
  EXPECT_TRUE(p.format.empty());
}

TEST(InputPolicy, TheUsersInputFormatIsAllowedAndReplacesTheForcedOne) {
  auto p = input_policy("rtmp://127.0.0.1/live", "live_flv");
  EXPECT_EQ(p.format_whitelist, "flv,live_flv");
  EXPECT_TRUE(p.format.empty());
}

TEST(ListenPlan, OffLoopbackNeedsAPublishSecretNamingTheFlag) {
  for (const char* url : {"rtmp://0.0.0.0:1935/live", "srt://0.0.0.0:9000", "rtmp://[::]/live",
                          "rtmp://192.168.1.5/live"}) {
    auto plan = listen_plan(url, "");
    ASSERT_FALSE(plan) << url;
    EXPECT_NE(plan.error().message.find("--publish-secret"), std::string::npos)
        << plan.error().message;
  }
  EXPECT_TRUE(listen_plan("rtmp://127.0.0.1:1935/live", ""));
  EXPECT_TRUE(listen_plan("srt://localhost:9000", ""));
}

TEST(ListenPlan, RtmpWithASecretListensForTheSecretAsStreamName) {
  auto plan = listen_plan("rtmp://0.0.0.0:1935/live/", kSecret);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->open_url, std::string("rtmp://0.0.0.0:1935/live/") + kSecret);
  EXPECT_TRUE(plan->check_stream_name);
  EXPECT_TRUE(plan->handshake_deadline);
  ASSERT_EQ(plan->options.size(), 1u);
  EXPECT_EQ(plan->options[0].first, "listen");

  // Without a secret on loopback: as given, any name.
  plan = listen_plan("rtmp://127.0.0.1:1935/live", "");
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->open_url, "rtmp://127.0.0.1:1935/live");
  EXPECT_FALSE(plan->check_stream_name);

  // The name is the secret: a URL that names one, or no app, is refused.
  EXPECT_FALSE(listen_plan("rtmp://0.0.0.0:1935/live/key", kSecret));
  EXPECT_FALSE(listen_plan("rtmp://0.0.0.0:1935", kSecret));
}

TEST(ListenPlan, SrtUsesTheSecretAsPassphrase) {
  auto plan = listen_plan("srt://0.0.0.0:9000", kSecret);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->open_url, "srt://0.0.0.0:9000");
  EXPECT_FALSE(plan->handshake_deadline);
  bool passphrase = false;
  for (const auto& [k, v] : plan->options) passphrase |= k == "passphrase" && v == kSecret;
  EXPECT_TRUE(passphrase);
  EXPECT_FALSE(listen_plan("srt://0.0.0.0:9000?passphrase=other0123456789", kSecret));
}

TEST(ListenPlan, TcpAndHttpListenOnlyOnLoopbackAndWithoutASecret) {
  for (const char* url : {"tcp://0.0.0.0:9000", "http://0.0.0.0:8081/x", "tcp://[::]:9000"}) {
    EXPECT_FALSE(listen_plan(url, "")) << url;
    EXPECT_FALSE(listen_plan(url, kSecret)) << url;
  }
  EXPECT_TRUE(listen_plan("tcp://127.0.0.1:9000", ""));
  EXPECT_TRUE(listen_plan("http://127.0.0.1:8081/x", ""));
  auto plan = listen_plan("tcp://127.0.0.1:9000", kSecret);
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().message.find("cannot check"), std::string::npos);
  EXPECT_FALSE(listen_plan("udp://127.0.0.1:9000", ""));
}

TEST(ListenPlan, ASecretIsLongAndUrlSafe) {
  EXPECT_TRUE(check_publish_secret(kSecret));
  EXPECT_TRUE(check_publish_secret("a-b_c.d~e-0123456789"));
  EXPECT_FALSE(check_publish_secret("short"));
  EXPECT_FALSE(check_publish_secret(std::string(64, 'a')));
  EXPECT_FALSE(check_publish_secret("0123456789abcdef/x"));
  EXPECT_FALSE(check_publish_secret("0123456789abcdef?x=1"));
  EXPECT_FALSE(check_publish_secret("0123456789 abcdefg"));
  auto bad = listen_plan("rtmp://0.0.0.0/live", "short");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("--publish-secret"), std::string::npos);
}

}  // namespace
}  // namespace ds::worker
