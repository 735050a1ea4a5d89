// `dreamstream push` against a scripted /ws/ingest server, and its frame sources.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "line_moves.hpp"
#include "test_support.hpp"
#include "worker/av_source.hpp"
#include "worker/frame_source.hpp"
#include "worker/push_client.hpp"
#include "worker_fake_server.hpp"
#include "worker_rtmp_publisher.hpp"
#include "worker_test_images.hpp"

namespace ds::worker {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using testing::FakeServer;
using testing::Message;
using testing::read_message;
using testing::read_until_closed;
using testing::send_text;
namespace fs = std::filesystem;
using ds::test::TempDir;

constexpr const char* kKey = "dsk_test_stream_key";

PushOptions options_for(const std::string& url) {
  PushOptions o;
  o.server = url;
  o.key = kKey;
  o.handle_signals = false;
  return o;
}

struct RunningPush {
  RunningPush(PushOptions o, std::unique_ptr<FrameSource> source)
      : client(std::move(o), std::move(source)),
        result(std::async(std::launch::async, [this] { return client.run(); })) {}
  ~RunningPush() {
    client.stop();
    if (result.valid()) result.wait();
  }
  PushResult wait(std::chrono::seconds limit = 10s) {
    if (result.wait_for(limit) != std::future_status::ready) {
      ADD_FAILURE() << "push did not finish";
      client.stop();
    }
    return result.get();
  }
  PushClient client;
  std::future<PushResult> result;
};

// A folder of three frames (a, b, c in name order, one with an upper-case extension), a file
// that only claims to be a JPEG, and a file that is not a frame at all.
struct FrameFolder {
  FrameFolder() {
    frames = {testing::encode_jpeg(testing::test_scene(64, 48, 1)),
              testing::encode_jpeg(testing::test_scene(64, 48, 2)),
              testing::encode_jpeg(testing::test_scene(64, 48, 3))};
    dir.write("b.jpg", frames[1]);
    dir.write("a.jpg", frames[0]);
    dir.write("c.JPG", frames[2]);
    dir.write("bad.jpg", "not really a jpeg");
    dir.write("notes.txt", "ignored");
  }
  TempDir dir;
  std::vector<std::string> frames;
};

TEST(PushClient, SendsFolderFramesInOrderAtTheChosenRate) {
  FrameFolder folder;
  FakeServer server;
  PushOptions o = options_for(server.url());
  o.fps = 40;
  o.count = 7;
  auto source = make_directory_source(folder.dir.str(), /*loop=*/true);
  ASSERT_TRUE(source.ok());
  auto started = std::chrono::steady_clock::now();
  RunningPush push(o, std::move(*source));

  testing::http::request<testing::http::string_body> request;
  auto ws = server.accept(request);
  EXPECT_EQ(request.target(), "/ws/ingest");
  EXPECT_EQ(request[testing::http::field::authorization], std::string("Bearer ") + kKey);
  send_text(*ws, {{"type", "status"},
                  {"state", "live"},
                  {"viewers", 3},
                  {"workers", {{"total", 2}, {"busy", 1}}}});
  for (int i = 0; i < 7; ++i) {
    auto m = read_message(*ws);
    ASSERT_TRUE(m.binary);
    EXPECT_EQ(m.data, folder.frames[i % 3]) << "frame " << i;
  }
  EXPECT_EQ(read_until_closed(*ws), 1000);
  auto elapsed = std::chrono::steady_clock::now() - started;
  PushResult r = push.wait();
  EXPECT_EQ(r.exit_code, PushResult::kExitOk) << r.reason;
  EXPECT_EQ(r.frames_sent, 7);
  EXPECT_EQ(r.status_messages, 1);
  EXPECT_GE(elapsed, 6 * 25ms) << "7 frames at 40 fps take at least 6 intervals";
}

TEST(PushClient, StopsAtTheEndOfTheFolderWithoutLoop) {
  FrameFolder folder;
  FakeServer server;
  PushOptions o = options_for(server.url());
  o.fps = 100;
  RunningPush push(o, std::move(*make_directory_source(folder.dir.str(), false)));
  testing::http::request<testing::http::string_body> request;
  auto ws = server.accept(request);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(read_message(*ws).data, folder.frames[i]);
  EXPECT_EQ(read_until_closed(*ws), 1000);
  EXPECT_EQ(push.wait().exit_code, PushResult::kExitOk);
}

// `push --input rtmp://… --listen`: OBS stopping ends that publish's stream with a normal
// close (1000), like the end of a file, and it is no error.
TEST(PushClient, AnRtmpPublisherLeavingClosesTheStreamWith1000) {
  if (!testing::have_ffmpeg()) GTEST_SKIP() << "no ffmpeg CLI (scripts/setup.sh --test)";
  AvInputOptions av;
  av.url = "rtmp://127.0.0.1:" + std::to_string(ds::test::free_port()) + "/live";
  av.listen = true;
  av.size = {160, 120};
  std::atomic<bool> cancel{false};
  testing::RtmpPublisher publisher(av.url + "/obs", 2);
  auto opened = open_av_source(av, cancel);
  ASSERT_EQ(opened.status, AvOpenStatus::kOk) << opened.message;

  FakeServer server;
  PushOptions o = options_for(server.url());
  o.fps = 20;
  o.final_run = false;
  RunningPush push(o, std::move(opened.source));
  testing::http::request<testing::http::string_body> request;
  auto ws = server.accept(request);
  EXPECT_TRUE(read_message(*ws).binary);
  EXPECT_EQ(read_until_closed(*ws), 1000);
  PushResult r = push.wait(20s);
  EXPECT_EQ(r.exit_code, PushResult::kExitOk) << r.reason;
  EXPECT_GT(r.frames_sent, 0);
}

TEST(PushClient, ExitsNonZeroWithTheServersReasonWhenItEndsTheStream) {
  FrameFolder folder;
  FakeServer server;
  PushOptions o = options_for(server.url());
  o.fps = 50;
  RunningPush push(o, std::move(*make_directory_source(folder.dir.str(), true)));
  testing::http::request<testing::http::string_body> request;
  auto ws = server.accept(request);
  read_message(*ws);
  read_message(*ws);
  send_text(*ws, {{"type", "ended"}, {"reason", "no_credits"}, {"message", "out of credits"}});
  ws->close(testing::websocket::close_reason(static_cast<testing::websocket::close_code>(4402),
                                             "not enough credits"));
  PushResult r = push.wait();
  EXPECT_EQ(r.exit_code, PushResult::kExitClosedByServer);
  EXPECT_EQ(r.close_code, 4402);
  EXPECT_NE(r.reason.find("not enough credits"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("no_credits"), std::string::npos) << r.reason;
  EXPECT_GE(r.frames_sent, 2);
}

TEST(PushClient, ServerMessagesWithOddFieldTypesAreReadNotThrown) {
  // Issue 20 item 9: the typed decoder (live::wire::parse_streamer_text) reads a field of the
  // wrong type as absent; reading the JSON by hand threw on it and the line was lost silently.
  FrameFolder folder;
  FakeServer server;
  PushOptions o = options_for(server.url());
  o.fps = 50;
  RunningPush push(o, std::move(*make_directory_source(folder.dir.str(), true)));
  testing::http::request<testing::http::string_body> request;
  auto ws = server.accept(request);
  read_message(*ws);
  send_text(*ws, {{"type", "ended"}, {"reason", 5}, {"message", {"not", "text"}}});
  send_text(*ws, {{"type", 7}});
  send_text(*ws, {{"type", "status"}, {"state", "live"}});
  ws->close(testing::websocket::close_reason(static_cast<testing::websocket::close_code>(4402),
                                             "not enough credits"));
  PushResult r = push.wait();
  EXPECT_EQ(r.exit_code, PushResult::kExitClosedByServer) << r.reason;
  EXPECT_EQ(r.close_code, 4402);
  EXPECT_EQ(r.status_messages, 1);
  EXPECT_NE(r.reason.find("not enough credits"), std::string::npos) << r.reason;
}

TEST(PushClient, ARefusedUpgradeReportsTheServersMessage) {
  FrameFolder folder;
  FakeServer server;
  testing::LineMoves moves;
  PushOptions o = options_for(server.url());
  o.on_line_state = moves.observer();
  RunningPush push(o, std::move(*make_directory_source(folder.dir.str(), true)));
  server.refuse(402, "no_credits", "you need at least 1 credit to go live");
  PushResult r = push.wait();
  EXPECT_EQ(moves.seen(), std::vector<LineState>{LineState::kClosed}) << "final: no backoff";
  EXPECT_EQ(r.exit_code, PushResult::kExitRejected);
  EXPECT_EQ(r.close_code, 402);
  EXPECT_NE(r.reason.find("at least 1 credit"), std::string::npos) << r.reason;
  EXPECT_EQ(r.reason.find(kKey), std::string::npos);
}

TEST(PushClient, ANoServerIsAnErrorNotAHang) {
  unsigned short port = 0;
  {
    FakeServer probe;
    port = probe.port();
  }
  FrameFolder folder;
  PushClient client(options_for("ws://127.0.0.1:" + std::to_string(port)),
                    std::move(*make_directory_source(folder.dir.str(), true)));
  PushResult r = client.run();
  EXPECT_EQ(r.exit_code, PushResult::kExitClosedByServer);
  EXPECT_NE(r.reason.find("cannot connect"), std::string::npos) << r.reason;
}

// Reconnect tests: quick backoff so they run in well under a second each.
PushOptions reconnecting(const std::string& url, std::chrono::milliseconds retry_for = 5s) {
  PushOptions o = options_for(url);
  o.fps = 50;
  o.retry_for = retry_for;
  o.initial_backoff_ms = 20;
  o.max_backoff_ms = 100;
  return o;
}

// Cuts the TCP connection under a WebSocket without a close frame (a blip, a crashed server).
void cut(testing::ServerSocket& ws) {
  testing::beast::error_code ec;
  ws.next_layer().shutdown(testing::tcp::socket::shutdown_both, ec);
  ws.next_layer().close(ec);
}

void close_with(testing::ServerSocket& ws, int code, const std::string& reason) {
  ws.close(
      testing::websocket::close_reason(static_cast<testing::websocket::close_code>(code), reason));
}

// A push of a looping folder to the fake server with quick reconnects; accept() takes its next
// connection.
struct ReconnectingPush {
  explicit ReconnectingPush(std::chrono::milliseconds retry_for = 5s, int backoff_ms = 20)
      : push(options(server.url(), retry_for, backoff_ms, moves.observer()),
             std::move(*make_directory_source(folder.dir.str(), true))) {}
  static PushOptions options(const std::string& url, std::chrono::milliseconds retry_for,
                             int backoff_ms,
                             std::function<void(LineState, LineState)> on_line_state) {
    PushOptions o = reconnecting(url, retry_for);
    o.initial_backoff_ms = backoff_ms;
    o.max_backoff_ms = std::max(backoff_ms, o.max_backoff_ms);
    o.on_line_state = std::move(on_line_state);
    return o;
  }
  auto accept() { return server.accept(request); }

  testing::LineMoves moves;
  FrameFolder folder;
  FakeServer server;
  RunningPush push;
  testing::http::request<testing::http::string_body> request;
};

TEST(PushClient, ReconnectsWhenTheLineIsCutAndKeepsCounting) {
  ReconnectingPush p;
  auto first = p.accept();
  send_text(*first, {{"type", "status"}, {"state", "live"}, {"stream_id", 7}});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(read_message(*first).binary);
  cut(*first);

  auto second = p.accept();
  EXPECT_EQ(p.request[testing::http::field::authorization], std::string("Bearer ") + kKey);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(read_message(*second).binary);
  send_text(*second, {{"type", "ended"}, {"reason", "stopped"}, {"message", "stopped"}});
  close_with(*second, 4002, "stream ended");
  PushResult r = p.push.wait();
  EXPECT_EQ(r.exit_code, PushResult::kExitClosedByServer) << "4002 (stopped) is final";
  EXPECT_EQ(r.close_code, 4002);
  EXPECT_EQ(r.reconnects, 1);
  EXPECT_GE(r.frames_sent, 6) << "counted over both connections";
  using S = LineState;
  EXPECT_EQ(p.moves.seen(),
            (std::vector<S>{S::kOpen, S::kBackoff, S::kConnecting, S::kOpen, S::kClosed}))
      << "the cut is retried; the 4002 is final";
}

TEST(PushClient, ReconnectsWhenTheServerSaysTryAgain) {
  ReconnectingPush p;
  auto first = p.accept();
  close_with(*first, 1013, "the database is unavailable; try again shortly");
  auto second = p.accept();
  EXPECT_TRUE(read_message(*second).binary);
  p.push.client.stop();
  EXPECT_EQ(read_until_closed(*second), 1000);
  PushResult r = p.push.wait();
  EXPECT_EQ(r.exit_code, PushResult::kExitOk) << r.reason;
  EXPECT_EQ(r.reconnects, 1);
  using S = LineState;
  EXPECT_EQ(p.moves.seen(), (std::vector<S>{S::kOpen, S::kBackoff, S::kConnecting, S::kOpen,
                                            S::kClosing, S::kClosed}))
      << "a stop while open closes the line with our close frame";
}

TEST(PushClient, ReconnectsWhenTheServerShutsDown) {
  ReconnectingPush p;
  auto first = p.accept();
  read_message(*first);
  send_text(*first, {{"type", "ended"},
                     {"reason", "server_shutdown"},
                     {"message", "the server is shutting down"}});
  close_with(*first, 4002, "stream ended");
  auto second = p.accept();
  EXPECT_TRUE(read_message(*second).binary);
  p.push.client.stop();
  EXPECT_EQ(read_until_closed(*second), 1000);
  EXPECT_EQ(p.push.wait().reconnects, 1);
}

TEST(PushClient, AReplacedConnectionDoesNotReconnect) {
  ReconnectingPush p;
  auto first = p.accept();
  read_message(*first);
  close_with(*first, 4001, "replaced by a newer connection");
  PushResult r = p.push.wait();
  EXPECT_EQ(r.exit_code, PushResult::kExitClosedByServer);
  EXPECT_EQ(r.close_code, 4001);
  EXPECT_EQ(r.reconnects, 0);
}

TEST(PushClient, RetryForZeroExitsWhenTheLineIsCut) {
  ReconnectingPush p(0ms);
  auto first = p.accept();
  read_message(*first);
  cut(*first);
  PushResult r = p.push.wait(3s);
  EXPECT_EQ(r.exit_code, PushResult::kExitClosedByServer);
  EXPECT_NE(r.reason.find("connection lost"), std::string::npos) << r.reason;
  EXPECT_EQ(r.reconnects, 0);
}

TEST(PushClient, GivesUpWhenTheServerStaysAwayForRetryFor) {
  ReconnectingPush p(600ms);
  auto first = p.accept();
  read_message(*first);
  p.server.close();  // nobody listens any more: every reconnect is refused
  auto lost = std::chrono::steady_clock::now();
  cut(*first);
  PushResult r = p.push.wait(5s);
  auto waited = std::chrono::steady_clock::now() - lost;
  EXPECT_EQ(r.exit_code, PushResult::kExitClosedByServer);
  EXPECT_NE(r.reason.find("cannot connect"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("gave up reconnecting"), std::string::npos) << r.reason;
  EXPECT_GE(waited, 550ms);
  EXPECT_LT(waited, 3s);
}

TEST(PushClient, StopEndsTheWaitBeforeAReconnectAtOnce) {
  ReconnectingPush p(5s, 20'000);  // a wait far longer than the test may take
  auto first = p.accept();
  read_message(*first);
  cut(*first);
  ASSERT_TRUE(p.moves.wait_for(LineState::kBackoff));  // now it waits to reconnect
  auto stopped = std::chrono::steady_clock::now();
  p.push.client.stop();
  PushResult r = p.push.wait(5s);
  EXPECT_EQ(r.exit_code, PushResult::kExitOk) << r.reason;
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, 1s);
  EXPECT_EQ(p.moves.seen().back(), LineState::kClosed);
  EXPECT_EQ(p.moves.seen().size(), 3u) << "open, backoff, closed: no connect after the stop";
}

TEST(PushClient, AFirstConnectRetriesOnlyWhenAskedTo) {
  unsigned short port = 0;
  {
    FakeServer probe;
    port = probe.port();
  }
  FrameFolder folder;
  PushOptions o = reconnecting("ws://127.0.0.1:" + std::to_string(port));
  o.retry_first_connect = true;
  RunningPush push(o, std::move(*make_directory_source(folder.dir.str(), true)));
  std::this_thread::sleep_for(300ms);  // a few refused attempts
  FakeServer server(port);
  testing::http::request<testing::http::string_body> request;
  auto ws = server.accept(request);
  EXPECT_TRUE(read_message(*ws).binary);
  push.client.stop();
  EXPECT_EQ(read_until_closed(*ws), 1000);
  PushResult r = push.wait();
  EXPECT_EQ(r.exit_code, PushResult::kExitOk) << r.reason;
  EXPECT_EQ(r.reconnects, 1);
}

// An endless camera of large frames, faster than the line can take.
class BigFrames final : public FrameSource {
 public:
  explicit BigFrames(std::atomic<int>& taken) : taken_(taken) {}
  std::optional<std::string> take() override {
    ++taken_;
    std::string frame = testing::encode_jpeg(testing::test_scene(64, 48));
    frame.insert(frame.size() - 2, std::string(1024 * 1024, '\0'));
    return frame;
  }
  bool exhausted() const override { return false; }

 private:
  std::atomic<int>& taken_;
};

TEST(PushClient, DropsLocallyInsteadOfQueueingWhenTheSocketIsBackedUp) {
  FakeServer server;
  PushOptions o = options_for(server.url());
  o.fps = 200;
  std::atomic<int> taken{0};
  RunningPush push(o, std::make_unique<BigFrames>(taken));
  testing::http::request<testing::http::string_body> request;
  auto ws = server.accept(request);
  // A server that does not read: the socket fills up while push offers 300 frames (1.5 s at
  // 200 fps; longer on a busy machine, which a fixed sleep took for fewer frames offered).
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (taken < 300 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_GE(taken.load(), 300);
  push.client.stop();
  // Now drain what was sent, to see how much actually went out.
  int received = 0;
  for (;;) {
    testing::beast::flat_buffer buffer;
    testing::beast::error_code ec;
    ws->read(buffer, ec);
    if (ec) break;
    ++received;
  }
  PushResult r = push.wait();
  EXPECT_EQ(r.exit_code, PushResult::kExitOk) << r.reason;
  EXPECT_GE(r.frames_dropped, 100) << "300 offered, few can go out";
  EXPECT_LT(r.frames_sent, r.frames_dropped);
  // Everything counted as sent arrived (nothing was queued past the one in flight).
  EXPECT_LE(received, r.frames_sent + 1);
  EXPECT_GE(received, r.frames_sent - 1);
}

TEST(DirectorySource, RejectsMissingAndEmptyFolders) {
  EXPECT_FALSE(make_directory_source("/nonexistent/ds/frames", false).ok());
  TempDir empty;
  empty.write("readme.md", "no frames here");
  auto r = make_directory_source(empty.str(), true);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no *.jpg"), std::string::npos);
}

TEST(DirectorySource, LoopingOverOnlyBadFilesEnds) {
  TempDir dir;
  dir.write("x.jpg", "nope");
  auto source = make_directory_source(dir.str(), true);
  ASSERT_TRUE(source.ok());
  EXPECT_FALSE((*source)->take().has_value());
  EXPECT_TRUE((*source)->exhausted());
}

TEST(MjpegSource, KeepsOnlyTheNewestFrameFromAPipe) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  auto source = make_mjpeg_source(fds[0]);
  std::string f1 = testing::encode_jpeg(testing::test_scene(32, 24, 1));
  std::string f2 = testing::encode_jpeg(testing::test_scene(32, 24, 2));
  std::string f3 = testing::encode_jpeg(testing::test_scene(32, 24, 3));
  auto wait_for_frame = [&] {
    for (int i = 0; i < 300; ++i) {
      if (auto f = source->take()) return *f;
      std::this_thread::sleep_for(10ms);
    }
    return std::string();
  };
  ASSERT_EQ(::write(fds[1], f1.data(), f1.size()), static_cast<ssize_t>(f1.size()));
  EXPECT_EQ(wait_for_frame(), f1);
  std::string both = f2 + f3;
  ASSERT_EQ(::write(fds[1], both.data(), both.size()), static_cast<ssize_t>(both.size()));
  ::close(fds[1]);
  for (int i = 0; i < 300 && !source->exhausted() && source->dropped() == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(wait_for_frame(), f3) << "a newer frame replaces one not yet taken";
  EXPECT_EQ(source->dropped(), 1);
  for (int i = 0; i < 300 && !source->exhausted(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(source->exhausted());
  source.reset();
  ::close(fds[0]);
}

}  // namespace
}  // namespace ds::worker
