// video::fmp4 and video::HlsSegmenter: the init segment's and fragments' boxes, segments cut
// at keyframes made of parts no longer than their target, the bounded window, the playlist's
// text for given segments and parts, and the media read back by the real ffprobe.
#include "video/hls_segmenter.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "video/fmp4.hpp"
#include "video/h264_encoder.hpp"
#include "video/hls_playlist.hpp"
#include "video_pictures.hpp"

namespace ds::video {
namespace {

using testing::moving_jpeg;
namespace fs = std::filesystem;

constexpr std::int64_t kEpochMs = 1'765'000'000'000;

std::uint32_t be32(std::string_view s, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(s[at + i]);
  return v;
}

struct Box {
  std::string type;
  std::string_view payload;
};

// The boxes one after another in `s`; a box whose size runs past the end fails the test.
std::vector<Box> boxes(std::string_view s) {
  std::vector<Box> out;
  std::size_t at = 0;
  while (at + 8 <= s.size()) {
    auto size = be32(s, at);
    EXPECT_GE(size, 8u);
    EXPECT_LE(at + size, s.size());
    if (size < 8 || at + size > s.size()) break;
    out.push_back({std::string(s.substr(at + 4, 4)), s.substr(at + 8, size - 8)});
    at += size;
  }
  EXPECT_EQ(at, s.size());
  return out;
}

std::string_view child(std::string_view s, std::string_view type, std::size_t skip = 0) {
  for (const auto& b : boxes(s.substr(skip))) {
    if (b.type == type) return b.payload;
  }
  ADD_FAILURE() << "no " << type;
  return {};
}

// Units from the real encoder: `count` pictures `step_ms` apart, keyframes every 2 s.
std::vector<AccessUnit> encode(int count, std::int64_t step_ms, int w = 160, int h = 120) {
  H264Encoder enc([] {
    EncoderSettings s;
    s.preset = "ultrafast";
    return s;
  }());
  std::vector<AccessUnit> out;
  for (int i = 0; i < count; ++i) {
    auto u = enc.encode_jpeg(moving_jpeg(i, w, h), kEpochMs + i * step_ms);
    EXPECT_TRUE(u.ok());
    if (u.ok()) out.push_back(*u);
  }
  return out;
}

// A made-up unit with a parameter set on keyframes, for the pure rules.
AccessUnit unit(std::int64_t pts, bool key, int w = 160) {
  static const std::string sps("\x00\x00\x00\x01\x67\x64\x00\x1e\xac\xd9", 10);
  static const std::string pps("\x00\x00\x00\x01\x68\xeb\xe3\xcb", 8);
  AccessUnit u;
  u.pts_ms = pts;
  u.keyframe = key;
  u.config = key;
  u.width = w;
  u.height = 120;
  if (key)
    u.data = sps + pps + std::string("\x00\x00\x00\x01\x65\x88\x84", 7);
  else
    u.data = std::string("\x00\x00\x00\x01\x41\x9a\x02", 7);
  if (key && w != 160) u.data[9] = static_cast<char>(w);  // another SPS for another size
  return u;
}

TEST(Fmp4, InitSegmentHasFtypAndMoovWithTheAvcC) {
  auto units = encode(1, 40);
  auto config = fmp4::track_config(units[0].data, 160, 120);
  ASSERT_TRUE(config);
  auto init = fmp4::init_segment(*config);
  auto top = boxes(init);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].type, "ftyp");
  EXPECT_EQ(top[1].type, "moov");
  auto trak = child(top[1].payload, "trak");
  auto tkhd = child(trak, "tkhd");
  EXPECT_EQ(be32(tkhd, 76) >> 16, 160u);
  EXPECT_EQ(be32(tkhd, 80) >> 16, 120u);
  auto mdhd = child(child(trak, "mdia"), "mdhd");
  EXPECT_EQ(be32(mdhd, 12), fmp4::kTimescale);
  auto stsd = child(child(child(child(trak, "mdia"), "minf"), "stbl"), "stsd");
  auto avc1 = child(stsd, "avc1", 8);
  auto avcc = child(avc1, "avcC", 78);
  EXPECT_EQ(avcc, fmp4::avcc_record(*config));
  EXPECT_EQ(avcc[0], 1);
  EXPECT_EQ(avcc.substr(1, 3), config->sps.substr(1, 3));  // profile, constraints, level
  child(top[1].payload, "mvex");
}

TEST(Fmp4, SampleIsLengthPrefixedWithoutParameterSets) {
  auto u = unit(0, true);
  auto s = fmp4::sample_from_annexb(u.data);
  ASSERT_EQ(s.size(), 4u + 3u);  // only the IDR slice
  EXPECT_EQ(be32(s, 0), 3u);
  EXPECT_EQ(static_cast<std::uint8_t>(s[4]) & 0x1F, 5);
  EXPECT_TRUE(fmp4::sample_from_annexb("no start code").empty());
}

TEST(Fmp4, FragmentDataOffsetPointsAtTheSamplesInMdat) {
  std::string a = "\x00\x00\x00\x01\x65", b = std::string("\x00\x00\x00\x02\x41\x42", 6);
  auto f = fmp4::fragment(7, 123456, {{a, 3000, true}, {b, 3600, false}});
  auto top = boxes(f);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].type, "moof");
  EXPECT_EQ(top[1].type, "mdat");
  EXPECT_EQ(top[1].payload, a + b);
  EXPECT_EQ(be32(child(top[0].payload, "mfhd"), 4), 7u);
  auto traf = child(top[0].payload, "traf");
  auto tfdt = child(traf, "tfdt");
  EXPECT_EQ(tfdt[0], 1);  // version 1: 64-bit time
  EXPECT_EQ(be32(tfdt, 8), 123456u);
  auto trun = child(traf, "trun");
  EXPECT_EQ(be32(trun, 4), 2u);
  auto offset = be32(trun, 8);
  EXPECT_EQ(offset, top[0].payload.size() + 8 + 8);  // moof's size + mdat's header
  EXPECT_EQ(f.substr(offset, a.size() + b.size()), a + b);
  EXPECT_EQ(be32(trun, 12), 3000u);
  EXPECT_EQ(be32(trun, 16), a.size());
  EXPECT_EQ(be32(trun, 20), 0x02000000u);  // a sync sample
  EXPECT_EQ(be32(trun, 24), 3600u);
  EXPECT_EQ(be32(trun, 32), 0x01010000u);  // not one
}

TEST(HlsSegmenter, CutsSegmentsAtKeyframesAndPartsAtTheirTarget) {
  HlsConfig c;
  c.part_target_ms = 500;
  HlsSegmenter s(c, 0, 1000);
  // 10 pictures a second, a keyframe every 2 s.
  for (int i = 0; i <= 40; ++i) s.push(unit(1000 + i * 100, i % 20 == 0));
  ASSERT_EQ(s.segments().size(), 3u);
  const auto& first = s.segments()[0];
  EXPECT_TRUE(first.complete);
  EXPECT_EQ(first.msn, 0);
  EXPECT_EQ(first.duration, 2 * fmp4::kTimescale);
  EXPECT_EQ(first.start_ms, 1000);
  ASSERT_EQ(first.parts.size(), 4u);
  for (std::size_t i = 0; i < first.parts.size(); ++i) {
    EXPECT_EQ(first.parts[i].duration, fmp4::kTimescale / 2);
    EXPECT_EQ(first.parts[i].independent, i == 0);
  }
  std::string whole;
  for (const auto& p : first.parts) whole += *p.bytes;
  EXPECT_EQ(*first.bytes, whole);
  EXPECT_TRUE(s.segments()[1].complete);
  // The third has begun with its keyframe, which waits for the next picture to know its
  // duration: no part yet.
  EXPECT_FALSE(s.segments()[2].complete);
  EXPECT_TRUE(s.segments()[2].parts.empty());
  EXPECT_EQ(s.next_part(), std::make_pair(std::int64_t{2}, 0));
  EXPECT_TRUE(s.has_part(1, 3));
  EXPECT_FALSE(s.has_part(1, 4));  // past segment 1's last part: segment 2's first, not yet
  EXPECT_FALSE(s.has_part(2, 0));
  EXPECT_TRUE(s.has_segment(1));
  EXPECT_FALSE(s.has_segment(2));
  EXPECT_EQ(s.target_duration_s(), 2);
}

TEST(HlsSegmenter, PartIsPublishedWhenItsLastPictureIsFollowed) {
  HlsConfig c;
  c.part_target_ms = 300;
  HlsSegmenter s(c, 5, 0);
  EXPECT_FALSE(s.push(unit(0, false)));  // nothing before a keyframe
  EXPECT_TRUE(s.segments().empty());
  EXPECT_TRUE(s.push(unit(0, true)));  // the segment opens: the hint moves
  EXPECT_FALSE(s.push(unit(100, false)));
  EXPECT_FALSE(s.push(unit(200, false)));
  EXPECT_TRUE(s.push(unit(300, false)));  // 0..300 is whole
  ASSERT_EQ(s.segments().size(), 1u);
  EXPECT_EQ(s.segments()[0].msn, 5);
  EXPECT_EQ(s.segments()[0].parts.size(), 1u);
  EXPECT_FALSE(s.push(unit(300, false)));  // not rising: ignored
  // A slow picture goes into a part of its own rather than stretch the one before.
  EXPECT_FALSE(s.push(unit(400, false)));
  EXPECT_TRUE(s.push(unit(1400, false)));
  ASSERT_EQ(s.segments()[0].parts.size(), 3u);
  EXPECT_EQ(s.segments()[0].parts[1].duration, 100 * 90);
  EXPECT_EQ(s.segments()[0].parts[2].duration, 1000 * 90);
  // No part may be longer than the playlist's PART-TARGET: it grows to the slow one.
  EXPECT_EQ(s.part_target(), 1000 * 90);
  auto text = render_playlist(s, "");
  EXPECT_NE(text.find("#EXT-X-PART-INF:PART-TARGET=1.000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("PART-HOLD-BACK=3.000\n"), std::string::npos) << text;
}

TEST(HlsSegmenter, KeepsABoundedWindowAndPartsOnlyAtTheLiveEdge) {
  HlsConfig c;
  c.window_segments = 3;
  c.part_segments = 2;
  HlsSegmenter s(c, 0, 0);
  for (int i = 0; i <= 200; ++i) s.push(unit(i * 100, i % 20 == 0));  // 10 segments
  ASSERT_EQ(s.segments().size(), 4u);  // 3 complete and the one begun
  EXPECT_EQ(s.segments().front().msn, 7);
  EXPECT_FALSE(s.segments()[0].parts[0].bytes);  // parts let go
  EXPECT_TRUE(s.segments()[0].bytes);
  EXPECT_TRUE(s.segments()[2].parts[0].bytes);
  EXPECT_TRUE(s.has_part(3, 0));  // before the window
  EXPECT_TRUE(s.init(0));         // still the init of every segment
  EXPECT_LT(s.bytes(), 10'000u);
}

TEST(HlsSegmenter, ANewSizeStartsASegmentWithItsOwnInit) {
  HlsSegmenter s({}, 0, 0);
  for (int i = 0; i < 5; ++i) s.push(unit(i * 100, i == 0));
  s.push(unit(500, true, 320));  // a new encoder for the new size: keyframe with a new SPS
  s.push(unit(600, false, 320));
  ASSERT_EQ(s.segments().size(), 2u);
  EXPECT_TRUE(s.segments()[0].complete);  // cut although shorter than min_segment_ms
  EXPECT_EQ(s.segments()[1].init_msn, 1);
  EXPECT_TRUE(s.segments()[1].discontinuity);
  EXPECT_TRUE(s.init(0));
  EXPECT_TRUE(s.init(1));
  auto text = render_playlist(s, "");
  EXPECT_NE(text.find("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\""), std::string::npos)
      << text;
}

TEST(HlsSegmenter, FinishClosesTheLastPartAndSegment) {
  HlsSegmenter s({}, 0, 0);
  for (int i = 0; i < 7; ++i) s.push(unit(i * 100, i == 0));
  EXPECT_TRUE(s.finish());
  ASSERT_EQ(s.segments().size(), 1u);
  EXPECT_TRUE(s.segments()[0].complete);
  EXPECT_EQ(s.segments()[0].duration, 700 * 90);  // the last picture lasts as the one before
  EXPECT_TRUE(s.ended());
  EXPECT_FALSE(s.push(unit(800, true)));
}

TEST(HlsPlaylist, TextForGivenSegmentsAndParts) {
  HlsConfig c;
  c.part_target_ms = 500;
  HlsSegmenter s(c, 0, kEpochMs);
  for (int i = 0; i <= 27; ++i) s.push(unit(kEpochMs + i * 100, i % 20 == 0));
  auto text = render_playlist(s, "hls/42/");
  EXPECT_EQ(text,
            "#EXTM3U\n"
            "#EXT-X-VERSION:9\n"
            "#EXT-X-TARGETDURATION:2\n"
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500\n"
            "#EXT-X-PART-INF:PART-TARGET=0.500\n"
            "#EXT-X-MEDIA-SEQUENCE:0\n"
            "#EXT-X-MAP:URI=\"hls/42/init-0.mp4\"\n"
            "#EXT-X-PROGRAM-DATE-TIME:2025-12-06T05:46:40.000Z\n"
            "#EXT-X-PART:DURATION=0.500,URI=\"hls/42/0.0.m4s\",INDEPENDENT=YES\n"
            "#EXT-X-PART:DURATION=0.500,URI=\"hls/42/0.1.m4s\"\n"
            "#EXT-X-PART:DURATION=0.500,URI=\"hls/42/0.2.m4s\"\n"
            "#EXT-X-PART:DURATION=0.500,URI=\"hls/42/0.3.m4s\"\n"
            "#EXTINF:2.000,\n"
            "hls/42/0.m4s\n"
            "#EXT-X-PROGRAM-DATE-TIME:2025-12-06T05:46:42.000Z\n"
            "#EXT-X-PART:DURATION=0.500,URI=\"hls/42/1.0.m4s\",INDEPENDENT=YES\n"
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"hls/42/1.1.m4s\"\n");
  s.finish();
  auto ended = render_playlist(s, "hls/42/");
  EXPECT_NE(ended.find("#EXTINF:0.800,\nhls/42/1.m4s\n#EXT-X-ENDLIST\n"), std::string::npos)
      << ended;
  EXPECT_EQ(ended.find("PRELOAD-HINT"), std::string::npos);
}

bool have_ffprobe() { return std::system("ffprobe -hide_banner -version >/dev/null 2>&1") == 0; }

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[65536];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  pclose(p);
  return out;
}

// An outside reader: the playlist with its init and segments, written out as files, is read by
// the real ffprobe as H.264 at the pictures' size, every picture there, at their timestamps.
TEST(HlsSegmenter, FfprobeReadsThePlaylistAndItsSegments) {
  if (!have_ffprobe()) GTEST_SKIP() << "no ffprobe CLI (scripts/setup.sh --test installs it)";
  auto units = encode(60, 100, 320, 240);  // 6 s at 10 pictures a second
  HlsSegmenter s({}, 0, kEpochMs);
  for (const auto& u : units) s.push(u);
  s.finish();
  fs::path dir = fs::temp_directory_path() / ("ds_hls_" + std::to_string(::getpid()));
  fs::create_directories(dir / "m");
  auto write = [&](const fs::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  };
  write(dir / "live.m3u8", render_playlist(s, "m/"));
  write(dir / "m" / "init-0.mp4", *s.init(0));
  for (const auto& seg : s.segments()) {
    write(dir / "m" / (std::to_string(seg.msn) + ".m4s"), *seg.bytes);
  }
  auto streams = run("ffprobe -v error -show_entries stream=codec_name,width,height -of csv=p=0 " +
                     (dir / "live.m3u8").string());
  auto frames =
      run("ffprobe -v error -select_streams v -count_frames -show_entries "
          "stream=nb_read_frames -of csv=p=0 " +
          (dir / "live.m3u8").string());
  fs::remove_all(dir);
  // The HLS demuxer lists the stream once more under its program.
  EXPECT_EQ(streams.substr(0, streams.find('\n')), "h264,320,240") << streams;
  EXPECT_EQ(frames.substr(0, frames.find('\n')), "60") << frames;
}

}  // namespace
}  // namespace ds::video
