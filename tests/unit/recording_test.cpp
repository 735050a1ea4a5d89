// Recordings: the file names that may be served, the VOD playlist, the writer's files, the
// sweeper's choices, the store, and the recorder's closing and sweeping over a real database.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "domain/recording_rules.hpp"
#include "live/recorder.hpp"
#include "live/recording_writer.hpp"
#include "store/recordings.hpp"
#include "store/streams.hpp"
#include "store/users.hpp"
#include "store/viewer_samples.hpp"
#include "temp_database.hpp"
#include "video/fmp4.hpp"
#include "video/h264_encoder.hpp"
#include "video/hls_segmenter.hpp"
#include "video/mp4_remux.hpp"
#include "video/vod_playlist.hpp"
#include "video_pictures.hpp"

using namespace ds;
using domain::RecordingFileKind;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kSecond = video::fmp4::kTimescale;
constexpr std::int64_t kDay = 86'400'000;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST(RecordingFiles, OnlyThePlaylistInitsAndSegmentsAreNamed) {
  auto p = domain::parse_recording_file("index.m3u8");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, RecordingFileKind::kPlaylist);
  p = domain::parse_recording_file("init-12.mp4");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, RecordingFileKind::kInit);
  EXPECT_EQ(p->msn, 12);
  p = domain::parse_recording_file("0.m4s");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, RecordingFileKind::kSegment);
  EXPECT_EQ(p->msn, 0);
  EXPECT_EQ(domain::parse_recording_file("123456789012345678.m4s")->msn, 123456789012345678);
  for (const char* bad : {"",
                          "..",
                          "../1.m4s",
                          "..%2F1.m4s",
                          "1.m4s.tmp",
                          "index.m3u8.tmp",
                          "01.m4s",
                          "-1.m4s",
                          "+1.m4s",
                          " 1.m4s",
                          "1 .m4s",
                          "1.0.m4s",
                          ".m4s",
                          "init-.mp4",
                          "init-1.m4s",
                          "init--1.mp4",
                          "init-01.mp4",
                          "INDEX.M3U8",
                          "1234567890123456789.m4s",
                          "a/1.m4s",
                          "1.m4s/",
                          "download.mp4",
                          "index.m3u",
                          "1.mp4"}) {
    EXPECT_FALSE(domain::parse_recording_file(bad)) << bad;
  }
  EXPECT_EQ(domain::recording_init_name(3), "init-3.mp4");
  EXPECT_EQ(domain::recording_segment_name(4), "4.m4s");
}

TEST(VodPlaylist, AnEventPlaylistListsEverySegmentWithItsInit) {
  video::VodPlaylist p;
  p.segments = {{0, 0, 2 * kSecond, 1'700'000'000'000}, {1, 0, 3 * kSecond / 2, 0}};
  EXPECT_EQ(video::render_vod_playlist(p),
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:EVENT\n"
            "#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-MAP:URI=\"init-0.mp4\"\n"
            "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z\n#EXTINF:2.000,\n0.m4s\n"
            "#EXTINF:1.500,\n1.m4s\n");
  EXPECT_EQ(p.duration_ms(), 3500);
  EXPECT_EQ(p.next_msn(), 2);
}

TEST(VodPlaylist, EndedIsVodWithEndlistAndANewInitIsADiscontinuity) {
  video::VodPlaylist p;
  p.segments = {{5, 5, kSecond, 0}, {6, 6, 3 * kSecond, 0}};
  p.ended = true;
  auto text = video::render_vod_playlist(p);
  EXPECT_NE(text.find("#EXT-X-PLAYLIST-TYPE:VOD\n"), std::string::npos);
  EXPECT_NE(text.find("#EXT-X-TARGETDURATION:3\n"), std::string::npos);  // the longest segment
  EXPECT_NE(text.find("#EXT-X-MEDIA-SEQUENCE:5\n"), std::string::npos);
  EXPECT_NE(text.find("5.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-6.mp4\"\n#EXTINF:3.000,"
                      "\n6.m4s\n#EXT-X-ENDLIST\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("#EXT-X-DISCONTINUITY"), text.rfind("#EXT-X-DISCONTINUITY"));
}

TEST(VodPlaylist, ParsesWhatItRendersAndIgnoresALineCutShort) {
  video::VodPlaylist p;
  p.segments = {{0, 0, 2 * kSecond, 1'700'000'000'123},
                {1, 0, kSecond + 900, 0},
                {2, 2, kSecond / 3, 1'700'000'003'000}};
  auto back = video::parse_vod_playlist(video::render_vod_playlist(p));
  ASSERT_TRUE(back);
  ASSERT_EQ(back->segments.size(), 3u);
  EXPECT_FALSE(back->ended);
  EXPECT_EQ(back->segments[0].start_ms, 1'700'000'000'123);
  EXPECT_EQ(back->segments[1].duration, kSecond + 900);  // three decimals: 1.010 s
  EXPECT_EQ(back->segments[2].init_msn, 2);
  EXPECT_EQ(back->segments[2].duration, kSecond * 333 / 1000);
  p.ended = true;
  EXPECT_TRUE(video::parse_vod_playlist(video::render_vod_playlist(p))->ended);
  auto cut = video::render_vod_playlist(p);
  cut += "#EXTINF:2.0";
  EXPECT_EQ(video::parse_vod_playlist(cut)->segments.size(), 3u);
  EXPECT_FALSE(video::parse_vod_playlist("not a playlist"));
  EXPECT_FALSE(video::parse_vod_playlist("#EXTM3U\n#EXTINF:1.000,\n../x.m4s\n"));
}

TEST(RecordingWriter, WritesEachSegmentThenThePlaylistAndEndsIt) {
  test::TempDir tmp;
  auto dir = tmp.path() / "rec";
  live::RecordingWriter w(dir);
  EXPECT_TRUE(fs::is_directory(dir));
  EXPECT_FALSE(fs::exists(dir / "index.m3u8"));
  w.add_init(0, "INIT");
  w.add_segment({0, 0, 2 * kSecond, 0}, "SEG0");
  EXPECT_EQ(read(dir / "init-0.mp4"), "INIT");
  EXPECT_EQ(read(dir / "0.m4s"), "SEG0");
  auto text = read(dir / "index.m3u8");
  EXPECT_NE(text.find("#EXT-X-PLAYLIST-TYPE:EVENT"), std::string::npos);
  EXPECT_NE(text.find("0.m4s\n"), std::string::npos);
  EXPECT_EQ(text.find("#EXT-X-ENDLIST"), std::string::npos);
  w.add_segment({1, 0, kSecond, 0}, "SEG1!");
  EXPECT_EQ(w.bytes(), 4 + 4 + 5);
  // Every file replaced whole: no temporary one is left beside them.
  EXPECT_EQ(files_in(dir),
            (std::vector<std::string>{"0.m4s", "1.m4s", "index.m3u8", "init-0.mp4"}));
  w.finish();
  text = read(dir / "index.m3u8");
  EXPECT_NE(text.find("#EXT-X-PLAYLIST-TYPE:VOD"), std::string::npos);
  EXPECT_TRUE(text.ends_with("1.m4s\n#EXT-X-ENDLIST\n")) << text;
  EXPECT_EQ(w.playlist().duration_ms(), 3000);
}

TEST(RecordingWriter, APlaylistIsReplacedAtomicallyNeverRewrittenInPlace) {
  test::TempDir tmp;
  auto file = tmp.path() / "index.m3u8";
  live::write_file_atomically(file, "first");
  // A reader holding the old file keeps reading the old bytes: the new ones are a new file.
  std::ifstream held(file, std::ios::binary);
  live::write_file_atomically(file, "second, longer");
  std::stringstream s;
  s << held.rdbuf();
  EXPECT_EQ(s.str(), "first");
  EXPECT_EQ(read(file), "second, longer");
  EXPECT_FALSE(fs::exists(tmp.path() / "index.m3u8.tmp"));
}

TEST(RecordingWriter, ReopeningGoesOnAfterADiscontinuityAndDropsTemporaryFiles) {
  test::TempDir tmp;
  auto dir = tmp.path() / "rec";
  {
    live::RecordingWriter w(dir);
    w.add_init(0, "INIT0");
    w.add_segment({0, 0, kSecond, 0}, "S0");
    w.finish();
  }
  std::ofstream(dir / "1.m4s.tmp") << "half";  // a writer killed mid-file
  live::RecordingWriter again(dir);
  EXPECT_FALSE(fs::exists(dir / "1.m4s.tmp"));
  EXPECT_TRUE(again.playlist().ended);
  EXPECT_EQ(again.playlist().next_msn(), 1);
  EXPECT_EQ(again.bytes(), 5 + 2);
  again.add_init(1, "INIT1");
  again.add_segment({1, 1, kSecond, 0}, "S1");
  auto text = read(dir / "index.m3u8");
  EXPECT_NE(text.find("#EXT-X-PLAYLIST-TYPE:EVENT"), std::string::npos);  // open again
  EXPECT_NE(text.find("0.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\"\n"),
            std::string::npos)
      << text;
}

namespace {

domain::RecordingUsage usage(long long session, long long user, bool complete, std::int64_t bytes,
                             std::int64_t created_ms) {
  return {session, user, complete, bytes, created_ms};
}

std::vector<long long> ids(const std::vector<domain::SweepPlan::Removal>& v) {
  std::vector<long long> out;
  for (const auto& r : v) out.push_back(r.session_id);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST(RecordingSweep, RetentionRemovesCompleteRecordingsOlderThanTheDays) {
  ManualClock clock;
  auto t0 = clock.now_ms();
  std::vector<domain::RecordingUsage> rows{
      usage(1, 7, true, 10, t0), usage(2, 7, true, 10, t0 + kDay), usage(3, 7, false, 10, t0)};
  domain::SweepRules rules{30 * kDay, 1'000'000};
  clock.advance_ms(30 * kDay - 1);
  EXPECT_TRUE(domain::plan_sweep(rows, clock.now_ms(), rules).remove.empty());
  clock.advance_ms(1);
  auto plan = domain::plan_sweep(rows, clock.now_ms(), rules);
  EXPECT_EQ(ids(plan.remove), (std::vector<long long>{1}));  // not 3: still being recorded
  EXPECT_STREQ(plan.remove[0].reason, "retention");
  clock.advance_ms(kDay);
  EXPECT_EQ(ids(domain::plan_sweep(rows, clock.now_ms(), rules).remove),
            (std::vector<long long>{1, 2}));
  // 0 days: every complete recording, at once.
  EXPECT_EQ(ids(domain::plan_sweep(rows, t0 + kDay, {0, 1'000'000}).remove),
            (std::vector<long long>{1, 2}));
}

TEST(RecordingSweep, QuotaRemovesTheOldestCompleteUntilUnderButNeverTheNewest) {
  ManualClock clock;
  auto t = clock.now_ms();
  std::vector<domain::RecordingUsage> rows{
      usage(1, 7, true, 400, t), usage(2, 7, true, 300, t + 1), usage(3, 7, true, 500, t + 2),
      usage(4, 8, true, 5000, t),  // another account, alone over: its newest stays
  };
  domain::SweepRules rules{30 * kDay, 1000};
  auto plan = domain::plan_sweep(rows, clock.now_ms(), rules);
  EXPECT_EQ(ids(plan.remove), (std::vector<long long>{1}));  // 1200 → 800
  EXPECT_STREQ(plan.remove[0].reason, "quota");
  EXPECT_TRUE(plan.stop.empty());
  rules.quota_bytes = 100;
  plan = domain::plan_sweep(rows, clock.now_ms(), rules);
  EXPECT_EQ(ids(plan.remove), (std::vector<long long>{1, 2}));
  EXPECT_TRUE(plan.stop.empty());
  rules.quota_bytes = 1200;
  EXPECT_TRUE(domain::plan_sweep(rows, clock.now_ms(), rules).remove.empty());
}

TEST(RecordingSweep, ARecordingInProgressThatPassesTheQuotaStops) {
  ManualClock clock;
  auto t = clock.now_ms();
  std::vector<domain::RecordingUsage> rows{usage(1, 7, true, 100, t),
                                           usage(2, 7, false, 950, t + 1)};
  auto plan = domain::plan_sweep(rows, t, {30 * kDay, 1000});
  EXPECT_EQ(ids(plan.remove), (std::vector<long long>{1}));  // under again: it goes on
  EXPECT_TRUE(plan.stop.empty());
  rows[1].bytes = 1001;
  plan = domain::plan_sweep(rows, t, {30 * kDay, 1000});
  EXPECT_EQ(ids(plan.remove), (std::vector<long long>{1}));
  EXPECT_EQ(ids(plan.stop), (std::vector<long long>{2}));
  EXPECT_STREQ(plan.stop[0].reason, "quota");
}

namespace {

class RecordingStoreTest : public ::testing::Test {
 protected:
  long long add_user(const std::string& name) {
    return db().with(
        [&](soci::session& sql) { return store::insert_user(sql, test::sample_user(name, kNow)); });
  }
  long long add_session(long long user, bool ended) {
    return db().write([&](soci::session& sql) {
      auto id = store::insert_stream_session(sql, user, kNow);
      if (ended) store::end_stream_session(sql, id, "completed", kNow + 1000, 1, 20, std::nullopt);
      return id;
    });
  }
  void add_recording(long long session, long long user, const char* state, long long bytes,
                     long long created_ms) {
    db().write([&](soci::session& sql) {
      store::insert_recording(sql, session, user, created_ms);
      auto r = *store::find_recording(sql, session);
      r.state = state;
      r.bytes = bytes;
      store::update_recording(sql, r);
    });
  }
  store::Database& db() { return tmp.db(); }
  static constexpr long long kNow = 1'700'000'000'000;
  test::TempDatabase tmp;
};

}  // namespace

TEST_F(RecordingStoreTest, RowsAreInsertedOnceUpdatedListedNewestFirstAndPrivacyFiltered) {
  auto ann = add_user("ann");
  auto s1 = add_session(ann, true);
  auto s2 = add_session(ann, false);
  EXPECT_TRUE(
      db().write([&](soci::session& sql) { return store::insert_recording(sql, s1, ann, kNow); }));
  EXPECT_FALSE(
      db().write([&](soci::session& sql) { return store::insert_recording(sql, s1, ann, kNow); }));
  db().write([&](soci::session& sql) { return store::insert_recording(sql, s2, ann, kNow + 5); });
  auto r = *db().with([&](soci::session& sql) { return store::find_recording(sql, s1); });
  EXPECT_TRUE(r.is_public);
  EXPECT_EQ(r.state, "recording");
  r.state = "complete";
  r.bytes = 1234;
  r.duration_ms = 5600;
  r.segments = 3;
  r.updated_ms = kNow + 9;
  EXPECT_TRUE(db().write([&](soci::session& sql) { return store::update_recording(sql, r); }));
  // Someone else's recording is not changed.
  auto bob = add_user("bob");
  EXPECT_FALSE(db().write(
      [&](soci::session& sql) { return store::set_recording_public(sql, bob, s1, false); }));
  EXPECT_TRUE(db().write(
      [&](soci::session& sql) { return store::set_recording_public(sql, ann, s1, false); }));
  db().write([&](soci::session& sql) { store::insert_viewer_sample(sql, s2, kNow, 7); });

  auto all = db().with(
      [&](soci::session& sql) { return store::list_user_recordings(sql, ann, true, 0, 10); });
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].recording.session_id, s2);
  EXPECT_EQ(all[0].ended_ms, 0);
  EXPECT_EQ(all[0].peak_viewers, 7);
  EXPECT_EQ(all[1].recording.session_id, s1);
  EXPECT_FALSE(all[1].recording.is_public);
  EXPECT_EQ(all[1].recording.bytes, 1234);
  EXPECT_EQ(all[1].recording.duration_ms, 5600);
  EXPECT_EQ(all[1].ended_ms, kNow + 1000);
  EXPECT_EQ(all[1].started_ms, kNow);
  auto shown = db().with(
      [&](soci::session& sql) { return store::list_user_recordings(sql, ann, false, 0, 10); });
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_EQ(shown[0].recording.session_id, s2);
  auto page = db().with(
      [&](soci::session& sql) { return store::list_user_recordings(sql, ann, true, s2, 10); });
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].recording.session_id, s1);

  EXPECT_TRUE(db().write([&](soci::session& sql) { return store::delete_recording(sql, s1); }));
  EXPECT_FALSE(db().with([&](soci::session& sql) { return store::find_recording(sql, s1); }));
  r.session_id = s1;
  EXPECT_FALSE(db().write([&](soci::session& sql) { return store::update_recording(sql, r); }));
}

TEST_F(RecordingStoreTest, TheSweeperAndTheCloserFindTheirRows) {
  auto ann = add_user("ann");
  auto bob = add_user("bob");
  auto old_done = add_session(ann, true);
  auto unclosed = add_session(bob, true);
  auto live_one = add_session(ann, false);
  add_recording(old_done, ann, "complete", 10, kNow - 100);
  add_recording(unclosed, bob, "recording", 5000, kNow);
  add_recording(live_one, ann, "recording", 10, kNow);
  auto ids_of = [](const std::vector<store::Recording>& v) {
    std::vector<long long> out;
    for (const auto& r : v) out.push_back(r.session_id);
    std::sort(out.begin(), out.end());
    return out;
  };
  auto unclosed_rows =
      db().with([](soci::session& sql) { return store::list_unclosed_recordings(sql); });
  EXPECT_EQ(ids_of(unclosed_rows), (std::vector<long long>{unclosed}));
  // Old and complete, or of an account over the quota (bob's 5000 bytes).
  auto c = db().with(
      [&](soci::session& sql) { return store::list_sweep_candidates(sql, kNow - 50, 1000); });
  EXPECT_EQ(ids_of(c), (std::vector<long long>{old_done, unclosed}));
  c = db().with(
      [&](soci::session& sql) { return store::list_sweep_candidates(sql, kNow - 500, 10'000); });
  EXPECT_TRUE(c.empty());
}

TEST_F(RecordingStoreTest, TheRecorderClosesWhatADeadNodeLeftAndSweepsByRetentionAndQuota) {
  ManualClock clock(kNow + 60'000);
  live::Hub hub(clock);
  test::TempDir media;
  live::RecorderConfig config;
  config.media_dir = media.path();
  config.rules = {10 * kDay, 1'000'000};
  auto ann = add_user("ann");
  auto left = add_session(ann, true);   // its node died mid-recording
  auto empty = add_session(ann, true);  // died before a first segment
  live::Recorder recorder(clock, db(), hub, nullptr, config);
  auto dir = recorder.directory(ann, left);
  EXPECT_EQ(dir, media.path() / "recordings" / std::to_string(ann) / std::to_string(left));
  {
    live::RecordingWriter w(dir);
    w.add_init(0, "INIT");
    w.add_segment({0, 0, 2 * kSecond, 0}, "SEGMENT0");
    w.add_segment({1, 0, kSecond, 0}, "SEGMENT1");
  }
  live::RecordingWriter{recorder.directory(ann, empty)};
  add_recording(left, ann, "recording", 12, kNow);
  add_recording(empty, ann, "recording", 0, kNow);

  recorder.recover();
  auto r = *recorder.find(left);
  EXPECT_EQ(r.state, "complete");
  EXPECT_EQ(r.duration_ms, 3000);
  EXPECT_EQ(r.segments, 2);
  EXPECT_EQ(r.bytes, 4 + 8 + 8);
  EXPECT_TRUE(read(dir / "index.m3u8").ends_with("#EXT-X-ENDLIST\n"));
  EXPECT_FALSE(recorder.find(empty));  // nothing to replay: gone, with its directory
  EXPECT_FALSE(fs::exists(recorder.directory(ann, empty)));

  // Within retention and quota: kept.
  recorder.sweep();
  EXPECT_TRUE(recorder.find(left));
  // Ten days on: swept, files and row.
  clock.set_ms(kNow + 10 * kDay);
  recorder.sweep();
  EXPECT_FALSE(recorder.find(left));
  EXPECT_FALSE(fs::exists(dir));
  recorder.shutdown();
}

namespace {

// A recording made as the recorder makes one: the encoder's units cut by a segmenter per
// recording run (started again: a new init segment), written by the writer.
struct MadeRecording {
  test::TempDir tmp;
  fs::path dir = tmp.path() / "rec";
  live::RecordingWriter writer{dir};
  std::int64_t last_init = -1;

  // `count` pictures of width × height, 100 ms apart from start_ms, as one run.
  void run(int count, std::int64_t start_ms, int width, int height) {
    video::H264Encoder enc([] {
      video::EncoderSettings s;
      s.preset = "ultrafast";
      return s;
    }());
    video::HlsSegmenter seg({}, writer.playlist().next_msn(), start_ms);
    auto handed = writer.playlist().next_msn() - 1;
    auto hand_over = [&] {
      for (auto msn = handed + 1; msn <= seg.last_complete().value_or(handed); ++msn) {
        const auto* s = seg.segment(msn);
        if (s->init_msn != last_init) writer.add_init(s->init_msn, *seg.init(s->init_msn));
        last_init = s->init_msn;
        writer.add_segment({msn, s->init_msn, s->duration, s->start_ms}, *s->bytes);
        handed = msn;
      }
    };
    for (int i = 0; i < count; ++i) {
      auto u = enc.encode_jpeg(video::testing::moving_jpeg(i, width, height), start_ms + i * 100);
      ASSERT_TRUE(u.ok());
      seg.push(*u);
      hand_over();
    }
    seg.finish();
    hand_over();
  }

  std::vector<video::RemuxGroup> groups() const {
    std::vector<video::RemuxGroup> out;
    for (const auto& s : writer.playlist().segments) {
      auto init = dir / domain::recording_init_name(s.init_msn);
      if (out.empty() || out.back().init != init) out.push_back({init, {}});
      out.back().segments.push_back(dir / domain::recording_segment_name(s.msn));
    }
    return out;
  }
};

}  // namespace

// The one-file download: every picture of every run, on one timeline without the gap between
// runs, the index first; a run at another size is left out (one track, one set of parameters).
TEST(RecordingDownload, RemuxesEveryRunIntoOneMp4ThatFfprobeReads) {
  if (std::system("ffprobe -hide_banner -version >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "no ffprobe CLI (scripts/setup.sh --test installs it)";
  }
  MadeRecording rec;
  rec.run(30, 1'765'000'000'000, 160, 120);
  rec.run(20, 1'765'000'060'000, 160, 120);  // switched on again a minute later
  rec.run(10, 1'765'000'090'000, 320, 240);  // another size
  auto groups = rec.groups();
  ASSERT_EQ(groups.size(), 3u);
  auto out = rec.tmp.path() / "out.mp4";
  auto failed = video::remux_to_mp4(groups, out);
  ASSERT_FALSE(failed) << *failed;
  auto bytes = read(out);
  EXPECT_LT(bytes.find("moov"), bytes.find("mdat"));  // faststart
  auto probed = rec.tmp.path() / "probe.txt";
  int rc =
      std::system(("ffprobe -v error -count_frames -show_entries "
                   "stream=codec_name,width,height,nb_read_frames:format=duration -of csv=p=0 " +
                   out.string() + " > " + probed.string())
                      .c_str());
  auto probe = read(probed);
  ASSERT_EQ(rc, 0) << probe;
  std::istringstream lines(probe);
  std::string stream, format;
  std::getline(lines, stream);
  std::getline(lines, format);
  EXPECT_EQ(stream, "h264,160,120,50") << probe;
  // 50 pictures of 100 ms, the minute between the runs left out.
  EXPECT_NEAR(std::stod(format), 5.0, 0.25) << probe;
  EXPECT_TRUE(video::remux_to_mp4({}, out).has_value());  // nothing to make one of
  EXPECT_FALSE(fs::exists(out));
}
