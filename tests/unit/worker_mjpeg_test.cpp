// Splitting an MJPEG byte stream (ffmpeg -f mjpeg -) into frames, whatever the chunking.
#include <gtest/gtest.h>

#include "domain/jpeg.hpp"
#include "worker/mjpeg_splitter.hpp"
#include "worker_test_images.hpp"

namespace ds::worker {
namespace {

using testing::encode_jpeg;
using testing::test_scene;

std::vector<std::string> three_frames() {
  return {encode_jpeg(test_scene(64, 48, 1)), encode_jpeg(test_scene(80, 60, 2)),
          encode_jpeg(test_scene(32, 32, 3), 50)};
}

std::vector<std::string> split_in_chunks(const std::string& stream, std::size_t chunk,
                                         MjpegSplitter& splitter) {
  std::vector<std::string> frames;
  for (std::size_t i = 0; i < stream.size(); i += chunk) {
    for (auto& f : splitter.feed(std::string_view(stream).substr(i, chunk))) {
      frames.push_back(std::move(f));
    }
  }
  return frames;
}

// A JPEG whose APP1 segment carries a whole thumbnail JPEG (as EXIF does), with its own
// SOI and EOI markers inside the outer frame.
std::string jpeg_with_thumbnail() {
  std::string outer = encode_jpeg(test_scene(64, 48));
  std::string thumb = encode_jpeg(test_scene(16, 12));
  std::string payload = std::string("Exif\0\0", 6) + thumb;
  std::size_t length = payload.size() + 2;
  std::string app1 = "\xFF\xE1";
  app1 += static_cast<char>(length >> 8);
  app1 += static_cast<char>(length & 0xFF);
  app1 += payload;
  return outer.substr(0, 2) + app1 + outer.substr(2);
}

TEST(MjpegSplitter, SplitsConcatenatedFramesWhateverTheChunkSize) {
  auto frames = three_frames();
  std::string stream = frames[0] + frames[1] + frames[2];
  for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7},
                            std::size_t{100}, std::size_t{4096}, stream.size()}) {
    SCOPED_TRACE(chunk);
    MjpegSplitter splitter;
    auto out = split_in_chunks(stream, chunk, splitter);
    ASSERT_EQ(out.size(), 3u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(out[i], frames[i]);
    EXPECT_EQ(splitter.skipped_bytes(), 0u);
    EXPECT_EQ(splitter.pending_bytes(), 0u);
  }
}

TEST(MjpegSplitter, SkipsBytesBetweenFrames) {
  auto frames = three_frames();
  std::string junk1 = "--boundary\r\nContent-Type: image/jpeg\r\n\r\n";
  std::string junk2 = std::string("\xFF\x00\xFF", 3) + "garbage\r\n";
  std::string stream = junk1 + frames[0] + junk2 + frames[1] + "\r\n" + junk1 + frames[2];
  for (std::size_t chunk : {std::size_t{1}, std::size_t{5}, std::size_t{1000}}) {
    MjpegSplitter splitter;
    auto out = split_in_chunks(stream, chunk, splitter);
    ASSERT_EQ(out.size(), 3u) << chunk;
    for (int i = 0; i < 3; ++i) EXPECT_EQ(out[i], frames[i]);
    EXPECT_EQ(splitter.skipped_bytes(), junk1.size() * 2 + junk2.size() + 2);
  }
}

TEST(MjpegSplitter, AThumbnailInsideAFrameDoesNotEndIt) {
  std::string frame = jpeg_with_thumbnail();
  ASSERT_TRUE(domain::validate_jpeg(frame, {}).ok());
  std::string stream = frame + frame;
  for (std::size_t chunk : {std::size_t{1}, std::size_t{64}, stream.size()}) {
    MjpegSplitter splitter;
    auto out = split_in_chunks(stream, chunk, splitter);
    ASSERT_EQ(out.size(), 2u) << chunk;
    EXPECT_EQ(out[0], frame);
    EXPECT_EQ(out[1], frame);
  }
}

TEST(MjpegSplitter, HoldsAnUnfinishedFrameUntilItsEnd) {
  auto frames = three_frames();
  MjpegSplitter splitter;
  EXPECT_TRUE(splitter.feed(std::string_view(frames[0]).substr(0, 100)).empty());
  EXPECT_EQ(splitter.pending_bytes(), 100u);
  auto out = splitter.feed(std::string_view(frames[0]).substr(100));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], frames[0]);
}

TEST(MjpegSplitter, AbandonsACutFrameAndResynchronisesOnTheNextOne) {
  auto frames = three_frames();
  // The first frame is cut in its headers (a camera restart); the next SOI starts over.
  std::string stream = frames[0].substr(0, 30) + frames[1] + frames[2];
  MjpegSplitter splitter;
  auto out = split_in_chunks(stream, 13, splitter);
  ASSERT_GE(out.size(), 1u);
  EXPECT_EQ(out.back(), frames[2]);
  for (const auto& f : out) EXPECT_TRUE(domain::validate_jpeg(f, {}).ok());
}

TEST(MjpegSplitter, OversizedFramesAreDroppedAndMemoryStaysBounded) {
  auto frames = three_frames();
  // A frame header followed by an endless scan: never ends, must not grow without bound.
  std::string sos_start = frames[0].substr(0, frames[0].find("\xFF\xDA") + 2);
  MjpegSplitter splitter(4096);
  std::string noise(1000, 'a');
  splitter.feed(sos_start);
  for (int i = 0; i < 100; ++i) {
    splitter.feed(noise);
    EXPECT_LE(splitter.pending_bytes(), 4096u + noise.size());
  }
  auto out = splitter.feed(frames[2]);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], frames[2]);
  EXPECT_GT(splitter.skipped_bytes(), 90'000u);
}

// Found by fuzzing (tests/fuzz/mjpeg_splitter.cpp): fill bytes (FF) between segments were not
// held to the cap, so an endless run of them grew the buffer without bound, and a short run
// let an oversized frame through.
TEST(MjpegSplitter, FillBytesCannotGrowAFramePastTheCap) {
  auto frames = three_frames();
  MjpegSplitter splitter(4096);
  std::string fill(1000, '\xFF');
  splitter.feed(frames[0].substr(0, 2));  // SOI, then nothing but fill bytes
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(splitter.feed(fill).empty());
    EXPECT_LE(splitter.pending_bytes(), 4096u + fill.size());
  }
  auto out = splitter.feed(frames[2]);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], frames[2]);

  MjpegSplitter small(64);
  std::string padded = "\xFF\xD8" + std::string(100, '\xFF') + "\xD9";
  EXPECT_TRUE(small.feed(padded).empty());
}

// Found by fuzzing: a scan that ran past the cap without meeting an FF was only dropped on the
// next feed, so one large feed could leave more than the cap pending (and the outcome depended
// on the chunking).
TEST(MjpegSplitter, TheCapHoldsWithinASingleFeed) {
  auto frames = three_frames();
  // Everything up to the end of the start-of-scan header, then scan data with no FF in it.
  auto sos = frames[0].find("\xFF\xDA");
  std::size_t sos_length = (std::size_t{static_cast<unsigned char>(frames[0][sos + 2])} << 8) |
                           static_cast<unsigned char>(frames[0][sos + 3]);
  std::string scan = frames[0].substr(0, sos + 2 + sos_length) + std::string(10'000, 'a');
  MjpegSplitter whole(4096);
  EXPECT_TRUE(whole.feed(scan).empty());
  EXPECT_LE(whole.pending_bytes(), 4096u + 2);
  MjpegSplitter chunked(4096);
  split_in_chunks(scan, 1000, chunked);
  EXPECT_EQ(whole.skipped_bytes(), chunked.skipped_bytes());
  EXPECT_EQ(whole.pending_bytes(), chunked.pending_bytes());
}

TEST(MjpegSplitter, GarbageAloneYieldsNothing) {
  MjpegSplitter splitter;
  std::string garbage(10000, '\xFF');
  EXPECT_TRUE(splitter.feed(garbage).empty());
  EXPECT_LE(splitter.pending_bytes(), 1u);
  EXPECT_TRUE(splitter.feed("no jpeg here at all").empty());
}

}  // namespace
}  // namespace ds::worker
