// Metering while the database is away: nothing charged twice or lost, nothing ended for it.
#include <gtest/gtest.h>

#include <memory>

#include "auth/auth_service.hpp"
#include "auth/crypto.hpp"
#include "domain/credits.hpp"
#include "live/stream_service.hpp"
#include "sqlite_lock.hpp"
#include "store/ledger.hpp"
#include "temp_database.hpp"

using namespace ds;
using ds::test::SqliteWriteLock;

namespace {

store::DatabaseTimeouts short_busy() {
  store::DatabaseTimeouts t;
  t.busy_ms = 10;
  return t;
}

struct StreamServiceOutageTest : ::testing::Test {
  ds::test::TempDatabase tmp{4, short_busy()};
  ManualClock clock;
  live::Hub hub{clock};
  live::StreamServiceConfig config;
  std::unique_ptr<live::StreamService> service;
  std::unique_ptr<SqliteWriteLock> lock;
  store::User user;
  std::int64_t first_frame_ms = 0;

  void SetUp() override {
    auth::init_crypto();
    config.grace_ms = 30'000;
    service = std::make_unique<live::StreamService>(tmp.db(), hub, clock, config);
    auth::AuthService auth(tmp.db(), clock);
    user = *auth.register_user("alice", "a@example.com", "long enough password", "", "192.0.2.1");
  }

  void database_down() { lock = std::make_unique<SqliteWriteLock>(tmp.path()); }
  void database_up() { lock.reset(); }

  long long balance() {
    return tmp.db().with(
        [&](soci::session& sql) { return store::find_user(sql, user.id)->balance_cents; });
  }
  long long distinct_minutes() {
    long long n = 0;
    tmp.db().with([&](soci::session& sql) {
      sql << "SELECT COUNT(DISTINCT minute_index) FROM credit_transactions "
             "WHERE user_id = :u AND kind = 'stream_usage'",
          soci::use(user.id), soci::into(n);
    });
    return n;
  }
  std::optional<store::StreamSession> last_session() {
    auto s = tmp.db().with(
        [&](soci::session& sql) { return store::list_stream_sessions(sql, user.id, 0, 1); });
    if (s.empty()) return std::nullopt;
    return s[0];
  }
  void start_streaming() {
    ASSERT_TRUE(service->start(user));
    first_frame_ms = clock.now_ms();
    hub.push_frame("alice", live::make_bytes("jpeg"));
    service->tick();
  }
  // Frames every `step_ms` for `seconds`, ticking after each as the server does.
  void stream_for(int seconds, int step_ms = 1000) {
    for (int t = 0; t < seconds * 1000; t += step_ms) {
      clock.advance_ms(step_ms);
      hub.push_frame("alice", live::make_bytes("jpeg"));
      service->tick();
    }
  }
  long long owed_minutes() { return domain::billable_minutes(first_frame_ms, clock.now_ms()); }
  bool ledger_verifies() {
    return tmp.db().with([](soci::session& sql) { return store::verify_ledger(sql); }).empty();
  }
};

}  // namespace

TEST_F(StreamServiceOutageTest, MinutesDueDuringAnOutageAreChargedOnceWhenItEnds) {
  start_streaming();
  EXPECT_EQ(balance(), 1180);
  database_down();
  stream_for(150, 5000);               // minutes 2, 3 and 4 start while the database is away
  EXPECT_TRUE(hub.snapshot("alice"));  // still live
  database_up();
  EXPECT_EQ(balance(), 1180);  // nothing charged yet
  service->tick();
  EXPECT_EQ(owed_minutes(), 3);
  EXPECT_EQ(balance(), 1200 - 3 * 20);
  stream_for(40, 5000);
  EXPECT_EQ(owed_minutes(), 4);
  EXPECT_EQ(balance(), 1200 - 4 * 20);
  EXPECT_EQ(distinct_minutes(), 4);
  auto s = service->stop(user.id);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->duration_minutes, 4);
  EXPECT_EQ(s->cost_cents, 80);
  EXPECT_TRUE(ledger_verifies());
}

TEST_F(StreamServiceOutageTest, StopDuringAnOutageEndsTheStreamAndBillsItWhenTheDatabaseReturns) {
  start_streaming();
  stream_for(70, 5000);
  database_down();
  stream_for(60, 5000);  // minute 3 starts while the database is away
  auto s = service->stop(user.id);
  ASSERT_TRUE(s);  // the stream ends now, for everyone
  EXPECT_EQ(s->status, "completed");
  EXPECT_FALSE(hub.snapshot("alice"));
  EXPECT_EQ(service->unsettled(), 1u);
  EXPECT_FALSE(last_session()->ended_ms);  // not yet closed in the database
  auto again = service->start(user);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(again.error().code, "database_unavailable");
  database_up();
  service->tick();
  EXPECT_EQ(service->unsettled(), 0u);
  auto row = last_session();
  EXPECT_EQ(row->status, "completed");
  EXPECT_GT(row->ended_ms, 0);
  EXPECT_EQ(row->duration_minutes, 3);
  EXPECT_EQ(row->cost_cents, 60);
  EXPECT_EQ(balance(), 1140);
  EXPECT_TRUE(ledger_verifies());
  EXPECT_TRUE(service->start(user));  // and the user can stream again
}

TEST_F(StreamServiceOutageTest, SilentStreamDuringAnOutageEndsAfterTheGraceAndIsBilledLater) {
  start_streaming();
  stream_for(50, 5000);
  database_down();
  stream_for(20, 5000);           // minute 2 starts during the outage
  for (int i = 0; i < 10; ++i) {  // 50 s of silence: past the 30 s grace
    clock.advance_ms(5000);
    service->tick();
  }
  EXPECT_FALSE(hub.snapshot("alice"));
  database_up();
  service->tick();
  auto row = last_session();
  EXPECT_EQ(row->status, "interrupted");
  EXPECT_EQ(row->duration_minutes, 2);
  EXPECT_EQ(balance(), 1160);
  EXPECT_TRUE(ledger_verifies());
}

TEST_F(StreamServiceOutageTest, AnOutageLongerThanTheBalanceEndsTheStreamAsOutOfCredits) {
  start_streaming();
  tmp.db().write([&](soci::session& sql) {
    store::append_entry(sql, user.id, store::kKindAdminAdjustment, 40 - 1180, {}, 0);
  });             // 40: two more minutes
  stream_for(5);  // a progress write picks up the new balance
  database_down();
  stream_for(100, 5000);
  EXPECT_TRUE(hub.snapshot("alice"));  // minute 2 paid for by the known balance
  stream_for(100, 5000);               // minute 4 is more than it holds
  EXPECT_FALSE(hub.snapshot("alice"));
  database_up();
  service->tick();
  auto row = last_session();
  EXPECT_EQ(row->status, "ended_no_credits");
  EXPECT_EQ(row->duration_minutes, 3);
  EXPECT_EQ(balance(), 0);
  EXPECT_TRUE(ledger_verifies());
}

TEST_F(StreamServiceOutageTest, StartDuringAnOutageIsDatabaseUnavailable) {
  database_down();
  auto r = service->start(user);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(r.error().code, "database_unavailable");
  auto e = service->ensure_started(user);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().kind, ErrorKind::kUnavailable);
  database_up();
  EXPECT_TRUE(service->start(user));
}

TEST_F(StreamServiceOutageTest, TickDuringAnOutageDoesNotThrow) {
  start_streaming();
  database_down();
  EXPECT_NO_THROW(stream_for(130, 10000));
}
