// video::GopCache (what a joining viewer gets) and video::ViewerFeed (latest wins at GOP
// granularity for a viewer that falls behind), on made-up units.
#include <gtest/gtest.h>

#include <vector>

#include "video/gop_cache.hpp"
#include "video/viewer_feed.hpp"
#include "video_pictures.hpp"

namespace ds::video {
namespace {

using testing::fake_unit;

std::vector<std::int64_t> pts_of(const std::vector<Delivery>& ds) {
  std::vector<std::int64_t> out;
  for (const auto& d : ds) out.push_back(d.unit->pts_ms);
  return out;
}

std::vector<bool> decode_only_of(const std::vector<Delivery>& ds) {
  std::vector<bool> out;
  for (const auto& d : ds) out.push_back(d.decode_only);
  return out;
}

std::vector<Delivery> drain(ViewerFeed& feed) {
  std::vector<Delivery> out;
  while (auto d = feed.next()) out.push_back(*d);
  return out;
}

TEST(GopCache, AJoiningViewerGetsTheGopFromItsKeyframe) {
  GopCache cache;
  EXPECT_TRUE(cache.join().empty());
  cache.push(fake_unit(0, false));  // no keyframe yet: nothing a joiner could decode
  EXPECT_EQ(cache.units(), 0u);
  cache.push(fake_unit(100, true));
  cache.push(fake_unit(200, false));
  cache.push(fake_unit(300, false));
  auto join = cache.join();
  EXPECT_EQ(pts_of(join), (std::vector<std::int64_t>{100, 200, 300}));
  EXPECT_TRUE(join.front().unit->keyframe);
  // Decoded at once, only the newest shown.
  EXPECT_EQ(decode_only_of(join), (std::vector<bool>{true, true, false}));

  cache.push(fake_unit(400, true));  // a new GOP replaces the old
  cache.push(fake_unit(500, false));
  EXPECT_EQ(pts_of(cache.join()), (std::vector<std::int64_t>{400, 500}));
  EXPECT_EQ(cache.bytes(), 200u);
}

TEST(GopCache, AGopPastTheBoundIsLetGoUntilTheNextKeyframe) {
  GopCache cache(1000);
  cache.push(fake_unit(0, true, 400));
  cache.push(fake_unit(100, false, 400));
  EXPECT_EQ(cache.bytes(), 800u);
  cache.push(fake_unit(200, false, 400));  // 1200 > 1000
  EXPECT_EQ(cache.bytes(), 0u);
  EXPECT_TRUE(cache.join().empty());
  cache.push(fake_unit(300, false, 10));  // still no keyframe: not held
  EXPECT_EQ(cache.units(), 0u);
  cache.push(fake_unit(400, true, 1001));  // a keyframe alone over the bound: not held either
  EXPECT_EQ(cache.units(), 0u);
  cache.push(fake_unit(500, true, 300));
  EXPECT_EQ(pts_of(cache.join()), (std::vector<std::int64_t>{500}));
  EXPECT_EQ(cache.join().front().decode_only, false);
  for (int i = 0; i < 100; ++i) {
    cache.push(fake_unit(600 + i, false, 50));
    EXPECT_LE(cache.bytes(), 1000u);
  }
}

TEST(GopCache, ClearReleasesEveryUnit) {
  GopCache cache;
  std::vector<std::weak_ptr<const AccessUnit>> held;
  for (int i = 0; i < 5; ++i) {
    auto u = fake_unit(i * 100, i == 0, 1000);
    held.push_back(u);
    cache.push(u);
  }
  for (const auto& w : held) EXPECT_FALSE(w.expired());
  cache.clear();
  for (const auto& w : held) EXPECT_TRUE(w.expired());
  EXPECT_EQ(cache.bytes(), 0u);
  EXPECT_TRUE(cache.join().empty());
}

TEST(ViewerFeed, AViewerThatKeepsUpGetsEveryUnitInOrder) {
  ViewerFeed feed;
  EXPECT_EQ(feed.offer(fake_unit(0, true)), Offered::kQueued);
  EXPECT_EQ(pts_of(drain(feed)), (std::vector<std::int64_t>{0}));
  for (int i = 1; i < 50; ++i) {
    EXPECT_EQ(feed.offer(fake_unit(i * 100, i % 20 == 0)), Offered::kQueued);
    auto d = feed.next();
    ASSERT_TRUE(d);
    EXPECT_EQ(d->unit->pts_ms, i * 100);
    EXPECT_FALSE(d->decode_only);
  }
  EXPECT_EQ(feed.dropped(), 0);
}

TEST(ViewerFeed, ANewViewerWithoutAGopStartsAtTheNextKeyframe) {
  ViewerFeed feed;
  feed.start({});
  EXPECT_TRUE(feed.waiting_for_keyframe());
  EXPECT_EQ(feed.offer(fake_unit(100, false)), Offered::kSkipped);
  EXPECT_EQ(feed.offer(fake_unit(200, false)), Offered::kSkipped);
  EXPECT_FALSE(feed.next());
  EXPECT_EQ(feed.offer(fake_unit(300, true)), Offered::kQueued);
  EXPECT_EQ(feed.offer(fake_unit(400, false)), Offered::kQueued);
  EXPECT_EQ(pts_of(drain(feed)), (std::vector<std::int64_t>{300, 400}));
  EXPECT_EQ(feed.dropped(), 2);
}

TEST(ViewerFeed, AJoiningViewerDecodesTheGopAndShowsItsNewestPicture) {
  GopCache cache;
  for (int i = 0; i < 6; ++i) cache.push(fake_unit(i * 100, i == 0));
  ViewerFeed feed;
  feed.start(cache.join());
  EXPECT_FALSE(feed.waiting_for_keyframe());
  EXPECT_EQ(feed.offer(fake_unit(600, false)), Offered::kQueued);
  auto got = drain(feed);
  EXPECT_EQ(pts_of(got), (std::vector<std::int64_t>{0, 100, 200, 300, 400, 500, 600}));
  EXPECT_TRUE(got.front().unit->keyframe);
  EXPECT_EQ(decode_only_of(got), (std::vector<bool>{true, true, true, true, true, false, false}));
}

TEST(ViewerFeed, AGopLargerThanTheViewersBoundWaitsForTheNextKeyframe) {
  GopCache cache;
  for (int i = 0; i < 10; ++i) cache.push(fake_unit(i * 100, i == 0));
  ViewerFeed feed({.max_units = 5, .max_bytes = 1 << 20});
  feed.start(cache.join());
  EXPECT_TRUE(feed.waiting_for_keyframe());
  EXPECT_EQ(feed.queued_units(), 0u);
}

TEST(ViewerFeed, ASlowViewerSkipsToTheNextKeyframeWithBoundedMemory) {
  ViewerFeed feed({.max_units = 5, .max_bytes = 1 << 20});
  EXPECT_EQ(feed.offer(fake_unit(0, true)), Offered::kQueued);
  auto first = feed.next();  // being written, and the socket stalls
  ASSERT_TRUE(first);
  std::vector<Offered> results;
  for (int i = 1; i < 20; ++i) {
    results.push_back(feed.offer(fake_unit(i * 100, false)));
    EXPECT_LE(feed.queued_units(), 5u);
    EXPECT_LE(feed.queued_bytes(), 500u);
  }
  EXPECT_EQ(results[4], Offered::kQueued);      // units 1..5 wait
  EXPECT_EQ(results[5], Offered::kFellBehind);  // unit 6: all dropped
  EXPECT_EQ(results[6], Offered::kSkipped);
  EXPECT_EQ(feed.queued_units(), 0u);
  EXPECT_TRUE(feed.waiting_for_keyframe());
  EXPECT_FALSE(feed.next());  // nothing half a GOP long goes out
  EXPECT_EQ(feed.offer(fake_unit(2000, true)), Offered::kQueued);
  EXPECT_EQ(feed.offer(fake_unit(2100, false)), Offered::kQueued);
  EXPECT_EQ(pts_of(drain(feed)), (std::vector<std::int64_t>{2000, 2100}));
  EXPECT_EQ(feed.dropped(), 19);
}

TEST(ViewerFeed, AKeyframeSupersedesUnitsStillWaiting) {
  ViewerFeed feed;
  feed.offer(fake_unit(0, true));
  feed.offer(fake_unit(100, false));
  feed.offer(fake_unit(200, false));
  EXPECT_EQ(feed.offer(fake_unit(300, true)), Offered::kCaughtUp);
  EXPECT_EQ(pts_of(drain(feed)), (std::vector<std::int64_t>{300}));
  EXPECT_EQ(feed.dropped(), 3);
}

TEST(ViewerFeed, TheByteBoundCountsToo) {
  ViewerFeed feed({.max_units = 100, .max_bytes = 1000});
  feed.offer(fake_unit(0, true, 600));
  EXPECT_EQ(feed.offer(fake_unit(100, false, 300)), Offered::kQueued);
  EXPECT_EQ(feed.offer(fake_unit(200, false, 300)), Offered::kFellBehind);
  EXPECT_EQ(feed.queued_bytes(), 0u);
}

}  // namespace
}  // namespace ds::video
