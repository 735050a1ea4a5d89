// live::VideoHub: one encoder per stream with video viewers on this node, started by the first,
// stopped (its GOP let go of) by the last leaving and by the stream's end; joiners get the GOP
// so far, decode-only but for its newest unit; every unit carries its wire header. And the hub
// hands its shown pictures (and stream ends) to its picture tap.
#include "live/video_hub.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "fake_peer.hpp"
#include "live/hub.hpp"
#include "test_support.hpp"
#include "video_pictures.hpp"

using namespace ds;
using namespace ds::live;

namespace {

using test::FakePeer;
using test::job_id;
using video::testing::moving_jpeg;

// A viewer socket that takes video: what start_video and send_video gave it.
struct VideoPeer : FakePeer {
  std::mutex m;
  bool started = false;
  std::vector<video::Delivery> got;
  void start_video(std::vector<video::Delivery> gop) override {
    std::lock_guard lock(m);
    started = true;
    got = std::move(gop);
  }
  void send_video(const video::UnitPtr& unit) override {
    std::lock_guard lock(m);
    got.push_back({unit, false});
  }
  std::vector<video::Delivery> units() {
    std::lock_guard lock(m);
    return got;
  }
};

VideoHubConfig config() {
  VideoHubConfig c;
  c.encoder.preset = "ultrafast";
  return c;
}

Bytes picture(int i) { return make_bytes(moving_jpeg(i, 160, 120)); }

void show(VideoHub& v, const std::string& name, long long session, int i, std::int64_t ms) {
  Bytes jpeg = picture(i);
  v.picture({name, session, static_cast<std::uint64_t>(i + 1), ms, ms + 40, jpeg});
  v.wait_idle();
}

nlohmann::json header(const video::Delivery& d) {
  return nlohmann::json::parse(d.decode_only ? *d.unit->header_decode_only : *d.unit->header);
}

}  // namespace

TEST(VideoHub, TheFirstVideoViewerStartsTheEncoderAndTheLastLeavingStopsItAndFreesTheGop) {
  VideoHub v(config());
  Bytes jpeg = picture(0);
  // Nobody watches video: pictures are not encoded.
  v.picture({"alice", 1, 1, 1000, 1040, jpeg});
  v.wait_idle();
  EXPECT_EQ(v.encoders(), 0u);
  EXPECT_FALSE(v.stream("alice"));

  auto a = std::make_shared<VideoPeer>();
  auto b = std::make_shared<VideoPeer>();
  v.add_viewer("alice", a);
  EXPECT_EQ(v.encoders(), 1u);
  EXPECT_TRUE(a->started);
  v.add_viewer("alice", b);
  EXPECT_EQ(v.encoders(), 1u);  // one per stream, never per viewer
  for (int i = 0; i < 3; ++i) show(v, "alice", 1, i, 2000 + i * 100);
  ASSERT_EQ(a->units().size(), 3u);
  ASSERT_EQ(b->units().size(), 3u);
  EXPECT_EQ(a->units()[1].unit, b->units()[1].unit);  // encoded once, shared
  auto s = v.stream("alice");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->viewers, 2);
  EXPECT_EQ(s->gop_units, 3u);
  EXPECT_GT(s->gop_bytes, 0u);

  v.remove_viewer("alice", a.get());
  EXPECT_EQ(v.encoders(), 1u);
  v.remove_viewer("alice", b.get());
  EXPECT_EQ(v.encoders(), 0u);
  EXPECT_FALSE(v.stream("alice"));  // its GOP went with it
  show(v, "alice", 1, 3, 2300);
  EXPECT_EQ(b->units().size(), 3u);
}

TEST(VideoHub, TheStreamEndingStopsTheEncoderAndFreesTheGopAndTheNextSessionStartsAtAKeyframe) {
  VideoHub v(config());
  auto a = std::make_shared<VideoPeer>();
  v.add_viewer("alice", a);
  for (int i = 0; i < 3; ++i) show(v, "alice", 1, i, 1000 + i * 100);
  ASSERT_EQ(v.stream("alice")->gop_units, 3u);

  v.stream_ended("alice");
  EXPECT_EQ(v.encoders(), 0u);
  auto s = v.stream("alice");
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->encoding);
  EXPECT_EQ(s->gop_units, 0u);
  EXPECT_EQ(s->gop_bytes, 0u);
  EXPECT_EQ(s->viewers, 1);  // the viewer stays for the next session

  // The next session's first picture opens a fresh encoder: a keyframe, whatever its time.
  show(v, "alice", 2, 10, 500);
  EXPECT_EQ(v.encoders(), 1u);
  auto units = a->units();
  ASSERT_EQ(units.size(), 4u);
  EXPECT_TRUE(units.back().unit->keyframe);
  EXPECT_EQ(header(units.back())["seq"], 11);

  // Many nodes: a follower sees a new session only through its pictures; it starts afresh too.
  show(v, "alice", 2, 11, 600);
  show(v, "alice", 3, 12, 50);
  units = a->units();
  ASSERT_EQ(units.size(), 6u);
  EXPECT_FALSE(units[4].unit->keyframe);
  EXPECT_TRUE(units[5].unit->keyframe);
  EXPECT_EQ(v.stream("alice")->gop_units, 1u);
}

TEST(VideoHub, AJoinerGetsTheGopSoFarDecodeOnlyButItsNewestUnit) {
  VideoHub v(config());
  auto a = std::make_shared<VideoPeer>();
  v.add_viewer("alice", a);
  for (int i = 0; i < 4; ++i) show(v, "alice", 1, i, 1000 + i * 100);
  auto late = std::make_shared<VideoPeer>();
  v.add_viewer("alice", late);
  auto got = late->units();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_TRUE(got[0].unit->keyframe);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].decode_only, i + 1 < got.size()) << i;
    EXPECT_EQ(got[i].unit, a->units()[i].unit);
    EXPECT_EQ(header(got[i])["decode_only"], got[i].decode_only);
  }
  show(v, "alice", 1, 4, 1400);
  got = late->units();
  ASSERT_EQ(got.size(), 5u);
  EXPECT_FALSE(got[4].decode_only);
}

TEST(VideoHub, UnitsCarryTheirWireHeaderWithThePicturesSeqAndTimes) {
  VideoHub v(config());
  auto a = std::make_shared<VideoPeer>();
  v.add_viewer("alice", a);
  show(v, "alice", 1, 0, 1000);
  // Two pictures captured in one millisecond: the second's timestamp is moved on by one, so
  // the encoder's stay rising.
  show(v, "alice", 1, 1, 1000);
  auto units = a->units();
  ASSERT_EQ(units.size(), 2u);
  auto key = header(units[0]);
  EXPECT_EQ(key["type"], "video");
  EXPECT_EQ(key["seq"], 1);
  EXPECT_EQ(key["key"], true);
  EXPECT_EQ(key["decode_only"], false);
  EXPECT_EQ(key["ts_ms"], 1000);
  EXPECT_EQ(key["captured_ms"], 1000);
  EXPECT_EQ(key["processed_ms"], 1040);
  EXPECT_EQ(key["width"], 160);
  EXPECT_EQ(key["height"], 120);
  EXPECT_TRUE(key["codec"].get<std::string>().starts_with("avc1."));
  auto delta = header(units[1]);
  EXPECT_EQ(delta["key"], false);
  EXPECT_EQ(delta["ts_ms"], 1001);
  EXPECT_EQ(delta["captured_ms"], 1000);
  EXPECT_FALSE(delta.contains("codec"));
  EXPECT_FALSE(delta.contains("width"));
  EXPECT_EQ(nlohmann::json::parse(*units[0].unit->header_decode_only)["decode_only"], true);
}

TEST(VideoHub, ReleasePeersLetsGoOfEveryViewerAndEncoder) {
  VideoHub v(config());
  auto a = std::make_shared<VideoPeer>();
  v.add_viewer("alice", a);
  v.add_viewer("bob", a);
  show(v, "alice", 1, 0, 1000);
  EXPECT_EQ(v.encoders(), 2u);
  v.release_peers();
  EXPECT_EQ(v.encoders(), 0u);
  EXPECT_EQ(a.use_count(), 1);  // no socket outlives the server through the video hub
  EXPECT_FALSE(v.stream("alice"));
}

namespace {

struct RecordingTap : PictureTap {
  std::vector<std::pair<std::string, std::uint64_t>> pictures;
  std::vector<std::string> ended;
  void picture(const ShownPicture& p) override { pictures.emplace_back(p.username, p.seq); }
  void stream_ended(const std::string& username) override { ended.push_back(username); }
};

}  // namespace

TEST(VideoHub, TheHubHandsItsShownPicturesAndStreamEndsToItsTap) {
  ManualClock clock;
  Hub hub(clock);
  RecordingTap tap;
  hub.set_picture_tap(&tap);
  hub.open_stream(test::stream(1, "alice"));
  auto w = std::make_shared<FakePeer>();
  auto wid = hub.add_worker(w, "w");
  hub.push_frame("alice", make_bytes("raw"));
  EXPECT_TRUE(tap.pictures.empty());
  hub.on_result(wid, job_id(w->last_job()["job_id"]), make_bytes("processed"), {});
  ASSERT_EQ(tap.pictures.size(), 1u);
  EXPECT_EQ(tap.pictures[0], std::make_pair(std::string("alice"), std::uint64_t{1}));
  hub.close_stream("alice", EndReason::kStopped, "");
  EXPECT_EQ(tap.ended, std::vector<std::string>{"alice"});
}

// HLS is a consumer of its own: a request starts the stream's encoder without any socket
// viewer, its units reach the HLS store (a segment once the next keyframe comes), and the
// encoder stops hls_keep_ms after the last request, letting the media go; the stream's end
// ends its playlist.
TEST(VideoHub, AnHlsRequestRunsTheEncoderUntilItsKeepRunsOut) {
  ManualClock clock;
  HlsStoreConfig hc;
  HlsStore hls(clock, hc);
  auto c = config();
  c.hls_keep_ms = 30'000;
  VideoHub v(c);
  v.set_hls(&hls);
  show(v, "alice", 1, 0, 1000);
  EXPECT_EQ(v.encoders(), 0u);  // nobody watches

  v.watch_hls("alice", 10'000);
  EXPECT_EQ(v.encoders(), 1u);
  ASSERT_TRUE(v.stream("alice"));
  EXPECT_TRUE(v.stream("alice")->hls);
  // 10 pictures a second for 2.2 s: the keyframe at 2 s closes the first segment.
  for (int i = 1; i <= 22; ++i) show(v, "alice", 1, i, 1000 + i * 100);
  auto p = hls.playlist("alice");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->session_id, 1);
  EXPECT_NE(p->text.find("hls/1/0.m4s"), std::string::npos) << p->text;

  v.watch_hls("alice", 20'000);  // asked again: kept longer
  v.tick(49'999);
  EXPECT_EQ(v.encoders(), 1u);
  v.tick(50'000);
  EXPECT_EQ(v.encoders(), 0u);
  EXPECT_FALSE(v.stream("alice"));
  EXPECT_FALSE(hls.playlist("alice"));  // let go
}

TEST(VideoHub, HlsAndSocketViewersShareOneEncoderAndAJoinerStartsFromTheGop) {
  ManualClock clock;
  HlsStore hls(clock, {});
  VideoHub v(config());
  v.set_hls(&hls);
  auto a = std::make_shared<VideoPeer>();
  v.add_viewer("alice", a);
  for (int i = 0; i < 5; ++i) show(v, "alice", 1, i, 1000 + i * 100);
  v.watch_hls("alice", 0);  // mid-GOP: the GOP so far goes to the segmenter at once
  for (int i = 5; i < 12; ++i) show(v, "alice", 1, i, 1000 + i * 100);
  EXPECT_EQ(v.encoders(), 1u);
  // The first part (0.5 s) is whole without waiting for a new keyframe.
  EXPECT_TRUE(hls.media("alice", 1, HlsStore::Media::kPart, 0, 0));
  v.tick(30'000);  // HLS gone: the socket viewer keeps the encoder
  EXPECT_EQ(v.encoders(), 1u);
  EXPECT_EQ(a->units().size(), 12u);
  EXPECT_FALSE(hls.playlist("alice"));  // let go
  // Back again: the GOP again, under the session's next number; the end closes it.
  v.watch_hls("alice", 30'000);
  v.stream_ended("alice");
  auto p = hls.playlist("alice");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->ended);
  EXPECT_NE(p->text.find("#EXT-X-MEDIA-SEQUENCE:1\n"), std::string::npos) << p->text;
  EXPECT_NE(p->text.find("#EXT-X-ENDLIST"), std::string::npos) << p->text;
}

namespace {

// What a recorder was given.
struct SinkLog final : RecordingSink {
  std::mutex m;
  std::vector<std::pair<long long, bool>> units;  // session, keyframe
  int ended = 0;
  void on_unit(const std::string&, long long session_id, const video::AccessUnit& u) override {
    std::lock_guard lock(m);
    units.emplace_back(session_id, u.keyframe);
  }
  void stream_ended(const std::string&) override {
    std::lock_guard lock(m);
    ++ended;
  }
  std::size_t count() {
    std::lock_guard lock(m);
    return units.size();
  }
};

}  // namespace

TEST(VideoHub, ARecordingRunsTheEncoderAndGetsItsSessionsUnitsUntilItIsSwitchedOff) {
  VideoHub v(config());
  SinkLog sink;
  v.set_recorder(&sink);
  show(v, "alice", 4, 0, 1000);  // nobody consumes it: not encoded
  EXPECT_EQ(v.encoders(), 0u);
  v.record("alice", 4, true);
  EXPECT_EQ(v.encoders(), 1u);
  EXPECT_EQ(v.stream("alice")->recording, 4);
  for (int i = 1; i < 4; ++i) show(v, "alice", 4, i, 1000 + i * 100);
  ASSERT_EQ(sink.count(), 3u);
  EXPECT_EQ(sink.units[0], std::make_pair(4LL, true));  // from a keyframe
  // Switched off for another session: nothing changes; for its own: the encoder stops.
  v.record("alice", 5, false);
  EXPECT_EQ(v.encoders(), 1u);
  v.record("alice", 4, false);
  EXPECT_EQ(v.encoders(), 0u);
  EXPECT_FALSE(v.stream("alice"));
  show(v, "alice", 4, 5, 1600);
  EXPECT_EQ(sink.count(), 3u);
}

TEST(VideoHub, TheSessionsEndTurnsItsRecordingOffAndTellsTheRecorder) {
  VideoHub v(config());
  SinkLog sink;
  v.set_recorder(&sink);
  v.record("alice", 4, true);
  show(v, "alice", 4, 0, 1000);
  EXPECT_EQ(sink.count(), 1u);
  v.stream_ended("alice");
  EXPECT_EQ(sink.ended, 1);
  EXPECT_EQ(v.encoders(), 0u);
  EXPECT_FALSE(v.stream("alice"));
  // The next session is not recorded until the recorder asks again.
  show(v, "alice", 5, 1, 2000);
  EXPECT_EQ(v.encoders(), 0u);
  EXPECT_EQ(sink.count(), 1u);
}
