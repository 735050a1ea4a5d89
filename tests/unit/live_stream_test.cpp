// One LiveStream per open stream, in the hub's registry only: found by name, user and session
// while it is open, gone from every lookup once it ends or moves, and still whole for whoever
// holds it (an event being delivered, an ending being billed).
#include "live/live_stream.hpp"

#include <gtest/gtest.h>

#include <variant>

#include "auth/auth_service.hpp"
#include "auth/crypto.hpp"
#include "live/hub.hpp"
#include "live/stream_service.hpp"
#include "temp_database.hpp"
#include "test_support.hpp"

using namespace ds;

TEST(LiveStreamRegistry, FoundByNameUserAndSessionUntilItCloses) {
  ManualClock clock;
  live::Hub hub{clock};
  auto s = hub.open_stream(test::stream(7, "ann"));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->session_id, 7);
  EXPECT_EQ(hub.stream("ann"), s);
  EXPECT_EQ(hub.stream_of_user(7), s);
  EXPECT_EQ(hub.stream_of_session(7), s);
  ASSERT_EQ(hub.streams().size(), 1u);
  EXPECT_FALSE(hub.open_stream(test::stream(8, "ann"))) << "one open stream per name";
  hub.push_frame("ann", live::make_bytes("jpeg"));
  hub.close_stream("ann", live::EndReason::kStopped, "bye");
  EXPECT_FALSE(hub.stream("ann"));
  EXPECT_FALSE(hub.stream_of_user(7));
  EXPECT_FALSE(hub.stream_of_session(7));
  EXPECT_TRUE(hub.streams().empty());
  // Whoever still holds it reads what it was.
  EXPECT_EQ(s->username, "ann");
  EXPECT_EQ(s->media.frames_in, 1u);
}

TEST(LiveStreamRegistry, AStreamHandedOverLeavesTheRegistry) {
  ManualClock clock;
  live::Hub hub{clock};
  auto s = hub.open_stream(test::stream(7, "ann"));
  ASSERT_TRUE(hub.hand_over("ann"));
  EXPECT_FALSE(hub.stream_of_user(7));
  EXPECT_TRUE(hub.streams().empty());
  // It may come back (a move back to this node): a new object, found again.
  auto back = hub.open_stream(test::stream(7, "ann"));
  ASSERT_TRUE(back);
  EXPECT_NE(back, s);
  EXPECT_EQ(hub.stream_of_session(7), back);
}

// StreamService keeps no list of its own: the stream it bills is the hub's, with its meter, and
// the events carry that same object.
TEST(LiveStreamRegistry, StreamServiceBillsTheHubsStreamAndItsEventsCarryIt) {
  auth::init_crypto();
  test::TempDatabase tmp;
  ManualClock clock;
  live::Hub hub{clock};
  live::StreamService service(tmp.db(), hub, clock);
  std::vector<live::StreamEvent> events;
  service.subscribe([&](const live::StreamEvent& e) { events.push_back(e); });
  auth::AuthService auth(tmp.db(), clock);
  auto user =
      *auth.register_user("alice", "a@example.com", "long enough password", "", "192.0.2.1");

  auto started = service.start(user);
  ASSERT_TRUE(started);
  auto s = hub.stream_of_user(user.id);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->meter) << "opened by the service: it bills it";
  EXPECT_EQ(s->session_id, started->id);
  EXPECT_EQ(s->meter->balance_cents, 1200);
  hub.push_frame("alice", live::make_bytes("jpeg"));
  service.tick();
  EXPECT_EQ(s->meter->charged_minutes, 1) << "the first minute, on the hub's object";

  ASSERT_TRUE(service.stop(user.id));
  EXPECT_FALSE(hub.stream_of_user(user.id));
  ASSERT_EQ(events.size(), 2u);
  ASSERT_TRUE(std::holds_alternative<live::StreamOpened>(events[0]));
  ASSERT_TRUE(std::holds_alternative<live::StreamEnded>(events[1]));
  EXPECT_EQ(std::get<live::StreamOpened>(events[0]).stream, s);
  EXPECT_EQ(std::get<live::StreamEnded>(events[1]).stream, s);

  // A stream opened on the hub alone (no meter) is not the service's to bill or stop.
  ASSERT_TRUE(hub.open_stream(test::stream(user.id, "alice")));
  EXPECT_FALSE(service.stop(user.id));
  EXPECT_TRUE(hub.stream_of_user(user.id)) << "left alone";
}
