#include "live/stream_service.hpp"

#include <gtest/gtest.h>

#include "auth/auth_service.hpp"
#include "auth/crypto.hpp"
#include "fake_cluster.hpp"
#include "store/ledger.hpp"
#include "store/streams.hpp"
#include "temp_database.hpp"

using namespace ds;

namespace {

struct StreamServiceTest : ::testing::Test {
  ds::test::TempDatabase tmp;
  ManualClock clock;
  live::Hub hub{clock};
  live::StreamServiceConfig config;
  std::unique_ptr<live::StreamService> service;
  store::User user;

  void SetUp() override {
    auth::init_crypto();
    config.grace_ms = 30'000;
    service = std::make_unique<live::StreamService>(tmp.db(), hub, clock, config);
    auth::AuthService auth(tmp.db(), clock);
    user = *auth.register_user("alice", "a@example.com", "long enough password", "", "192.0.2.1");
  }

  long long balance() {
    return tmp.db().with(
        [&](soci::session& sql) { return store::find_user(sql, user.id)->balance_cents; });
  }
  void frame() { hub.push_frame("alice", live::make_bytes("jpeg")); }
  // Streams frames every second for `seconds`, ticking as the server does.
  void stream_for(int seconds) {
    for (int i = 0; i < seconds; ++i) {
      clock.advance_ms(1000);
      frame();
      service->tick();
    }
  }
  void set_balance(long long cents) {
    tmp.db().write([&](soci::session& sql) {
      store::append_entry(sql, user.id, store::kKindAdminAdjustment, cents - balance(), {}, 0);
    });
  }
};

}  // namespace

TEST_F(StreamServiceTest, FirstFrameChargesTheFirstMinute) {
  ASSERT_TRUE(service->start(user));
  service->tick();
  EXPECT_EQ(balance(), 1200);  // no frame yet: nothing owed
  frame();
  service->tick();
  EXPECT_EQ(balance(), 1180);
}

TEST_F(StreamServiceTest, SixtyFourSecondsCostTwoMinutes) {
  ASSERT_TRUE(service->start(user));
  frame();
  service->tick();
  stream_for(60);
  EXPECT_EQ(balance(), 1180);  // 60 s: still minute 1
  stream_for(4);
  EXPECT_EQ(balance(), 1160);
  auto s = service->stop(user.id);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->status, "completed");
  EXPECT_EQ(s->duration_minutes, 2);
  EXPECT_EQ(s->cost_cents, 40);
  auto mismatches = tmp.db().with([](soci::session& sql) { return store::verify_ledger(sql); });
  EXPECT_TRUE(mismatches.empty());
}

TEST_F(StreamServiceTest, StartNeedsOneCredit) {
  set_balance(99);
  auto r = service->start(user);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kPaymentRequired);
}

TEST_F(StreamServiceTest, SecondStartConflicts) {
  ASSERT_TRUE(service->start(user));
  auto r = service->start(user);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kConflict);
}

TEST_F(StreamServiceTest, StreamEndsWhenNextMinuteCannotBePaid) {
  set_balance(130);  // pays for 6 minutes (120), not a 7th
  ASSERT_TRUE(service->start(user));
  frame();
  service->tick();
  stream_for(6 * 60 + 5);
  EXPECT_FALSE(hub.snapshot("alice"));
  EXPECT_EQ(balance(), 10);
  auto s = tmp.db().with(
      [&](soci::session& sql) { return store::list_stream_sessions(sql, user.id, 0, 1); });
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].status, "ended_no_credits");
  EXPECT_EQ(s[0].duration_minutes, 6);
}

TEST_F(StreamServiceTest, SilentStreamerEndsInterruptedBilledOnlyWhileFramesArrived) {
  ASSERT_TRUE(service->start(user));
  frame();
  service->tick();
  stream_for(10);
  for (int i = 0; i < 100; ++i) {  // 100 s of silence, past the 30 s grace
    clock.advance_ms(1000);
    service->tick();
  }
  EXPECT_FALSE(hub.snapshot("alice"));
  EXPECT_EQ(balance(), 1180);
  auto s = tmp.db().with(
      [&](soci::session& sql) { return store::list_stream_sessions(sql, user.id, 0, 1); });
  EXPECT_EQ(s[0].status, "interrupted");
}

TEST_F(StreamServiceTest, RecoveryClosesStreamsLeftOpenAndBillsToLastFrame) {
  ASSERT_TRUE(service->start(user));
  frame();
  service->tick();
  stream_for(90);  // persisted progress includes the last frame
  // A crash: a new service over the same database, the old one never stopped.
  live::Hub hub2(clock);
  live::StreamService after(tmp.db(), hub2, clock, config);
  after.recover();
  auto s = tmp.db().with(
      [&](soci::session& sql) { return store::list_stream_sessions(sql, user.id, 0, 1); });
  EXPECT_EQ(s[0].status, "interrupted");
  EXPECT_EQ(s[0].duration_minutes, 2);
  EXPECT_EQ(balance(), 1160);
  auto mismatches = tmp.db().with([](soci::session& sql) { return store::verify_ledger(sql); });
  EXPECT_TRUE(mismatches.empty());
  EXPECT_TRUE(after.start(user));  // the user can stream again
}

// A release (a move) and its events: stream_events_test.cpp.

// ---- one owner per stream across nodes (issue 20, item 6) ------------------------------------

namespace {

// Two nodes over one database, each with its hub and stream service; their clusters know no
// homes at first (Redis lost the registry, or the old home did not answer).
struct TwoNodes : ::testing::Test {
  ds::test::TempDatabase tmp;
  ManualClock clock;
  ds::test::FakeCluster cluster_a, cluster_b;
  live::Hub hub_a{clock}, hub_b{clock};
  live::StreamServiceConfig config;
  std::unique_ptr<live::StreamService> a, b;
  store::User user;

  void SetUp() override {
    auth::init_crypto();
    cluster_a.id = "node-a";
    cluster_b.id = "node-b";
    hub_a.set_cluster(&cluster_a);
    hub_b.set_cluster(&cluster_b);
    a = std::make_unique<live::StreamService>(tmp.db(), hub_a, clock, config);
    b = std::make_unique<live::StreamService>(tmp.db(), hub_b, clock, config);
    a->set_cluster(&cluster_a);
    b->set_cluster(&cluster_b);
    auth::AuthService auth(tmp.db(), clock);
    user = *auth.register_user("alice", "a@example.com", "long enough password", "", "192.0.2.1");
  }
  long long balance() {
    return tmp.db().with(
        [&](soci::session& sql) { return store::find_user(sql, user.id)->balance_cents; });
  }
  store::StreamSession row(long long id) {
    return *tmp.db().with([&](soci::session& sql) { return store::find_stream_session(sql, id); });
  }
  long long usage_rows(long long id) {
    return tmp.db().with([&](soci::session& sql) { return store::usage_totals(sql, id).minutes; });
  }
  // Frames reach `feeding` every second; both nodes tick, as their billers do.
  void stream_for(int seconds, live::Hub* feeding) {
    for (int i = 0; i < seconds; ++i) {
      clock.advance_ms(1000);
      if (feeding) feeding->push_frame("alice", live::make_bytes("jpeg"));
      a->tick();
      b->tick();
    }
  }
  // Redis knows the home again: neither node takes the stream for an orphan.
  void registry_says(const std::string& node, long long session_id) {
    for (auto* c : {&cluster_a, &cluster_b}) {
      c->home_elsewhere("alice", session_id);
      c->registry["alice"].node = node;
    }
  }
};

}  // namespace

TEST_F(TwoNodes, AHomeThatLostTheStreamLetsGoAndNeverBillsOrEndsIt) {
  auto s = a->start(user);
  ASSERT_TRUE(s);
  stream_for(10, &hub_a);
  EXPECT_EQ(balance(), 1180);
  EXPECT_EQ(row(s->id).home_node, "node-a");
  // The ingest reconnects to node B, which nobody tells where the stream lives: it takes it.
  auto taken = b->take_home(user);
  ASSERT_TRUE(taken) << taken.error().message;
  registry_says("node-b", s->id);
  EXPECT_EQ(row(s->id).home_node, "node-b");
  EXPECT_EQ(row(s->id).home_epoch, 1);
  // Node A gets no frames now. Past its grace period it must not end the stream B streams, nor
  // bill it: it finds at its next save that the stream is no longer its own.
  stream_for(70, &hub_b);
  EXPECT_FALSE(hub_a.snapshot("alice")) << "node A let go";
  ASSERT_TRUE(hub_b.snapshot("alice"));
  EXPECT_EQ(row(s->id).ended_ms, 0) << "node A ended a stream node B streams";
  EXPECT_EQ(balance(), 1160);  // minute 2, charged once, by node B
  auto stopped = b->stop(user.id);
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped->status, "completed");
  EXPECT_EQ(usage_rows(s->id), 2);
  auto mismatches = tmp.db().with([](soci::session& sql) { return store::verify_ledger(sql); });
  EXPECT_TRUE(mismatches.empty());
}

TEST_F(TwoNodes, NoMinuteIsBilledToAStreamThatEnded) {
  auto s = a->start(user);
  ASSERT_TRUE(s);
  registry_says("node-a", s->id);
  stream_for(10, &hub_a);
  EXPECT_EQ(balance(), 1180);
  // Another node judged node A dead (out of touch with Redis) and ended the stream as an
  // orphan: it takes the stream, then ends it.
  tmp.db().write([&](soci::session& sql) {
    auto epoch = store::claim_stream_home(sql, s->id, "node-c");
    ASSERT_TRUE(epoch);
    store::end_stream_session(sql, s->id, "interrupted", clock.now_ms(), 1, 20, *epoch);
  });
  // Node A is back and its streamer still sends frames: minute 2 is never charged.
  stream_for(70, &hub_a);
  EXPECT_EQ(balance(), 1180);
  EXPECT_EQ(usage_rows(s->id), 1);
  EXPECT_FALSE(hub_a.snapshot("alice")) << "the stream ended on node A too";
  EXPECT_EQ(row(s->id).status, "interrupted");
}

TEST_F(TwoNodes, TwoNodesTakingAtOnceLeaveOneOwner) {
  auto s = a->start(user);
  ASSERT_TRUE(s);
  ASSERT_TRUE(b->take_home(user));
  // A third claim (another node, racing) wins the row: B is no longer the owner either.
  auto epoch = tmp.db().write(
      [&](soci::session& sql) { return store::claim_stream_home(sql, s->id, "node-c"); });
  ASSERT_TRUE(epoch);
  EXPECT_EQ(*epoch, 2);
  registry_says("node-c", s->id);
  stream_for(5, &hub_b);
  EXPECT_FALSE(hub_a.snapshot("alice"));
  EXPECT_FALSE(hub_b.snapshot("alice"));
  EXPECT_EQ(usage_rows(s->id), 0) << "nobody but the owner bills";
  EXPECT_EQ(row(s->id).ended_ms, 0);
}

namespace {

// The video side of a node as the hub sees it: where a session's HLS media stands here, and
// what it was told to go on from.
struct MediaTap : live::PictureTap {
  std::optional<live::MediaContinuation> here;
  std::vector<std::pair<long long, live::MediaContinuation>> continued;
  void picture(const live::ShownPicture&) override {}
  void stream_ended(const std::string&) override {}
  std::optional<live::MediaContinuation> media_continuation(const std::string&,
                                                            long long) override {
    return here;
  }
  void continue_media(const std::string&, long long session,
                      const live::MediaContinuation& c) override {
    continued.emplace_back(session, c);
  }
};

}  // namespace

// A stream that moves takes its HLS numbering and timeline along, so media numbers only rise
// across homes (a cache in front never holds two answers for one URI): the old home says where
// its media stands in its release answer, and the new home goes on from there. When the old
// home does not answer, the numbers start past any it can have used.
TEST_F(TwoNodes, AMoveTakesTheHlsNumberingAlong) {
  MediaTap tap_a, tap_b;
  hub_a.set_picture_tap(&tap_a);
  hub_b.set_picture_tap(&tap_b);
  tap_a.here = live::MediaContinuation{42, 1234};
  auto s = a->start(user);
  ASSERT_TRUE(s);
  registry_says("node-a", s->id);
  cluster_b.on_call = [&](const std::string&, const live::Call& call) -> std::optional<live::Call> {
    auto r = a->release(call.header.value("session_id", 0LL));
    return live::Call{r ? *r : nlohmann::json{{"ok", false}}, {}};
  };
  ASSERT_TRUE(b->take_home(user));
  ASSERT_EQ(tap_b.continued.size(), 1u);
  EXPECT_EQ(tap_b.continued[0].first, s->id);
  EXPECT_EQ(tap_b.continued[0].second.next_msn, 42);
  EXPECT_EQ(tap_b.continued[0].second.origin_ms, 1234);

  // Back to node A, which knows no home to ask (Redis lost the registry): it numbers from the
  // session's age.
  cluster_a.registry.clear();
  clock.advance_ms(100'000);
  ASSERT_TRUE(a->take_home(user));
  ASSERT_EQ(tap_a.continued.size(), 1u);
  EXPECT_GE(tap_a.continued[0].second.next_msn, 100'000 / 1000) << "past 1 s segments";
  EXPECT_EQ(tap_a.continued[0].second.origin_ms, row(s->id).created_ms);
}
