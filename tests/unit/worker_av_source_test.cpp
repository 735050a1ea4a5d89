// `push --input`: option parsing, the latest-wins hand-off between the decoder thread and the
// sender, and decoding real inputs (lavfi, a file ffmpeg writes here, an RTMP listener that is
// cancelled while it waits, checks a publisher's stream name and drops a silent one).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <opencv2/imgcodecs.hpp>
#include <thread>

#include "domain/jpeg.hpp"
#include "test_support.hpp"
#include "worker/av_source.hpp"
#include "worker/latest_slot.hpp"
#include "worker_rtmp_publisher.hpp"

namespace ds::worker {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

TEST(AvSourceOptions, ParsesSizes) {
  auto s = parse_frame_size("640x480");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->width, 640);
  EXPECT_EQ(s->height, 480);
  s = parse_frame_size("1280X720");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->width, 1280);
  s = parse_frame_size("640x0");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->height, 0);
  for (const char* bad : {"", "640", "x480", "640x", "0x0", "8x8", "640x480x2", "-640x480",
                          "640 x 480", "99999x480", "abcxdef", "640x4800"}) {
    EXPECT_FALSE(parse_frame_size(bad)) << bad;
  }
  EXPECT_NE(parse_frame_size("big").error().message.find("WIDTHxHEIGHT"), std::string::npos);
}

TEST(AvSourceOptions, OutputSizeKeepsTheAspectForAZeroSide) {
  FrameSize exact{320, 240};
  EXPECT_EQ(output_size(exact, 1920, 1080).width, 320);
  EXPECT_EQ(output_size(exact, 1920, 1080).height, 240);
  auto h = output_size(FrameSize{640, 0}, 1920, 1080);
  EXPECT_EQ(h.width, 640);
  EXPECT_EQ(h.height, 360);
  auto w = output_size(FrameSize{0, 480}, 1280, 720);
  EXPECT_EQ(w.width, 854);  // 853.3 rounded to even
  EXPECT_EQ(w.height, 480);
  auto odd = output_size(FrameSize{101, 0}, 100, 100);
  EXPECT_EQ(odd.height % 2, 0);
}

TEST(AvSourceOptions, ParsesInputOptions) {
  auto kv = parse_input_option("rtsp_transport=tcp");
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->first, "rtsp_transport");
  EXPECT_EQ(kv->second, "tcp");
  kv = parse_input_option("filter=a=b");
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->first, "filter");
  EXPECT_EQ(kv->second, "a=b");
  kv = parse_input_option("empty=");
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->second, "");
  EXPECT_FALSE(parse_input_option("novalue"));
  EXPECT_FALSE(parse_input_option("=tcp"));
  EXPECT_FALSE(parse_input_option(""));
}

TEST(LatestSlot, NewestWinsAndReplacedValuesAreDropped) {
  LatestSlot slot;
  EXPECT_FALSE(slot.take());
  slot.put("a");
  slot.put("b");
  slot.put("c");
  EXPECT_EQ(slot.dropped(), 2);
  EXPECT_EQ(slot.take(), "c");
  EXPECT_FALSE(slot.take()) << "nothing new since the last take";
  EXPECT_FALSE(slot.exhausted());
  slot.put("d");
  slot.finish("boom");
  slot.put("after");  // ignored
  EXPECT_FALSE(slot.exhausted()) << "the last value is still to be taken";
  EXPECT_EQ(slot.take(), "d");
  EXPECT_TRUE(slot.exhausted());
  EXPECT_EQ(slot.failure(), "boom");
  EXPECT_EQ(slot.puts(), 4);
}

TEST(LatestSlot, AFastProducerNeverMakesABacklog) {
  LatestSlot slot;
  constexpr int kCount = 200'000;
  std::thread producer([&] {
    for (int i = 1; i <= kCount; ++i) slot.put(std::to_string(i));
    slot.finish();
  });
  int last = 0;
  int takes = 0;
  while (!slot.exhausted()) {
    if (auto v = slot.take()) {
      int n = std::stoi(*v);
      ASSERT_GT(n, last) << "values come newest first, never an older one after a newer";
      last = n;
      ++takes;
    }
  }
  producer.join();
  EXPECT_EQ(last, kCount) << "the very last value is always delivered";
  EXPECT_EQ(slot.dropped() + takes, kCount);
  EXPECT_TRUE(slot.failure().empty());
}

// Takes every picture until the source is exhausted (or `limit` passes).
std::vector<std::string> drain(FrameSource& source, std::chrono::seconds limit) {
  std::vector<std::string> frames;
  auto end = Clock::now() + limit;
  while (!source.exhausted() && Clock::now() < end) {
    if (auto f = source.take()) {
      frames.push_back(std::move(*f));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  return frames;
}

void expect_jpeg_of_size(const std::string& jpeg, int width, int height) {
  auto info = domain::validate_jpeg(jpeg, domain::JpegLimits{});
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->width, width);
  EXPECT_EQ(info->height, height);
  cv::Mat img = cv::imdecode(std::vector<uchar>(jpeg.begin(), jpeg.end()), cv::IMREAD_COLOR);
  ASSERT_FALSE(img.empty());
  EXPECT_EQ(img.cols, width);
  EXPECT_EQ(img.rows, height);
}

TEST(AvSource, DecodesLavfiScaledToTheSizeAndEnds) {
  AvInputOptions o;
  o.url = "testsrc2=size=320x240:rate=25:duration=1";
  o.format = "lavfi";
  o.size = {160, 120};
  o.pacing = Pacing::kOff;
  o.fps = 1000;
  std::atomic<bool> cancel{false};
  auto opened = open_av_source(o, cancel);
  ASSERT_EQ(opened.status, AvOpenStatus::kOk) << opened.message;
  auto frames = drain(*opened.source, std::chrono::seconds(20));
  ASSERT_TRUE(opened.source->exhausted());
  EXPECT_TRUE(opened.source->failure().empty()) << opened.source->failure();
  ASSERT_FALSE(frames.empty());
  for (const auto& f : frames) expect_jpeg_of_size(f, 160, 120);
}

TEST(AvSource, PacingReadsAtTheInputsOwnRate) {
  AvInputOptions o;
  o.url = "testsrc2=size=160x120:rate=20:duration=1";
  o.format = "lavfi";
  o.size = {160, 0};
  o.fps = 20;
  std::atomic<bool> cancel{false};
  auto started = Clock::now();
  auto opened = open_av_source(o, cancel);  // Pacing::kAuto: lavfi is paced
  ASSERT_EQ(opened.status, AvOpenStatus::kOk) << opened.message;
  auto frames = drain(*opened.source, std::chrono::seconds(20));
  auto took = Clock::now() - started;
  EXPECT_GE(took, std::chrono::milliseconds(800)) << "20 frames at 20 fps last about a second";
  EXPECT_GE(frames.size(), 8u) << "a sender taking every 50 ms gets most pictures";
  expect_jpeg_of_size(frames.back(), 160, 120);
}

bool have_ffmpeg() { return std::system("ffmpeg -hide_banner -version >/dev/null 2>&1") == 0; }

// Runs the ffmpeg CLI quietly with args, writing file; returns the command when it failed.
std::string ffmpeg_failed(const std::string& args, const fs::path& file) {
  std::string cmd = "ffmpeg -hide_banner -loglevel error " + args + " -y " + file.string();
  return std::system(cmd.c_str()) == 0 ? std::string() : cmd;
}

using ds::test::TempDir;

TEST(AvSource, DecodesAFileFfmpegWrote) {
  if (!have_ffmpeg()) GTEST_SKIP() << "no ffmpeg CLI (scripts/setup.sh --test installs it)";
  TempDir dir;
  auto file = dir.path() / "clip.mp4";
  ASSERT_EQ(ffmpeg_failed(
                "-f lavfi -i testsrc=size=320x180:rate=15 -t 1 -pix_fmt yuv420p -c:v mpeg4", file),
            "");
  AvInputOptions o;
  o.url = file.string();
  o.size = {128, 96};
  o.pacing = Pacing::kOff;
  o.fps = 1000;
  std::atomic<bool> cancel{false};
  auto opened = open_av_source(o, cancel);
  ASSERT_EQ(opened.status, AvOpenStatus::kOk) << opened.message;
  auto frames = drain(*opened.source, std::chrono::seconds(20));
  ASSERT_TRUE(opened.source->exhausted());
  EXPECT_TRUE(opened.source->failure().empty()) << opened.source->failure();
  ASSERT_FALSE(frames.empty());
  expect_jpeg_of_size(frames.back(), 128, 96);
}

TEST(AvSource, CorruptPacketsAreSkippedAndTheInputStillEndsNormally) {
  if (!have_ffmpeg()) GTEST_SKIP() << "no ffmpeg CLI (scripts/setup.sh --test installs it)";
  TempDir dir;
  auto file = dir.path() / "clip.ts";
  ASSERT_EQ(ffmpeg_failed("-f lavfi -i testsrc=size=320x240:rate=15 -t 2 -c:v libx264 -preset "
                          "ultrafast -g 5 -pix_fmt yuv420p -f mpegts",
                          file),
            "");
  // Scribble over the payload of a run of 188-byte TS packets in the middle (sync bytes and
  // headers stay, so the demuxer goes on and the decoder sees broken slices).
  std::string data;
  {
    std::ifstream in(file, std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::size_t packets = data.size() / 188;
  ASSERT_GT(packets, 40u);
  std::uint32_t seed = 12345;
  for (std::size_t k = packets / 2; k < packets / 2 + 12; ++k) {
    for (std::size_t i = 4; i < 188; ++i) {
      seed = seed * 1103515245 + 12345;
      data[k * 188 + i] = static_cast<char>(seed >> 24);
    }
  }
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << data;
  }
  AvInputOptions o;
  o.url = file.string();
  o.size = {160, 120};
  o.pacing = Pacing::kOff;
  o.fps = 1000;
  std::atomic<bool> cancel{false};
  auto opened = open_av_source(o, cancel);
  ASSERT_EQ(opened.status, AvOpenStatus::kOk) << opened.message;
  auto frames = drain(*opened.source, std::chrono::seconds(20));
  ASSERT_TRUE(opened.source->exhausted());
  EXPECT_TRUE(opened.source->failure().empty()) << opened.source->failure();
  ASSERT_GE(frames.size(), 2u);
  expect_jpeg_of_size(frames.back(), 160, 120);
}

TEST(AvSource, ALoopedFileStartsOverAtItsEnd) {
  if (!have_ffmpeg()) GTEST_SKIP() << "no ffmpeg CLI (scripts/setup.sh --test installs it)";
  TempDir dir;
  auto file = dir.path() / "short.mp4";
  ASSERT_EQ(
      ffmpeg_failed("-f lavfi -i testsrc=size=160x120:rate=20 -t 0.5 -pix_fmt yuv420p -c:v mpeg4",
                    file),
      "");
  AvInputOptions o;
  o.url = file.string();
  o.size = {160, 120};
  o.fps = 20;
  o.loop = true;  // paced (a file): 0.5 s a round
  std::atomic<bool> cancel{false};
  auto opened = open_av_source(o, cancel);
  ASSERT_EQ(opened.status, AvOpenStatus::kOk) << opened.message;
  auto frames = drain(*opened.source, std::chrono::seconds(2));
  EXPECT_FALSE(opened.source->exhausted()) << opened.source->failure();
  EXPECT_GE(frames.size(), 20u) << "a 10-frame file looped for 2 s";
}

TEST(AvSource, AFileWithoutVideoIsAClearError) {
  if (!have_ffmpeg()) GTEST_SKIP() << "no ffmpeg CLI (scripts/setup.sh --test installs it)";
  TempDir dir;
  auto file = dir.path() / "tone.wav";
  ASSERT_EQ(ffmpeg_failed("-f lavfi -i sine=duration=0.3", file), "");
  AvInputOptions o;
  o.url = file.string();
  std::atomic<bool> cancel{false};
  auto opened = open_av_source(o, cancel);
  EXPECT_EQ(opened.status, AvOpenStatus::kFailed);
  EXPECT_NE(opened.message.find("no video stream"), std::string::npos) << opened.message;
}

TEST(AvSource, MissingFilesAndUnknownFormatsAreClearErrors) {
  std::atomic<bool> cancel{false};
  AvInputOptions o;
  o.url = "/nonexistent/clip.mp4";
  auto opened = open_av_source(o, cancel);
  EXPECT_EQ(opened.status, AvOpenStatus::kFailed);
  EXPECT_NE(opened.message.find("cannot open /nonexistent/clip.mp4"), std::string::npos)
      << opened.message;
  EXPECT_NE(opened.message.find("No such file"), std::string::npos) << opened.message;

  o.format = "no_such_demuxer";
  opened = open_av_source(o, cancel);
  EXPECT_EQ(opened.status, AvOpenStatus::kBadUsage);
  EXPECT_NE(opened.message.find("no_such_demuxer"), std::string::npos) << opened.message;
}

TEST(AvSource, AWaitingListenerGivesUpWhenCancelled) {
  AvInputOptions o;
  o.url = "rtmp://127.0.0.1:" + std::to_string(ds::test::free_port()) + "/live";
  o.listen = true;
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel = true;
  });
  auto started = Clock::now();
  auto opened = open_av_source(o, cancel);
  canceller.join();
  EXPECT_EQ(opened.status, AvOpenStatus::kCancelled) << opened.message;
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(3));
}

TEST(AvSource, DestroyingAPacedSourceStopsItsThreadAtOnce) {
  AvInputOptions o;
  o.url = "testsrc2=size=160x120:rate=5";  // endless
  o.format = "lavfi";
  o.size = {160, 120};
  std::atomic<bool> cancel{false};
  auto opened = open_av_source(o, cancel);
  ASSERT_EQ(opened.status, AvOpenStatus::kOk) << opened.message;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(opened.source->exhausted());
  auto started = Clock::now();
  opened.source.reset();
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(1));
}

constexpr const char* kSecret = "unit-test-secret-0123456789";

using ds::test::free_port;

// Connects to 127.0.0.1:port (retrying while nothing listens), sends nothing, and returns how
// long after connecting the other side closed (or `limit` when it did not).
Clock::duration silent_peer(int port, std::chrono::seconds limit) {
  auto give_up = Clock::now() + limit;
  while (Clock::now() < give_up) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    auto connected = Clock::now();
    timeval tv{static_cast<time_t>(limit.count()), 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char byte;
    while (::recv(fd, &byte, 1, 0) > 0) {
    }  // the server's half of a handshake, if any, then the close
    auto took = Clock::now() - connected;
    ::close(fd);
    return took;
  }
  return limit;
}

TEST(AvSourceListen, ASilentPeerIsDroppedAfterTheHandshakeTimeoutNotBefore) {
  int port = free_port();
  AvInputOptions o;
  o.url = "rtmp://127.0.0.1:" + std::to_string(port) + "/live";
  o.listen = true;
  o.handshake_timeout = std::chrono::milliseconds(300);
  std::atomic<bool> cancel{false};
  Clock::duration held{};
  std::thread peer([&] {
    // Waiting for a publisher is not timed: nobody connects for 800 ms.
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    held = silent_peer(port, std::chrono::seconds(5));
  });
  auto started = Clock::now();
  auto opened = open_av_source(o, cancel);
  auto took = Clock::now() - started;
  peer.join();
  EXPECT_EQ(opened.status, AvOpenStatus::kPublisherDropped) << opened.message;
  EXPECT_NE(opened.message.find("no picture within 300 ms"), std::string::npos) << opened.message;
  EXPECT_GE(took, std::chrono::milliseconds(1000));
  EXPECT_GE(held, std::chrono::milliseconds(250));
  EXPECT_LT(held, std::chrono::seconds(2)) << "the silent peer is closed soon after the timeout";
}

TEST(AvSourceListen, AWrongRtmpStreamNameIsDroppedAndTheSecretGetsIn) {
  if (!have_ffmpeg()) GTEST_SKIP() << "no ffmpeg CLI (scripts/setup.sh --test installs it)";
  std::string base = "rtmp://127.0.0.1:" + std::to_string(free_port()) + "/live";
  AvInputOptions o;
  o.url = base;
  o.listen = true;
  o.publish_secret = kSecret;
  o.size = {160, 120};
  o.pacing = Pacing::kOff;
  o.fps = 1000;
  std::atomic<bool> cancel{false};
  {
    testing::RtmpPublisher wrong(base + "/not-the-secret-0123", 5);
    auto opened = open_av_source(o, cancel);
    EXPECT_EQ(opened.status, AvOpenStatus::kPublisherDropped) << opened.message;
    EXPECT_NE(opened.message.find("wrong stream name"), std::string::npos) << opened.message;
  }
  testing::RtmpPublisher right(base + "/" + kSecret, 2);
  auto opened = open_av_source(o, cancel);
  ASSERT_EQ(opened.status, AvOpenStatus::kOk) << opened.message;
  auto frames = drain(*opened.source, std::chrono::seconds(20));
  ASSERT_TRUE(opened.source->exhausted());
  EXPECT_TRUE(opened.source->failure().empty())
      << "a publisher leaving is not a failure: " << opened.source->failure();
  ASSERT_FALSE(frames.empty());
  expect_jpeg_of_size(frames.back(), 160, 120);
}

TEST(AvSourceListen, OffLoopbackWithoutASecretIsRefusedBeforeListening) {
  AvInputOptions o;
  o.url = "rtmp://0.0.0.0:" + std::to_string(free_port()) + "/live";
  o.listen = true;
  std::atomic<bool> cancel{false};
  auto started = Clock::now();
  auto opened = open_av_source(o, cancel);
  EXPECT_EQ(opened.status, AvOpenStatus::kBadUsage);
  EXPECT_NE(opened.message.find("--publish-secret"), std::string::npos) << opened.message;
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(1));
}

}  // namespace
}  // namespace ds::worker
