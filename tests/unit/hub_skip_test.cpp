// Unchanged frames skipped (docs/architecture.md): the hub's rule with a fake thumbnail, the
// comparison itself, and the OpenCV thumbnail on real JPEGs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <string>

#include "domain/similarity.hpp"
#include "fake_peer.hpp"
#include "live/hub.hpp"
#include "live/protocol.hpp"
#include "live/settings_service.hpp"
#include "live/style_service.hpp"
#include "store/streams.hpp"
#include "store/users.hpp"
#include "temp_database.hpp"
#include "test_support.hpp"
#include "worker/thumbnail.hpp"
#include "worker_test_images.hpp"

using namespace ds;
using namespace ds::live;
using test::FakePeer;
using test::job_id;
using test::stream;

namespace {

domain::Thumbnail flat(std::uint8_t grey) {
  domain::Thumbnail t;
  t.pixels.fill(grey);
  return t;
}

// A fake camera: frames named "still…" look alike, any other name looks different from them.
struct FakeThumbnails {
  int calls = 0;
  std::optional<domain::Thumbnail> operator()(std::string_view jpeg) {
    ++calls;
    if (jpeg.starts_with("bad")) return std::nullopt;
    return flat(jpeg.starts_with("still") ? 100 : 200);
  }
};

HubConfig skipping(FakeThumbnails& thumbnails, double similar = 0.01) {
  HubConfig config;
  config.skip_similar = similar;
  config.skip_max_ms = 2'000;
  config.thumbnail = [&thumbnails](std::string_view jpeg) { return thumbnails(jpeg); };
  return config;
}

struct HubSkip : ::testing::Test {
  ManualClock clock;
  FakeThumbnails thumbnails;
  Hub hub{clock, skipping(thumbnails)};
  std::shared_ptr<FakePeer> worker = std::make_shared<FakePeer>();
  std::int64_t worker_id = 0;

  void SetUp() override {
    ASSERT_TRUE(hub.open_stream(stream(1, "alice")));
    worker_id = hub.add_worker(worker, "w");
  }
  std::size_t jobs() const { return worker->frames.size(); }
  // The worker answers its newest job.
  ResultOutcome answer() {
    return hub.on_result(worker_id, job_id(worker->last_job()["job_id"]), make_bytes("out"), {});
  }
  std::uint64_t skipped() { return hub.snapshot("alice")->frames_skipped; }
};

}  // namespace

TEST(Similarity, IdenticalThumbnailsDoNotChange) {
  EXPECT_DOUBLE_EQ(domain::change_between(flat(80), flat(80)), 0.0);
}

TEST(Similarity, NoiseWithinTheToleranceIsNoChange) {
  auto a = flat(100);
  auto b = flat(100);
  for (std::size_t i = 0; i < b.pixels.size(); ++i) {
    b.pixels[i] = static_cast<std::uint8_t>(100 + static_cast<int>(i % 21) - 10);  // ±10
  }
  EXPECT_DOUBLE_EQ(domain::change_between(a, b), 0.0);
}

TEST(Similarity, ScoreIsTheShareOfPixelsThatChanged) {
  auto a = flat(100);
  auto b = flat(100);
  // A quarter of the picture (the top six rows) turned bright.
  for (int i = 0; i < domain::Thumbnail::kWidth * 6; ++i) b.pixels[i] = 200;
  EXPECT_DOUBLE_EQ(domain::change_between(a, b), 0.25);
  EXPECT_DOUBLE_EQ(domain::change_between(b, a), 0.25);
  EXPECT_DOUBLE_EQ(domain::change_between(flat(0), flat(255)), 1.0);
}

TEST_F(HubSkip, UnchangedFrameIsNotProcessedAndViewersKeepTheLastOutput) {
  auto viewer = std::make_shared<FakePeer>();
  hub.add_viewer("alice", viewer);
  hub.push_frame("alice", make_bytes("still-1"));
  ASSERT_EQ(jobs(), 1u);
  EXPECT_EQ(answer(), ResultOutcome::kShown);
  ASSERT_EQ(viewer->frames.size(), 1u);
  clock.advance_ms(33);
  auto accepted = hub.push_frame("alice", make_bytes("still-2"));
  ASSERT_TRUE(accepted) << "a skipped frame is still accepted";
  EXPECT_EQ(accepted->seq, 2u);
  EXPECT_EQ(jobs(), 1u) << "the idle worker got nothing";
  EXPECT_EQ(viewer->frames.size(), 1u);
  auto snap = hub.snapshot("alice");
  EXPECT_EQ(snap->frames_in, 2u);
  EXPECT_EQ(snap->frames_skipped, 1u);
  EXPECT_EQ(snap->frames_dropped, 0u) << "skipped is not dropped";
  EXPECT_EQ(snap->last_frame_ms, clock.now_ms()) << "a skipped frame keeps the stream alive";
  auto totals = hub.totals();
  EXPECT_EQ(totals.frames_skipped, 1u);
  EXPECT_EQ(totals.jobs_sent, 1u);
}

TEST_F(HubSkip, AChangedFrameGoesToTheModelAtOnce) {
  hub.push_frame("alice", make_bytes("still-1"));
  answer();
  hub.push_frame("alice", make_bytes("still-2"));
  hub.push_frame("alice", make_bytes("moved-1"));
  ASSERT_EQ(jobs(), 2u);
  EXPECT_EQ(worker->frames.back().second, "moved-1");
  answer();
  // Compared with the frame the model last got (moved-1), not the first one.
  hub.push_frame("alice", make_bytes("moved-2"));
  EXPECT_EQ(jobs(), 2u);
  hub.push_frame("alice", make_bytes("still-3"));
  EXPECT_EQ(jobs(), 3u);
  EXPECT_EQ(skipped(), 2u);
}

TEST_F(HubSkip, TheFirstFrameIsNeverSkipped) {
  hub.push_frame("alice", make_bytes("still-1"));
  EXPECT_EQ(jobs(), 1u);
  EXPECT_EQ(skipped(), 0u);
}

TEST_F(HubSkip, AFrameIsSkippedWhileTheOutputItMatchesIsStillDue) {
  hub.push_frame("alice", make_bytes("still-1"));  // at the worker, not answered yet
  hub.push_frame("alice", make_bytes("still-2"));
  EXPECT_EQ(skipped(), 1u);
  EXPECT_EQ(answer(), ResultOutcome::kShown);
  EXPECT_EQ(jobs(), 1u);
}

TEST_F(HubSkip, ALostResultForcesTheNextFrame) {
  hub.push_frame("alice", make_bytes("still-1"));
  ASSERT_TRUE(hub.on_worker_error(worker_id, job_id(worker->last_job()["job_id"])));
  hub.push_frame("alice", make_bytes("still-2"));
  EXPECT_EQ(jobs(), 2u) << "no output of still-1 will come: still-2 is processed";
  EXPECT_EQ(skipped(), 0u);
  // The same when the worker goes away with the job.
  hub.remove_worker(worker_id);
  auto other = std::make_shared<FakePeer>();
  hub.add_worker(other, "w2");
  hub.push_frame("alice", make_bytes("still-3"));
  EXPECT_EQ(other->frames.size(), 1u);
  EXPECT_EQ(skipped(), 0u);
}

TEST_F(HubSkip, AStyleChangeForcesTheNextFrame) {
  hub.push_frame("alice", make_bytes("still-1"));
  answer();
  hub.set_style("alice", {"noir", 0.5, 1});
  hub.push_frame("alice", make_bytes("still-2"));
  ASSERT_EQ(jobs(), 2u);
  EXPECT_EQ(worker->last_job()["params"]["prompt"], "noir");
  answer();
  hub.push_frame("alice", make_bytes("still-3"));
  EXPECT_EQ(jobs(), 2u) << "once processed in the new style, unchanged frames are skipped again";
  EXPECT_EQ(skipped(), 1u);
}

TEST_F(HubSkip, AStrengthChangeForcesTheNextFrame) {
  hub.push_frame("alice", make_bytes("still-1"));
  answer();
  hub.set_style("alice", {"toon", 0.9, 1});
  hub.push_frame("alice", make_bytes("still-2"));
  EXPECT_EQ(jobs(), 2u);
}

TEST_F(HubSkip, SkipMaxMsForcesAFrameEveryTwoSeconds) {
  hub.push_frame("alice", make_bytes("still-1"));
  answer();
  clock.advance_ms(1'999);
  hub.push_frame("alice", make_bytes("still-2"));
  EXPECT_EQ(jobs(), 1u);
  clock.advance_ms(1);
  hub.push_frame("alice", make_bytes("still-3"));
  ASSERT_EQ(jobs(), 2u) << "2000 ms since still-1 went to the model";
  answer();
  clock.advance_ms(1'000);
  hub.push_frame("alice", make_bytes("still-4"));
  EXPECT_EQ(jobs(), 2u) << "the two seconds count from still-3";
  EXPECT_EQ(skipped(), 2u);
}

TEST_F(HubSkip, AFrameWaitingInTheMailboxIsReplacedNotKept) {
  hub.push_frame("alice", make_bytes("still-1"));
  answer();
  hub.push_frame("alice", make_bytes("moved-1"));  // at the worker
  hub.push_frame("alice", make_bytes("still-2"));  // differs from moved-1: waits
  hub.push_frame("alice", make_bytes("still-3"));  // replaces still-2, as any newer frame would
  EXPECT_EQ(skipped(), 0u);
  EXPECT_EQ(hub.snapshot("alice")->frames_dropped, 1u);
  answer();
  EXPECT_EQ(worker->frames.back().second, "still-3");
  answer();
  hub.push_frame("alice", make_bytes("still-4"));
  EXPECT_EQ(jobs(), 3u);
  EXPECT_EQ(skipped(), 1u);
}

TEST_F(HubSkip, AFrameWithoutAThumbnailIsProcessed) {
  hub.push_frame("alice", make_bytes("still-1"));
  answer();
  hub.push_frame("alice", make_bytes("bad-1"));
  EXPECT_EQ(jobs(), 2u);
}

TEST_F(HubSkip, TheStreamersStatusCountsSkippedFrames) {
  auto ingest = std::make_shared<FakePeer>();
  ASSERT_TRUE(hub.attach_ingest("alice", ingest));
  hub.push_frame("alice", make_bytes("still-1"));
  answer();
  hub.push_frame("alice", make_bytes("still-2"));
  hub.push_frame("alice", make_bytes("still-3"));
  clock.advance_ms(1'000);
  hub.tick();
  nlohmann::json status;
  for (const auto& t : ingest->texts) {
    auto j = nlohmann::json::parse(t);
    if (j["type"] == "status") status = j;
  }
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["frames_skipped"], 2);
  EXPECT_EQ(status["frames_in"], 3);
  EXPECT_EQ(status["frames_dropped"], 0);
}

TEST(HubSkipOff, ZeroThresholdProcessesEveryFrameAndMakesNoThumbnail) {
  ManualClock clock;
  FakeThumbnails thumbnails;
  Hub hub(clock, skipping(thumbnails, 0));
  ASSERT_TRUE(hub.open_stream(stream(1, "alice")));
  auto w = std::make_shared<FakePeer>();
  auto wid = hub.add_worker(w, "w");
  for (int i = 0; i < 3; ++i) {
    hub.push_frame("alice", make_bytes("still-" + std::to_string(i)));
    hub.on_result(wid, job_id(w->last_job()["job_id"]), make_bytes("out"), {});
  }
  EXPECT_EQ(w->frames.size(), 3u);
  EXPECT_EQ(thumbnails.calls, 0);
  EXPECT_EQ(hub.totals().frames_skipped, 0u);
}

// Settings changes reach the hub through StyleService (Hub::set_style), even those that leave
// the prompt and strength as they were.
TEST(HubSkipSettings, ASettingsChangeForcesTheNextFrame) {
  test::TempDatabase tmp;
  ManualClock clock;
  FakeThumbnails thumbnails;
  Hub hub(clock, skipping(thumbnails));
  StyleService styles(tmp.db(), hub, clock);
  SettingsService settings(tmp.db(), hub, styles);
  store::User streamer;
  streamer.username = "alice";
  streamer.email = "alice@example.com";
  streamer.display_name = "Alice";
  streamer.created_ms = clock.now_ms();
  streamer.id =
      tmp.db().write([&](soci::session& sql) { return store::insert_user(sql, streamer); });
  auto session = tmp.db().write([&](soci::session& sql) {
    return store::insert_stream_session(sql, streamer.id, clock.now_ms());
  });
  auto stream = hub.open_stream({session, streamer.id, "alice", "Alice", {"", 0.6, session}});
  ASSERT_TRUE(stream);
  styles.on_stream_event(StreamOpened{"alice", streamer.id, session, false, stream});
  auto w = std::make_shared<FakePeer>();
  auto wid = hub.add_worker(w, "w");
  auto answer = [&] { hub.on_result(wid, job_id(w->last_job()["job_id"]), make_bytes("out"), {}); };
  hub.push_frame("alice", make_bytes("still-1"));
  answer();
  hub.push_frame("alice", make_bytes("still-2"));
  ASSERT_EQ(w->frames.size(), 1u) << "skipped";
  domain::StreamSettingsPatch patch;
  patch.comments_enabled = false;
  ASSERT_TRUE(settings.update(streamer, patch));
  hub.push_frame("alice", make_bytes("still-3"));
  EXPECT_EQ(w->frames.size(), 2u);
}

namespace {

// The source tree's tests/integration/fixtures, or DS_FIXTURES_DIR.
std::string fixture(int n) {
  const char* env = std::getenv("DS_FIXTURES_DIR");
  std::filesystem::path dir =
      env ? std::filesystem::path(env)
          : std::filesystem::path(DS_SOURCE_DIR) / "tests" / "integration" / "fixtures";
  std::ifstream in(dir / ("frame" + std::to_string(n) + ".jpg"), std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string reencode(const std::string& jpeg, int quality) {
  auto img = cv::imdecode(std::vector<uchar>(jpeg.begin(), jpeg.end()), cv::IMREAD_COLOR);
  std::vector<uchar> out;
  cv::imencode(".jpg", img, out, {cv::IMWRITE_JPEG_QUALITY, quality});
  return {out.begin(), out.end()};
}

}  // namespace

TEST(Thumbnail, TheSameFrameReencodedIsUnchanged) {
  auto jpeg = fixture(1);
  ASSERT_FALSE(jpeg.empty());
  auto a = worker::make_thumbnail(jpeg);
  auto b = worker::make_thumbnail(reencode(jpeg, 60));
  ASSERT_TRUE(a && b);
  EXPECT_LT(domain::change_between(*a, *b), 0.01);
}

TEST(Thumbnail, DifferentFramesAreChanged) {
  for (int n = 2; n <= 4; ++n) {
    auto a = worker::make_thumbnail(fixture(n - 1));
    auto b = worker::make_thumbnail(fixture(n));
    ASSERT_TRUE(a && b);
    EXPECT_GT(domain::change_between(*a, *b), 0.05) << "frame" << n - 1 << " vs frame" << n;
  }
}

TEST(Thumbnail, ACameraFramesNoiseIsNoChange) {
  // 640×480 (decoded at 1/8), the same scene under fresh sensor noise (σ 10 grey levels).
  auto a = worker::make_thumbnail(
      worker::testing::encode_jpeg(worker::testing::test_scene(640, 480, 1), 85));
  auto b = worker::make_thumbnail(
      worker::testing::encode_jpeg(worker::testing::test_scene(640, 480, 2), 70));
  ASSERT_TRUE(a && b);
  EXPECT_LT(domain::change_between(*a, *b), 0.01);
}

TEST(Thumbnail, APanIsAChange) {
  auto scene = worker::testing::test_scene(640, 480, 1);
  cv::Mat shifted;
  cv::Mat m = (cv::Mat_<double>(2, 3) << 1, 0, 16, 0, 1, 0);  // 16 px, half a second of a slow pan
  cv::warpAffine(scene, shifted, m, scene.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  auto a = worker::make_thumbnail(worker::testing::encode_jpeg(scene));
  auto b = worker::make_thumbnail(worker::testing::encode_jpeg(shifted));
  ASSERT_TRUE(a && b);
  EXPECT_GT(domain::change_between(*a, *b), 0.05);
}

TEST(Thumbnail, NotAJpegHasNone) {
  EXPECT_FALSE(worker::make_thumbnail(""));
  EXPECT_FALSE(worker::make_thumbnail("\xff\xd8 not really a jpeg"));
}
