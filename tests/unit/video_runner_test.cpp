// video::EncoderRunner: encodes off the caller's thread, in order per stream, drops pictures
// that arrive while a stream is busy (one waits, the newest), stops delivering on close.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <vector>

#include "video/encoder_runner.hpp"
#include "video_pictures.hpp"

namespace ds::video {
namespace {

using testing::moving_jpeg;

std::shared_ptr<const std::string> picture(int i) {
  return std::make_shared<const std::string>(moving_jpeg(i, 160, 120));
}

// Collects a stream's units; can hold the runner's thread inside the sink.
struct Collector {
  std::mutex m;
  std::condition_variable cv;
  std::vector<UnitPtr> units;
  bool hold = false;
  bool inside = false;

  EncoderRunner::Sink sink() {
    return [this](const UnitPtr& u) {
      std::unique_lock lock(m);
      units.push_back(u);
      inside = true;
      cv.notify_all();
      cv.wait(lock, [this] { return !hold; });
      inside = false;
    };
  }
  void wait_inside() {
    std::unique_lock lock(m);
    cv.wait(lock, [this] { return inside; });
  }
  void wait_for(std::size_t n) {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return units.size() >= n; });
  }
  void release() {
    std::lock_guard lock(m);
    hold = false;
    cv.notify_all();
  }
  std::vector<std::int64_t> pts() {
    std::lock_guard lock(m);
    std::vector<std::int64_t> out;
    for (const auto& u : units) out.push_back(u->pts_ms);
    return out;
  }
};

TEST(EncoderRunner, EncodesEachStreamInOrder) {
  EncoderRunner runner({}, 2);
  Collector a, b;
  ASSERT_TRUE(runner.open("ann", a.sink()));
  ASSERT_TRUE(runner.open("bob", b.sink()));
  EXPECT_FALSE(runner.open("ann", b.sink()));
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(runner.submit("ann", picture(i), 1000 + i * 100));
    ASSERT_TRUE(runner.submit("bob", picture(i), 5000 + i * 100));
    runner.wait_idle();
  }
  EXPECT_EQ(a.pts(), (std::vector<std::int64_t>{1000, 1100, 1200, 1300, 1400}));
  EXPECT_EQ(b.pts(), (std::vector<std::int64_t>{5000, 5100, 5200, 5300, 5400}));
  EXPECT_TRUE(a.units.front()->keyframe);
  auto stats = runner.stats("ann");
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->submitted, 5);
  EXPECT_EQ(stats->encoded, 5);
  EXPECT_EQ(stats->dropped, 0);
  EXPECT_GT(stats->cpu_ns, 0);
  EXPECT_GT(stats->bytes, 0);
}

TEST(EncoderRunner, ABusyStreamKeepsOnlyItsNewestPicture) {
  EncoderRunner runner({}, 1);
  Collector c;
  c.hold = true;
  ASSERT_TRUE(runner.open("ann", c.sink()));
  ASSERT_TRUE(runner.submit("ann", picture(0), 1000));
  c.wait_inside();  // the runner's thread is busy with this stream
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(runner.submit("ann", picture(i), 1000 + i * 100));
  auto stats = runner.stats("ann");
  EXPECT_EQ(stats->dropped, 9);  // 1..9 replaced, 10 waits: never a queue
  c.release();
  runner.wait_idle();
  EXPECT_EQ(c.pts(), (std::vector<std::int64_t>{1000, 2000}));
  EXPECT_EQ(runner.stats("ann")->encoded, 2);
}

TEST(EncoderRunner, ABusyStreamDoesNotHoldUpAnother) {
  EncoderRunner runner({}, 2);
  Collector slow, fast;
  slow.hold = true;
  ASSERT_TRUE(runner.open("slow", slow.sink()));
  ASSERT_TRUE(runner.open("fast", fast.sink()));
  ASSERT_TRUE(runner.submit("slow", picture(0), 1000));
  slow.wait_inside();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(runner.submit("fast", picture(i), 1000 + i * 100));
    fast.wait_for(static_cast<std::size_t>(i + 1));
  }
  EXPECT_EQ(fast.pts(), (std::vector<std::int64_t>{1000, 1100, 1200}));
  slow.release();
  runner.wait_idle();
}

TEST(EncoderRunner, CloseStopsTheStream) {
  EncoderRunner runner({}, 1);
  Collector c;
  c.hold = true;
  ASSERT_TRUE(runner.open("ann", c.sink()));
  ASSERT_TRUE(runner.submit("ann", picture(0), 1000));
  c.wait_inside();
  ASSERT_TRUE(runner.submit("ann", picture(1), 1100));  // waits; dropped by close
  runner.close("ann");
  EXPECT_EQ(runner.streams(), 0u);
  EXPECT_FALSE(runner.stats("ann"));
  EXPECT_FALSE(runner.submit("ann", picture(2), 1200));
  c.release();
  runner.wait_idle();
  EXPECT_EQ(c.pts(), (std::vector<std::int64_t>{1000}));
  // The name can be opened again: a fresh encoder, starting at a keyframe.
  Collector again;
  ASSERT_TRUE(runner.open("ann", again.sink()));
  ASSERT_TRUE(runner.submit("ann", picture(3), 500));
  runner.wait_idle();
  ASSERT_EQ(again.pts(), (std::vector<std::int64_t>{500}));
  EXPECT_TRUE(again.units.front()->keyframe);
}

TEST(EncoderRunner, ARefusedPictureIsCountedAndTheStreamGoesOn) {
  EncoderRunner runner({}, 1);
  Collector c;
  ASSERT_TRUE(runner.open("ann", c.sink()));
  ASSERT_TRUE(runner.submit("ann", std::make_shared<const std::string>("not a jpeg"), 1000));
  runner.wait_idle();
  ASSERT_TRUE(runner.submit("ann", picture(1), 1100));
  runner.wait_idle();
  EXPECT_EQ(c.pts(), (std::vector<std::int64_t>{1100}));
  EXPECT_EQ(runner.stats("ann")->failed, 1);
  EXPECT_FALSE(runner.submit("bob", picture(0), 1000));
}

}  // namespace
}  // namespace ds::video
