// live::HlsStore: a request waiting for a part is woken (ready) by the unit that completes it
// and not before, answered not ready at its deadline on the manual clock, refused past the
// per-stream cap or for an msn too far ahead; an ended stream's playlist ends with ENDLIST and
// stays for a while; a session's numbering goes on after its media was let go.
#include "live/hls_store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>

#include "h264_units.hpp"
#include "util/clock.hpp"

namespace ds::live {
namespace {

using test::h264_unit;
constexpr auto unit = h264_unit;

struct Woken {
  std::optional<bool> ready;
  HlsStore::Waker waker() {
    return [this](bool r) {
      EXPECT_FALSE(ready.has_value()) << "woken twice";
      ready = r;
    };
  }
};

using Until = HlsStore::Until;

class HlsStoreTest : public ::testing::Test {
 protected:
  ManualClock clock{1'000'000};
  HlsStoreConfig config() {
    HlsStoreConfig c;
    c.media.part_target_ms = 500;
    c.max_waiters = 3;
    return c;
  }
  HlsStore store{clock, config()};
  std::int64_t t = 1'000'000;
  int n = 0;
  // One picture every 100 ms, a keyframe every 2 s.
  void feed(int count, const std::string& name = "ann", long long session = 7) {
    for (int i = 0; i < count; ++i, ++n)
      store.on_unit(name, session, unit(t + n * 100, n % 20 == 0));
  }
};

TEST_F(HlsStoreTest, NoPlaylistUntilTheFirstSegmentIsComplete) {
  feed(20);
  EXPECT_FALSE(store.playlist("ann"));
  Woken w;
  EXPECT_EQ(store.wait("ann", {Until::Kind::kFirstSegment}, t + 6000, w.waker()),
            HlsStore::Wait::kWaiting);
  feed(1);  // the keyframe that closes segment 0
  EXPECT_EQ(w.ready, true);
  auto p = store.playlist("ann");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->session_id, 7);
  EXPECT_NE(p->text.find("hls/7/0.m4s"), std::string::npos);
  EXPECT_TRUE(store.media("ann", 7, HlsStore::Media::kSegment, 0));
  EXPECT_TRUE(store.media("ann", 7, HlsStore::Media::kInit, 0));
  EXPECT_FALSE(store.media("ann", 8, HlsStore::Media::kSegment, 0));  // another session's
}

TEST_F(HlsStoreTest, BlockingWaitWakesOnTheNextPartAndNotBefore) {
  feed(21);  // segment 0 complete, segment 1 begun
  Woken w;
  Until next{Until::Kind::kPart, 7, 1, 0};
  EXPECT_EQ(store.wait("ann", next, clock.now_ms() + 6000, w.waker()), HlsStore::Wait::kWaiting);
  EXPECT_EQ(store.waiters("ann"), 1u);
  feed(4);  // pictures 20..24 in, but 24's duration unknown: the part is not whole yet
  EXPECT_FALSE(w.ready);
  feed(1);
  EXPECT_EQ(w.ready, true);
  EXPECT_EQ(store.waiters("ann"), 0u);
  EXPECT_TRUE(store.media("ann", 7, HlsStore::Media::kPart, 1, 0));
  // Already there: answered at once, nothing kept.
  Woken later;
  EXPECT_EQ(store.wait("ann", next, clock.now_ms() + 6000, later.waker()), HlsStore::Wait::kReady);
  EXPECT_FALSE(later.ready);
}

TEST_F(HlsStoreTest, WaitTimesOutAtItsDeadline) {
  feed(21);
  Woken w;
  EXPECT_EQ(store.wait("ann", {Until::Kind::kPart, 7, 1, 2}, clock.now_ms() + 6000, w.waker()),
            HlsStore::Wait::kWaiting);
  clock.advance_ms(5999);
  store.tick();
  EXPECT_FALSE(w.ready);
  clock.advance_ms(1);
  store.tick();
  EXPECT_EQ(w.ready, false);
  EXPECT_EQ(store.waiters("ann"), 0u);
}

TEST_F(HlsStoreTest, HostileRequestsAreRefusedAndWaitersCapped) {
  feed(21);
  Woken w;
  auto deadline = clock.now_ms() + 6000;
  EXPECT_EQ(store.wait("ann", {Until::Kind::kPart, 7, 3, 0}, deadline, w.waker()),
            HlsStore::Wait::kTooFar);  // newest complete is 0: more than two ahead
  EXPECT_EQ(store.wait("ann", {Until::Kind::kPart, 7, 1'000'000'000'000, 0}, deadline, w.waker()),
            HlsStore::Wait::kTooFar);
  EXPECT_EQ(store.wait("ann", {Until::Kind::kPart, 7, 1, 5000}, deadline, w.waker()),
            HlsStore::Wait::kTooFar);
  EXPECT_EQ(store.wait("nobody", {Until::Kind::kSegment, 0, 99, 0}, deadline, w.waker()),
            HlsStore::Wait::kTooFar);
  EXPECT_EQ(store.wait("ann", {Until::Kind::kPart, 8, 1, 0}, deadline, w.waker()),
            HlsStore::Wait::kGone);  // another session
  Woken a, b, c, d;
  Until two{Until::Kind::kSegment, 7, 2, 0};
  EXPECT_EQ(store.wait("ann", two, deadline, a.waker()), HlsStore::Wait::kWaiting);
  EXPECT_EQ(store.wait("ann", two, deadline, b.waker()), HlsStore::Wait::kWaiting);
  EXPECT_EQ(store.wait("ann", two, deadline, c.waker()), HlsStore::Wait::kWaiting);
  EXPECT_EQ(store.wait("ann", two, deadline, d.waker()), HlsStore::Wait::kBusy);
  EXPECT_FALSE(w.ready);
  EXPECT_FALSE(d.ready);
  feed(40);
  EXPECT_EQ(a.ready, true);
  EXPECT_EQ(c.ready, true);
}

TEST(HlsStoreClients, OneAddressCannotTakeEveryPlaceAndAGoneClientGivesItsUp) {
  ManualClock clock{1'000'000};
  HlsStoreConfig config;
  config.max_waiters = 4;
  config.max_waiters_per_client = 2;
  HlsStore store{clock, config};
  for (int i = 0; i < 21; ++i) store.on_unit("ann", 7, unit(1'000'000 + i * 100, i % 20 == 0));
  auto deadline = clock.now_ms() + 6000;
  Until two{Until::Kind::kSegment, 7, 2, 0};
  auto gone = std::make_shared<std::atomic<bool>>(false);
  // The waker holds what the connection's reply would: dropping it lets the connection go.
  auto held = std::make_shared<int>(0);
  Woken a, b, c, d;
  EXPECT_EQ(store.wait("ann", two, deadline, [&a, held](bool ready) { a.waker()(ready); },
                       {"10.0.0.1", gone}),
            HlsStore::Wait::kWaiting);
  EXPECT_EQ(store.wait("ann", two, deadline, b.waker(), {"10.0.0.1", nullptr}),
            HlsStore::Wait::kWaiting);
  EXPECT_EQ(store.wait("ann", two, deadline, c.waker(), {"10.0.0.1", nullptr}),
            HlsStore::Wait::kBusy);
  EXPECT_EQ(store.wait("ann", two, deadline, c.waker(), {"10.0.0.2", nullptr}),
            HlsStore::Wait::kWaiting);
  EXPECT_EQ(held.use_count(), 2);

  // The first client resets its connection: its place is free before its deadline, its waker
  // is let go without being called.
  gone->store(true);
  store.tick();
  EXPECT_EQ(store.waiters("ann"), 2u);
  EXPECT_EQ(held.use_count(), 1);
  EXPECT_FALSE(a.ready);
  EXPECT_EQ(store.wait("ann", two, deadline, d.waker(), {"10.0.0.1", nullptr}),
            HlsStore::Wait::kWaiting);
  for (int i = 21; i < 61; ++i) store.on_unit("ann", 7, unit(1'000'000 + i * 100, i % 20 == 0));
  EXPECT_FALSE(a.ready);
  EXPECT_EQ(b.ready, true);
  EXPECT_EQ(c.ready, true);
  EXPECT_EQ(d.ready, true);
}

TEST_F(HlsStoreTest, EndedStreamEndsItsPlaylistAndStaysAWhile) {
  feed(30);
  Woken w;
  EXPECT_EQ(store.wait("ann", {Until::Kind::kPart, 7, 1, 3}, clock.now_ms() + 6000, w.waker()),
            HlsStore::Wait::kWaiting);
  store.end("ann");
  EXPECT_EQ(w.ready, true);  // the answer is the last playlist
  auto p = store.playlist("ann");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->ended);
  EXPECT_NE(p->text.find("hls/7/1.m4s\n#EXT-X-ENDLIST\n"), std::string::npos) << p->text;
  clock.advance_ms(59'999);
  store.tick();
  EXPECT_TRUE(store.playlist("ann"));
  clock.advance_ms(1);
  store.tick();
  EXPECT_FALSE(store.playlist("ann"));
  EXPECT_EQ(store.streams(), 0u);
}

TEST_F(HlsStoreTest, DroppedMediaGoesOnWithTheSessionsNumbering) {
  feed(45);  // segments 0 and 1 complete, 2 begun
  Woken w;
  EXPECT_EQ(store.wait("ann", {Until::Kind::kPart, 7, 2, 3}, clock.now_ms() + 6000, w.waker()),
            HlsStore::Wait::kWaiting);
  store.drop("ann");
  EXPECT_EQ(w.ready, false);
  EXPECT_FALSE(store.playlist("ann"));
  EXPECT_EQ(store.bytes(), 0u);
  t += 60'000;  // a consumer comes back: a fresh encoder, a keyframe first
  n = 0;
  feed(21);
  auto p = store.playlist("ann");
  ASSERT_TRUE(p);
  EXPECT_NE(p->text.find("#EXT-X-MEDIA-SEQUENCE:3\n"), std::string::npos) << p->text;
  EXPECT_NE(p->text.find("init-3.mp4"), std::string::npos);
  // A new session starts again from 0.
  feed(41, "ann", 8);  // from its first keyframe
  p = store.playlist("ann");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->session_id, 8);
  EXPECT_NE(p->text.find("#EXT-X-MEDIA-SEQUENCE:0\n"), std::string::npos) << p->text;
}

// A stream that moves to another node: the old home's store says where the session's numbering
// and timeline stand, and the new home's goes on from there, so a URI never means two things.
TEST_F(HlsStoreTest, ANewHomeGoesOnWithTheOldHomesNumbering) {
  feed(45);  // segments 0 and 1 complete, 2 begun
  auto c = store.continuation("ann", 7);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->next_msn, 3);
  EXPECT_EQ(c->origin_ms, t);
  EXPECT_FALSE(store.continuation("ann", 8)) << "another session's";
  EXPECT_FALSE(store.continuation("bob", 7));

  HlsStore home{clock, config()};
  home.continue_from("ann", 7, *c);
  t += 5'000;  // the first picture on the new home, a keyframe
  n = 0;
  for (int i = 0; i < 21; ++i, ++n) home.on_unit("ann", 7, unit(t + n * 100, n % 20 == 0));
  auto p = home.playlist("ann");
  ASSERT_TRUE(p);
  EXPECT_NE(p->text.find("#EXT-X-MEDIA-SEQUENCE:3\n"), std::string::npos) << p->text;
  EXPECT_NE(p->text.find("hls/7/3.m4s"), std::string::npos);
  EXPECT_EQ(p->text.find("hls/7/0.m4s"), std::string::npos);
  auto here = home.continuation("ann", 7);
  ASSERT_TRUE(here);
  EXPECT_EQ(here->origin_ms, c->origin_ms) << "the same timeline";
  // Moving back: past both numberings.
  store.continue_from("ann", 7, {2, c->origin_ms});
  EXPECT_EQ(store.continuation("ann", 7)->next_msn, 3);
}

}  // namespace
}  // namespace ds::live
