// Streaming at an hourly price that is not a whole number of cents a minute (issue 8, item 13):
// the stream service charges minute by minute so that an hour costs exactly the hourly price.
#include <gtest/gtest.h>

#include "auth/auth_service.hpp"
#include "auth/crypto.hpp"
#include "live/stream_service.hpp"
#include "store/ledger.hpp"
#include "temp_database.hpp"

using namespace ds;

namespace {

struct OddPriceBillingTest : ::testing::Test {
  ds::test::TempDatabase tmp;
  ManualClock clock;
  live::Hub hub{clock};
  std::unique_ptr<live::StreamService> service;
  store::User user;

  void start_with_price(std::int64_t cents_per_hour, std::int64_t balance_cents) {
    auth::init_crypto();
    live::StreamServiceConfig config;
    config.rate.cents_per_hour = cents_per_hour;
    config.min_start_cents = 1;
    service = std::make_unique<live::StreamService>(tmp.db(), hub, clock, config);
    auth::AuthConfig auth_config;
    auth_config.signup_bonus_cents = balance_cents;
    auth::AuthService auth(tmp.db(), clock, auth_config);
    user = *auth.register_user("alice", "a@example.com", "long enough password", "", "192.0.2.1");
  }
  long long balance() {
    return tmp.db().with(
        [&](soci::session& sql) { return store::find_user(sql, user.id)->balance_cents; });
  }
  void stream_for(int seconds) {
    for (int i = 0; i < seconds; ++i) {
      hub.push_frame("alice", live::make_bytes("jpeg"));
      service->tick();
      clock.advance_ms(1000);
    }
  }
};

}  // namespace

// 12.50 credits an hour: integer division charged 20 cents a minute, 12.00 an hour.
TEST_F(OddPriceBillingTest, AnHourAtTwelveFiftyCostsTwelveFifty) {
  start_with_price(1250, 5000);
  ASSERT_TRUE(service->start(user));
  stream_for(3600);
  auto s = service->stop(user.id);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->duration_minutes, 60);
  EXPECT_EQ(5000 - balance(), 1250);
  auto mismatches = tmp.db().with([](soci::session& sql) { return store::verify_ledger(sql); });
  EXPECT_TRUE(mismatches.empty());
}

// Under 60 cents an hour a minute was free; now the first minute costs a cent.
TEST_F(OddPriceBillingTest, ACheapPriceIsNeverFree) {
  start_with_price(30, 1000);
  ASSERT_TRUE(service->start(user));
  stream_for(5);
  EXPECT_EQ(balance(), 999);
}
