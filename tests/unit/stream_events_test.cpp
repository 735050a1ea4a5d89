// StreamService's lifecycle events (Opened, Ended, Moving) and its locks: the order subscribers
// see, a move that never reads as an end, and that one stream's slow subscriber or a slow
// Redis question never holds up another streamer's connect.
#include "live/stream_events.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>
#include <variant>

#include "auth/auth_service.hpp"
#include "auth/crypto.hpp"
#include "fake_cluster.hpp"
#include "live/stream_service.hpp"
#include "store/users.hpp"
#include "temp_database.hpp"

using namespace ds;

namespace {

// Long enough for any machine to finish a start that is not blocked; only a failing test waits
// it out (a passing one goes on the moment the start returns).
constexpr auto kNotBlocked = std::chrono::seconds(20);

std::string describe(const live::StreamEvent& e) {
  return std::visit(
      [](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, live::StreamOpened>) {
          return "opened " + v.username + (v.moved_in ? " moved_in" : "");
        } else if constexpr (std::is_same_v<T, live::StreamEnded>) {
          return "ended " + v.username + " " + std::string(live::to_string(v.reason));
        } else {
          return "moving " + v.username;
        }
      },
      e);
}

struct Recorder {
  std::mutex mutex;
  std::vector<live::StreamEvent> events;
  void operator()(const live::StreamEvent& e) {
    std::lock_guard lock(mutex);
    events.push_back(e);
  }
  std::vector<std::string> seen() {
    std::lock_guard lock(mutex);
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(describe(e));
    return out;
  }
};

struct StreamEventsTest : ::testing::Test {
  ds::test::TempDatabase tmp;
  ManualClock clock;
  live::Hub hub{clock};
  live::StreamServiceConfig config;
  std::unique_ptr<live::StreamService> service;
  std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
  store::User alice, bob;

  void SetUp() override {
    auth::init_crypto();
    service = std::make_unique<live::StreamService>(tmp.db(), hub, clock, config);
    service->subscribe([r = recorder](const live::StreamEvent& e) { (*r)(e); });
    auth::AuthService auth(tmp.db(), clock);
    alice = *auth.register_user("alice", "a@example.com", "long enough password", "", "192.0.2.1");
    bob = *auth.register_user("bob", "b@example.com", "long enough password", "", "192.0.2.2");
  }
};

}  // namespace

TEST_F(StreamEventsTest, OpenedComesBeforeEndedWithItsSessionAndReason) {
  auto s = service->start(alice);
  ASSERT_TRUE(s);
  ASSERT_EQ(recorder->seen(), std::vector<std::string>{"opened alice"});
  auto opened = std::get<live::StreamOpened>(recorder->events[0]);
  EXPECT_EQ(opened.user_id, alice.id);
  EXPECT_EQ(opened.session_id, s->id);
  ASSERT_TRUE(service->stop(alice.id));
  EXPECT_EQ(recorder->seen(), (std::vector<std::string>{"opened alice", "ended alice stopped"}));
  EXPECT_EQ(std::get<live::StreamEnded>(recorder->events[1]).session_id, s->id);
  // Nothing more for a stop of no stream.
  EXPECT_FALSE(service->stop(alice.id));
  EXPECT_EQ(recorder->events.size(), 2u);
}

TEST_F(StreamEventsTest, TheTickEndsASilentStreamWithItsReason) {
  ASSERT_TRUE(service->start(alice));
  hub.push_frame("alice", live::make_bytes("jpeg"));
  clock.advance_ms(config.grace_ms + 1);
  service->tick();
  EXPECT_EQ(recorder->seen(),
            (std::vector<std::string>{"opened alice", "ended alice interrupted"}));
  ASSERT_TRUE(service->start(alice));
  service->shutdown();
  EXPECT_EQ(recorder->seen().back(), "ended alice server_shutdown");
}

TEST_F(StreamEventsTest, AReleaseIsAMoveNeverAnEnd) {
  auto s = service->start(alice);
  ASSERT_TRUE(s);
  hub.push_frame("alice", live::make_bytes("jpeg"));
  bool in_hub_at_moving = true;
  service->subscribe([&](const live::StreamEvent& e) {
    if (std::holds_alternative<live::StreamMoving>(e)) {
      in_hub_at_moving = hub.snapshot("alice").has_value();
    }
  });
  auto reply = service->release(s->id);
  ASSERT_TRUE(reply);
  EXPECT_TRUE((*reply)["ok"].get<bool>());
  EXPECT_EQ(recorder->seen(), (std::vector<std::string>{"opened alice", "moving alice"}));
  EXPECT_FALSE(in_hub_at_moving) << "Moving comes after the hub handed the stream over";
  EXPECT_FALSE(hub.snapshot("alice"));
  EXPECT_FALSE(service->stop(alice.id)) << "no longer ours";
  EXPECT_EQ(recorder->seen().size(), 2u) << "a move is not an end";
  EXPECT_FALSE(service->release(s->id)) << "released once";
}

// The subscriber runs with no lock of the service held: it may call back into it, and another
// streamer's connect goes on while one stream's subscriber is slow.
TEST_F(StreamEventsTest, ASlowSubscriberOfOneStreamDoesNotHoldUpAnotherStreamersConnect) {
  ASSERT_TRUE(service->start(alice));
  std::promise<void> entered, release;
  auto released = release.get_future().share();
  service->subscribe([&, released](const live::StreamEvent& e) {
    if (std::holds_alternative<live::StreamEnded>(e) && live::username_of(e) == "alice") {
      entered.set_value();
      released.wait();
    }
  });
  auto stopping = std::async(std::launch::async, [&] { return service->stop(alice.id); });
  entered.get_future().wait();  // alice's Ended is being delivered, and blocks

  auto connect = std::async(std::launch::async, [&] { return service->ensure_started(bob); });
  auto connected = connect.wait_for(kNotBlocked) == std::future_status::ready;
  release.set_value();
  EXPECT_TRUE(connected) << "bob's connect waited for alice's subscriber";
  EXPECT_TRUE(connect.get());
  EXPECT_TRUE(stopping.get());
  // The recorder (subscribed first) had alice's Ended before the slow subscriber blocked.
  EXPECT_EQ(recorder->seen(),
            (std::vector<std::string>{"opened alice", "ended alice stopped", "opened bob"}));
}

TEST_F(StreamEventsTest, ASubscriberMayCallBackIntoTheService) {
  std::vector<bool> stops;
  service->subscribe([&](const live::StreamEvent& e) {
    // Stops the stream as soon as it opens (its own line: delivered after this returns).
    if (std::holds_alternative<live::StreamOpened>(e))
      stops.push_back(bool(service->stop(alice.id)));
  });
  ASSERT_TRUE(service->start(alice));
  EXPECT_EQ(stops, std::vector<bool>{true});
  EXPECT_EQ(recorder->seen(), (std::vector<std::string>{"opened alice", "ended alice stopped"}));
}

TEST_F(StreamEventsTest, ASubscriberRunsWithNoStreamLockHeld) {
  // Taking another streamer's lock from a subscriber would throw (the lock-order check) if the
  // subscriber ran under alice's lock.
  std::vector<bool> started;
  service->subscribe([&](const live::StreamEvent& e) {
    if (live::username_of(e) == "alice" && std::holds_alternative<live::StreamEnded>(e)) {
      started.push_back(bool(service->start(bob)));
    }
  });
  ASSERT_TRUE(service->start(alice));
  ASSERT_TRUE(service->stop(alice.id));
  EXPECT_EQ(started, std::vector<bool>{true});
}

namespace {

// A cluster whose Redis answers the orphan question only when the test lets it.
struct SlowRedis : ds::test::FakeCluster {
  std::promise<void> asked;
  std::shared_future<void> answer;
  std::vector<live::AnnouncedStream> orphans() override {
    asked.set_value();
    answer.wait();
    return {};
  }
};

}  // namespace

TEST_F(StreamEventsTest, ASlowRedisQuestionOfTheTickDoesNotHoldUpAConnect) {
  SlowRedis redis;
  std::promise<void> let_answer;
  redis.answer = let_answer.get_future().share();
  service->set_cluster(&redis);
  ASSERT_TRUE(service->start(alice));
  auto ticking = std::async(std::launch::async, [&] { service->tick(); });
  redis.asked.get_future().wait();  // the tick waits on Redis in its orphan sweep

  auto connect = std::async(std::launch::async, [&] { return service->ensure_started(bob); });
  auto connected = connect.wait_for(kNotBlocked) == std::future_status::ready;
  let_answer.set_value();
  EXPECT_TRUE(connected) << "bob's connect waited for the tick's Redis question";
  EXPECT_TRUE(connect.get());
  ticking.get();
}

// ---- many nodes: the new home opens what the old one let go of ------------------------------

TEST(StreamEventsTwoNodes, TheOldHomeSeesMovingAndTheNewHomeOpenedMovedIn) {
  ds::test::TempDatabase tmp;
  ManualClock clock;
  auth::init_crypto();
  ds::test::FakeCluster cluster_a, cluster_b;
  cluster_a.id = "node-a";
  cluster_b.id = "node-b";
  live::Hub hub_a{clock}, hub_b{clock};
  hub_a.set_cluster(&cluster_a);
  hub_b.set_cluster(&cluster_b);
  live::StreamService a(tmp.db(), hub_a, clock), b(tmp.db(), hub_b, clock);
  a.set_cluster(&cluster_a);
  b.set_cluster(&cluster_b);
  auto on_a = std::make_shared<Recorder>(), on_b = std::make_shared<Recorder>();
  a.subscribe([on_a](const live::StreamEvent& e) { (*on_a)(e); });
  b.subscribe([on_b](const live::StreamEvent& e) { (*on_b)(e); });
  auth::AuthService auth(tmp.db(), clock);
  auto user =
      *auth.register_user("alice", "a@example.com", "long enough password", "", "192.0.2.1");

  auto s = a.start(user);
  ASSERT_TRUE(s);
  // Node B's registry says node A is the home; its call reaches node A's release.
  cluster_b.home_elsewhere("alice", s->id);
  cluster_b.registry["alice"].node = "node-a";
  std::vector<std::string> on_a_at_reply;
  cluster_b.on_call = [&](const std::string& node,
                          const live::Call& call) -> std::optional<live::Call> {
    EXPECT_EQ(node, "node-a");
    auto r = a.release(call.header.value("session_id", 0LL));
    on_a_at_reply = on_a->seen();
    return live::Call{r ? *r : nlohmann::json{{"ok", false}}, {}};
  };
  auto taken = b.ensure_started(user);
  ASSERT_TRUE(taken) << taken.error().message;
  EXPECT_EQ(taken->id, s->id);
  EXPECT_EQ(on_a_at_reply, (std::vector<std::string>{"opened alice", "moving alice"}))
      << "the old home's subscribers let go before it answers";
  EXPECT_EQ(on_b->seen(), std::vector<std::string>{"opened alice moved_in"});
  EXPECT_EQ(std::get<live::StreamOpened>(on_b->events[0]).session_id, s->id);
  ASSERT_TRUE(b.stop(user.id));
  EXPECT_EQ(on_a->seen(), (std::vector<std::string>{"opened alice", "moving alice"}));
  EXPECT_EQ(on_b->seen(),
            (std::vector<std::string>{"opened alice moved_in", "ended alice stopped"}));
}

// ---- StreamEvents on its own ---------------------------------------------------------------

TEST(StreamEventsLine, OneStreamsEventsInOrderOthersIndependent) {
  live::StreamEvents events;
  std::vector<std::string> seen;
  events.subscribe([&](const live::StreamEvent& e) { seen.push_back(describe(e)); });
  auto t1 = events.post(1, live::StreamOpened{"a", 1, 10, false});
  auto t2 = events.post(2, live::StreamOpened{"b", 2, 20, false});
  auto t3 = events.post(1, live::StreamEnded{"a", 1, 10, live::EndReason::kStopped});
  events.deliver(1, t1);  // delivers a's line only, through t3
  EXPECT_EQ(seen, (std::vector<std::string>{"opened a", "ended a stopped"}));
  events.deliver(1, t3);  // already delivered
  events.deliver(2, t2);
  EXPECT_EQ(seen, (std::vector<std::string>{"opened a", "ended a stopped", "opened b"}));
}
